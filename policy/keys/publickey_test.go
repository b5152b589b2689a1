package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// rsaLine is an RSA public key (1024 bits, from hiddeco/sshsig's tests).
const rsaLine = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC2oRH9ISFaddVieKOprPN/wuQDhuNKsI1RRKDyefQf1H9/uNvRq7vptr9qnhGabPErPOmQjV5SsRw8br+Dw39VgURTqmzMc/aWGMVxsXdjbM0Wb3KBppO3HrURjtG2vtb1KSq0TjJ6jRaeeVzWxX0lVwpOd0hFK5CiAwrJd4X20Q== sshsig@example.com"

// authorizedKey returns k's authorized_keys line, without comment or
// newline, as x/crypto writes it.
func authorizedKey(k ssh.PublicKey) string {
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(k)), "\n")
}

func TestParsePublicKeyAccepts(t *testing.T) {
	for name, key := range map[string]ssh.PublicKey{
		"ed25519":    newEd25519(t).key.PublicKey(),
		"ecdsa":      newECDSA(t).key.PublicKey(),
		"sk-ed25519": newSKEd25519(t).pub,
		"sk-ecdsa":   newSKECDSA(t).pub,
	} {
		line := authorizedKey(key)
		for _, variant := range []string{
			line,
			line + " officer@example.com",
			line + " two words\n",
			line + "\r\n",
			"  " + line + "\t comment ",
		} {
			t.Run(name+"/"+variant, func(t *testing.T) {
				k, err := ParsePublicKey(variant)
				if err != nil {
					t.Fatal(err)
				}
				if k.String() != line {
					t.Errorf("String() = %q, want %q", k.String(), line)
				}
				if k.Type() != key.Type() {
					t.Errorf("Type() = %q, want %q", k.Type(), key.Type())
				}
				sum := sha256.Sum256(key.Marshal())
				if want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]); k.Fingerprint() != want {
					t.Errorf("Fingerprint() = %q, want %q", k.Fingerprint(), want)
				}
				if k.IsZero() {
					t.Error("IsZero() = true")
				}
			})
		}
	}
}

func TestParsePublicKeyRefuses(t *testing.T) {
	ed := authorizedKey(newEd25519(t).key.PublicKey())
	ecdsaKey := authorizedKey(newECDSA(t).key.PublicKey())
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384Key, err := ssh.NewPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := newEd25519(t)
	cert := &ssh.Certificate{Key: newEd25519(t).key.PublicKey(), CertType: ssh.UserCert, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca.key); err != nil {
		t.Fatal(err)
	}
	edType, edBase64, _ := strings.Cut(ed, " ")
	// An ECDSA P-256 key is 104 bytes: its base64 ends in one "=", after
	// a character whose two low bits are not part of the key.
	ecType, ecBase64, _ := strings.Cut(ecdsaKey, " ")
	last := strings.Index(base64Alphabet, ecBase64[len(ecBase64)-2:len(ecBase64)-1])
	nonCanonical := ecBase64[:len(ecBase64)-2] + string(base64Alphabet[last^1]) + "="

	for _, tc := range []struct {
		name, line, want string
	}{
		{"empty", "", "empty"},
		{"blank", " \t\n", "empty"},
		{"rsa", rsaLine, "ssh-rsa keys are not accepted"},
		{"dsa", "ssh-dss AAAAB3NzaC1kc3MAAACBAP== x", "ssh-dss keys are not accepted"},
		{"p384", authorizedKey(p384Key), "ecdsa-sha2-nistp384 keys are not accepted"},
		{"certificate", authorizedKey(cert), "certificates"},
		{"option", "restrict " + ed, "options are not accepted"},
		{"quoted option", `from="10.0.0.1" ` + ed, "options are not accepted"},
		{"two lines", ed + "\n" + ed, "more than one line"},
		{"comment line first", "# officer\n" + ed, "more than one line"},
		{"comment line", "# " + ed, "comment line"},
		{"type only", edType, "no key after"},
		{"type mismatch", ecType + " " + edBase64, "line names type ecdsa-sha2-nistp256, but the key is"},
		{"not base64", edType + " AAAA!AAA", "not base64"},
		{"unpadded", ecType + " " + strings.TrimSuffix(ecBase64, "="), "not base64"},
		{"non-canonical base64", ecType + " " + nonCanonical, "not base64"},
		{"truncated key", edType + " " + base64.StdEncoding.EncodeToString(newEd25519(t).key.PublicKey().Marshal()[:40]), "malformed"},
		{"too long", ed + " " + strings.Repeat("x", MaxPublicKeySize), "more than"},
		{"NUL in type", "ssh-ed25519\x00 " + edBase64, "not a key type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParsePublicKey(tc.line)
			if !errors.Is(err, ErrBadPublicKey) {
				t.Fatalf("ParsePublicKey(%q) = %v, %v; want %v", tc.line, k, err, ErrBadPublicKey)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func TestPublicKeyEquality(t *testing.T) {
	a, b := newEd25519(t).pub, newEd25519(t).pub
	again, err := ParsePublicKey(a.String() + " same key, other comment")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(again) || a != again {
		t.Error("a key is not equal to itself parsed again")
	}
	if a.Equal(b) || a == b {
		t.Error("two keys are equal")
	}
	if a.Equal(PublicKey{}) {
		t.Error("a key equals the zero key")
	}
	seen := map[PublicKey]bool{a: true}
	if !seen[again] || seen[b] {
		t.Error("PublicKey does not work as a map key")
	}
	var zero PublicKey
	if !zero.IsZero() || zero.String() != "" || zero.Type() != "" || zero.Fingerprint() != "" {
		t.Errorf("zero key: IsZero %v, String %q, Type %q, Fingerprint %q", zero.IsZero(), zero, zero.Type(), zero.Fingerprint())
	}
}

func TestPublicKeyJSON(t *testing.T) {
	type bundle struct {
		Key PublicKey `json:"key"`
	}
	k := newSKEd25519(t)
	pub, err := fromSSH(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(bundle{pub})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"key":"` + authorizedKey(k.pub) + `"}`; string(data) != want {
		t.Errorf("json.Marshal = %s, want %s", data, want)
	}
	var back bundle
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Key != pub {
		t.Errorf("round trip gave %v, want %v", back.Key, pub)
	}

	withComment := `{"key":"` + authorizedKey(k.pub) + ` officer@example.com"}`
	if err := json.Unmarshal([]byte(withComment), &back); err != nil || back.Key != pub {
		t.Errorf("json.Unmarshal(%s) = %v, %v; want %v", withComment, back.Key, err, pub)
	}
	for _, bad := range []string{`{"key":""}`, `{"key":"` + rsaLine + `"}`, `{"key":42}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("json.Unmarshal(%s) succeeded", bad)
		}
	}
	if _, err := json.Marshal(bundle{}); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("json.Marshal of the zero key: %v, want %v", err, ErrBadPublicKey)
	}
}
