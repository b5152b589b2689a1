package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

var namespaces = []string{NamespacePolicy, NamespaceApproval, NamespaceIntent}

func TestSignVerifyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	edPath := filepath.Join(dir, "ed25519")
	if _, err := GenerateKeyFile(edPath, "officer@example.com"); err != nil {
		t.Fatal(err)
	}
	edFile, err := LoadKeyFile(edPath)
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]Signer{
		"ed25519 key file": edFile,
		"ecdsa key file":   loadECDSAFile(t, filepath.Join(dir, "ecdsa")),
		"ed25519 memory":   newEd25519(t),
		"ecdsa memory":     newECDSA(t),
		"sk-ed25519":       newSKEd25519(t).signer(t),
		"sk-ecdsa":         newSKECDSA(t).signer(t),
	}
	message := []byte("withdraw 1.5 BTC to bc1q...\n")
	for name, s := range signers {
		for _, ns := range namespaces {
			t.Run(name+"/"+ns, func(t *testing.T) {
				sig := sign(t, s, ns, message)
				if !bytes.HasPrefix(sig, []byte("-----BEGIN SSH SIGNATURE-----\n")) {
					t.Errorf("signature is not armored:\n%s", sig)
				}
				if err := Verify(s.PublicKey(), ns, message, sig); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				for _, other := range namespaces {
					if other != ns {
						wantBad(t, Verify(s.PublicKey(), other, message, sig), errWrongNS)
					}
				}
			})
		}
	}
}

// loadECDSAFile writes a new ECDSA P-256 key file at path and loads it.
func loadECDSAFile(t *testing.T, path string) Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeKeyFile(t, path, priv, 0o600)
	s, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSignFormat checks a signature byte for byte against one built by
// hand from PROTOCOL.sshsig: ed25519 signatures are deterministic.
func TestSignFormat(t *testing.T) {
	s := seededEd25519(t, 1)
	message := []byte("policy bundle v7")
	got, err := s.Sign(NamespacePolicy, message)
	if err != nil {
		t.Fatal(err)
	}
	if want := handSign(t, s.key, NamespacePolicy, message); !bytes.Equal(got, want) {
		t.Errorf("Sign =\n%s\nwant\n%s", got, want)
	}
}

func TestVerifyRefuses(t *testing.T) {
	s, other := newEd25519(t), newEd25519(t)
	message := []byte("approve withdrawal w-1a2b")
	sig := sign(t, s, NamespaceApproval, message)
	if err := Verify(s.pub, NamespaceApproval, message, sig); err != nil {
		t.Fatalf("the untouched signature does not verify: %v", err)
	}
	body := pemBody(t, sig)
	b64 := string(bytes.Join(bytes.Split(sig, []byte("\n"))[1:], nil))
	b64 = b64[:strings.Index(b64, "-")]

	for _, tc := range []struct {
		name    string
		pub     PublicKey
		message []byte
		sig     []byte
		reason  error
	}{
		{name: "tampered message", message: []byte("approve withdrawal w-1a2c"), reason: errDoesNotCheck},
		{name: "empty message", message: []byte{}, reason: errDoesNotCheck},
		{name: "other key", pub: other.pub, reason: errWrongKey},
		{name: "other key's signature", sig: sign(t, other, NamespaceApproval, message), reason: errWrongKey},
		{name: "embedded key swapped", sig: edit(t, sign(t, other, NamespaceApproval, message), func(sig *sshsig.Signature) {
			sig.PublicKey = s.key.PublicKey()
		}), reason: errDoesNotCheck},
		{name: "namespace field rewritten", sig: edit(t, sign(t, s, NamespaceIntent, message), func(sig *sshsig.Signature) {
			sig.Namespace = NamespaceApproval
		}), reason: errDoesNotCheck},
		{name: "signature bit flipped", sig: edit(t, sig, func(sig *sshsig.Signature) {
			sig.Signature.Blob[10] ^= 0x01
		}), reason: errDoesNotCheck},
		{name: "signature of other format", sig: edit(t, sig, func(sig *sshsig.Signature) {
			sig.Signature.Format = ssh.KeyAlgoSKED25519
		}), reason: errDoesNotCheck},
		{name: "data after signature", sig: edit(t, sig, func(sig *sshsig.Signature) {
			sig.Signature.Rest = []byte{1, 0, 0, 0, 1}
		}), reason: errMalformed},
		{name: "sha256", sig: sha256Signature(t, s, NamespaceApproval, message), reason: errMalformed},
		{name: "version 2", sig: armor(bytes.Replace(body, []byte{0, 0, 0, 1}, []byte{0, 0, 0, 2}, 1)), reason: errMalformed},
		{name: "data after blob", sig: armor(append(body, 0)), reason: errMalformed},
		{name: "blob cut", sig: armor(body[:len(body)-1]), reason: errMalformed},
		{name: "armor cut", sig: sig[:len(sig)/2], reason: errMalformed},
		{name: "no end line", sig: bytes.TrimSuffix(sig, []byte("-----END SSH SIGNATURE-----\n")), reason: errMalformed},
		{name: "garbled base64", sig: bytes.Replace(sig, []byte(b64[20:24]), []byte("!!!!"), 1), reason: errMalformed},
		{name: "bare base64", sig: []byte(b64), reason: errMalformed},
		{name: "data before armor", sig: append([]byte("hello\n"), sig...), reason: errMalformed},
		{name: "data after armor", sig: append(bytes.Clone(sig), "hello\n"...), reason: errMalformed},
		{name: "second armor", sig: append(bytes.Clone(sig), sig...), reason: errMalformed},
		{name: "pem headers", sig: pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Headers: map[string]string{"Comment": "x"}, Bytes: body}), reason: errMalformed},
		{name: "other pem type", sig: pem.EncodeToMemory(&pem.Block{Type: "SIGNATURE", Bytes: body}), reason: errMalformed},
		{name: "too long", sig: append(bytes.Clone(sig), bytes.Repeat([]byte(" "), MaxSignatureSize)...), reason: errMalformed},
		{name: "empty", sig: []byte{}, reason: errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, msg, sig := s.pub, message, sig
			if !tc.pub.IsZero() {
				pub = tc.pub
			}
			if tc.message != nil {
				msg = tc.message
			}
			if tc.sig != nil {
				sig = tc.sig
			}
			wantBad(t, Verify(pub, NamespaceApproval, msg, sig), tc.reason)
		})
	}
}

