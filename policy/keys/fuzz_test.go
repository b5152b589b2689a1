package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// FuzzVerify checks that Verify never panics, refuses with ErrBadSignature,
// and accepts only what the key signed: ed25519 signatures are
// deterministic, so whatever verifies must carry the very blob the key
// makes for that namespace and message.
func FuzzVerify(f *testing.F) {
	s, other := seededEd25519(f, 1), seededEd25519(f, 2)
	message := []byte("approve withdrawal w-1a2b")
	for _, ns := range namespaces {
		sig := sign(f, s, ns, message)
		f.Add(message, sig)
		f.Add([]byte("approve withdrawal w-1a2c"), sig)
		f.Add(message, sig[:len(sig)/2])
		f.Add(message, sign(f, other, ns, message))
		f.Add(message, handSignAs(f, s.key, ns, NamespacePolicy, message))
	}
	f.Add(message, []byte("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, message, armored []byte) {
		verified := 0
		for _, ns := range namespaces {
			err := Verify(s.pub, ns, message, armored)
			if err != nil {
				if !errors.Is(err, ErrBadSignature) {
					t.Fatalf("Verify returned %v, not %v", err, ErrBadSignature)
				}
				continue
			}
			verified++
			want := sign(t, s, ns, message)
			if got := pemBody(t, armored); !bytes.Equal(got, pemBody(t, want)) {
				t.Fatalf("Verify accepted for %s a signature that the key did not make:\n%s\nit makes\n%s", ns, armored, want)
			}
		}
		if verified > 1 {
			t.Fatalf("one signature verified for %d namespaces", verified)
		}
	})
}

// FuzzParsePublicKey checks that ParsePublicKey never panics, refuses with
// ErrBadPublicKey, and accepts one spelling of each key: whatever parses
// is written back by String with the same base64, and parses again to the
// same key.
func FuzzParsePublicKey(f *testing.F) {
	ed := seededEd25519(f, 1).key.PublicKey()
	ec, err := ssh.ParsePublicKey(mustBase64(f, "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDiGLlhdL/8PF1azi1Gt9JzIS8Il3bH+GqMPPJH6Z3wP2Z/l4a/Z0Yfe3rTVdfyqr9VRPzp/2B/tPeCIZWrchC0="))
	if err != nil {
		f.Fatal(err)
	}
	point, err := ec.(ssh.CryptoPublicKey).CryptoPublicKey().(*ecdsa.PublicKey).Bytes()
	if err != nil {
		f.Fatal(err)
	}
	skEd, err := ssh.ParsePublicKey(ssh.Marshal(struct {
		Type        string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKED25519, ed.(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey), skApplication}))
	if err != nil {
		f.Fatal(err)
	}
	skEC, err := ssh.ParsePublicKey(ssh.Marshal(struct {
		Type, Curve string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKECDSA256, "nistp256", point, skApplication}))
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range []ssh.PublicKey{ed, ec, skEd, skEC} {
		line := authorizedKey(k)
		f.Add(line)
		f.Add(line + " officer@example.com\n")
		f.Add("restrict " + line)
		f.Add(line + "\n" + line)
	}
	f.Add(rsaLine)
	f.Add("")
	f.Add("# comment")
	f.Fuzz(func(t *testing.T, line string) {
		k, err := ParsePublicKey(line)
		if err != nil {
			if !errors.Is(err, ErrBadPublicKey) {
				t.Fatalf("ParsePublicKey returned %v, not %v", err, ErrBadPublicKey)
			}
			return
		}
		if !slices.Contains(acceptedTypes, k.Type()) || !strings.HasPrefix(k.Fingerprint(), "SHA256:") {
			t.Fatalf("parsed a key of type %q, fingerprint %q", k.Type(), k.Fingerprint())
		}
		written := k.String()
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
		if want := fields[0] + " " + fields[1]; written != want {
			t.Fatalf("ParsePublicKey(%q).String() = %q, want %q", line, written, want)
		}
		again, err := ParsePublicKey(written)
		if err != nil || again != k || again.String() != written {
			t.Fatalf("ParsePublicKey(%q) = %v, %v; want %v", written, again, err, k)
		}
		data, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back PublicKey
		if err := json.Unmarshal(data, &back); err != nil || back != k {
			t.Fatalf("JSON round trip of %s gave %v, %v", data, back, err)
		}
	})
}