func TestVerifyArmorVariants(t *testing.T) {
	s := newECDSA(t)
	message := []byte("intent")
	sig := sign(t, s, NamespaceIntent, message)
	rewrapped := armorAt(pemBody(t, sig), 70) // as ssh-keygen wraps
	for name, variant := range map[string][]byte{
		"as made":             sig,
		"no final newline":    bytes.TrimSuffix(sig, []byte("\n")),
		"CRLF":                bytes.ReplaceAll(sig, []byte("\n"), []byte("\r\n")),
		"surrounding space":   append(append([]byte(" \n\t"), sig...), "\n\n"...),
		"ssh-keygen wrapping": rewrapped,
	} {
		if err := Verify(s.pub, NamespaceIntent, message, variant); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCallerMistakes(t *testing.T) {
	s := newEd25519(t)
	sig := sign(t, s, NamespacePolicy, []byte("m"))
	for name, err := range map[string]error{
		"Verify zero key":          Verify(PublicKey{}, NamespacePolicy, []byte("m"), sig),
		"Verify unknown namespace": Verify(s.pub, "countersign-polic", []byte("m"), sig),
		"Verify empty namespace":   Verify(s.pub, "", []byte("m"), sig),
	} {
		if err == nil || errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: got %v, want an error that is not %v", name, err, ErrBadSignature)
		}
	}
	for _, ns := range []string{"", "file", "countersign-Policy"} {
		if sig, err := s.Sign(ns, []byte("m")); err == nil {
			t.Errorf("Sign(%q) = %s, want an error", ns, sig)
		}
	}
}

func TestNewSignerRefuses(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := NewSigner(p384); s != nil || !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("NewSigner(P-384 key) = %v, %v; want %v", s, err, ErrBadPublicKey)
	}
}

// TestSignerRedacts checks that a signer in memory never shows its private
// key, however it is printed, logged or marshaled.
func TestSignerRedacts(t *testing.T) {
	s := seededEd25519(t, 7)
	secret := bytes.Repeat([]byte{7}, 32)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("signing", "signer", s)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("signing", "signer", s)
	out := logged.String() + fmt.Sprintf("%v %+v %#v %s %v %+v", s, s, s, s, struct{ S Signer }{s}, []Signer{s})
	if data, err := json.Marshal(struct{ S Signer }{s}); err == nil {
		t.Errorf("json.Marshal of a signer = %s, want an error", data)
	}
	for _, form := range []string{hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)[:40], string(secret), "[7 7 7 7"} {
		if strings.Contains(out, form) {
			t.Fatalf("the private key shows as %q in:\n%s", form, out)
		}
	}
	if !strings.Contains(out, s.pub.Fingerprint()) {
		t.Errorf("the signer's fingerprint is not in:\n%s", out)
	}
}

// edit returns armored with its signature changed by f.
func edit(t *testing.T, armored []byte, f func(*sshsig.Signature)) []byte {
	t.Helper()
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		t.Fatal(err)
	}
	f(sig)
	return sshsig.Armor(sig)
}

// sha256Signature signs as s with SHA-256 rather than SHA-512, as
// ssh-keygen -Y sign -O hashalg=sha256 does.
func sha256Signature(t *testing.T, s *sshSigner, namespace string, message []byte) []byte {
	t.Helper()
	sig, err := sshsig.Sign(bytes.NewReader(message), s.key, sshsig.HashSHA256, namespace)
	if err != nil {
		t.Fatal(err)
	}
	return sshsig.Armor(sig)
}

// pemBody returns the bytes an armored signature carries.
func pemBody(t testing.TB, armored []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(armored)
	if block == nil {
		t.Fatalf("not PEM:\n%s", armored)
	}
	return block.Bytes
}

// armor armors a signature blob.
func armor(body []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: body})
}

// armorAt armors a signature blob with lines of width characters.
func armorAt(body []byte, width int) []byte {
	b64 := base64.StdEncoding.EncodeToString(body)
	var out strings.Builder
	out.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(b64) > width {
		out.WriteString(b64[:width] + "\n")
		b64 = b64[width:]
	}
	out.WriteString(b64 + "\n-----END SSH SIGNATURE-----\n")
	return []byte(out.String())
}
