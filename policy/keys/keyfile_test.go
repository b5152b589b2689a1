package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "officer")
	pub, err := GenerateKeyFile(path, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("key type %s, want %s", pub.Type(), ssh.KeyAlgoED25519)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("private key file mode %04o, want 0600", perm)
	}
	line, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if want := pub.String() + " alice@example.com\n"; string(line) != want {
		t.Errorf(".pub file is %q, want %q", line, want)
	}
	private, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(private, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("private key file is not an OpenSSH key:\n%s", private)
	}
	s, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey() != pub {
		t.Errorf("loaded key %s, generated %s", s.PublicKey(), pub)
	}

	// Neither file is ever overwritten.
	if _, err := GenerateKeyFile(path, "again"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("GenerateKeyFile over an existing key: %v, want an error saying it exists", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, private) {
		t.Error("GenerateKeyFile changed an existing key file")
	}
	onlyPub := filepath.Join(t.TempDir(), "officer")
	if err := os.WriteFile(onlyPub+".pub", []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKeyFile(onlyPub, ""); err == nil {
		t.Error("GenerateKeyFile over an existing .pub file succeeded")
	}
	if _, err := os.Stat(onlyPub); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GenerateKeyFile left a private key behind: %v", err)
	}

	if _, err := GenerateKeyFile(filepath.Join(t.TempDir(), "k"), "two\nlines"); err == nil {
		t.Error("GenerateKeyFile accepted a comment with a newline")
	}
}

func TestLoadKeyFileRefuses(t *testing.T) {
	dir := t.TempDir()
	ed := newEd25519(t)
	edPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(edPriv, "", []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ssh.MarshalPrivateKey(edPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	edPub, err := ssh.NewPublicKey(edPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The public key stored in the clear is another key's.
	mismatched := &pem.Block{Type: plain.Type, Bytes: bytes.Replace(plain.Bytes, edPub.Marshal(), ed.key.PublicKey().Marshal(), 1)}

	for _, tc := range []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"passphrase", pem.EncodeToMemory(encrypted), 0o600, "passphrase, which keys does not read; run ssh-add"},
		{"security key", skKeyFile(newSKEd25519(t).pub), 0o600, "security key, which only ssh-agent can use"},
		{"security key ecdsa", skKeyFile(newSKECDSA(t).pub), 0o600, "security key, which only ssh-agent can use"},
		{"rsa", privateKeyPEM(t, rsaKey), 0o600, "ssh-rsa keys are not accepted"},
		{"p384", privateKeyPEM(t, p384), 0o600, "ecdsa-sha2-nistp384 keys are not accepted"},
		{"pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600, "not an OpenSSH private key file"},
		{"public key", []byte(ed.pub.String() + "\n"), 0o600, "not an OpenSSH private key file"},
		{"empty", nil, 0o600, "not an OpenSSH private key file"},
		{"bad magic", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("openssh-key-v2\x00")}), 0o600, "no openssh-key-v1 magic"},
		{"two keys", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: twoKeys(t, plain.Bytes)}), 0o600, "2 keys in the file"},
		{"mismatched", pem.EncodeToMemory(mismatched), 0o600, "does not match"},
		{"data after key", append(pem.EncodeToMemory(plain), "x"...), 0o600, "not an OpenSSH private key file"},
		{"group readable", pem.EncodeToMemory(plain), 0o640, "open to others (mode 0640); run chmod 600"},
		{"world writable", pem.EncodeToMemory(plain), 0o602, "open to others"},
		{"too large", append(pem.EncodeToMemory(plain), bytes.Repeat([]byte("\n"), maxKeyFileSize)...), 0o600, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, tc.data, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			s, err := LoadKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadKeyFile = %v, %v; want an error saying %q", s, err, tc.want)
			}
		})
	}

	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKeyFile of a missing file: %v, want %v", err, fs.ErrNotExist)
	}
	if _, err := LoadKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadKeyFile of a directory: %v", err)
	}
}

// writeKeyFile writes key as an unencrypted OpenSSH private key file.
func writeKeyFile(t *testing.T, path string, key crypto.PrivateKey, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, privateKeyPEM(t, key), mode); err != nil {
		t.Fatal(err)
	}
}

// privateKeyPEM returns key as an unencrypted OpenSSH private key file.
func privateKeyPEM(t *testing.T, key crypto.PrivateKey) []byte {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// skKeyFile returns an OpenSSH private key file for the security key pub,
// as ssh-keygen -t ed25519-sk writes: the public key, and a private
// section (here empty) holding the key handle.
func skKeyFile(pub ssh.PublicKey) []byte {
	body := append([]byte("openssh-key-v1\x00"), ssh.Marshal(struct {
		Cipher, KDF, KDFOptions string
		Keys                    uint32
		PublicKey, Private      []byte
	}{"none", "none", "", 1, pub.Marshal(), nil})...)
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: body})
}

// twoKeys returns an OpenSSH private key body claiming to hold two keys.
func twoKeys(t *testing.T, body []byte) []byte {
	t.Helper()
	// magic, then "none", "none", "" (4+4, 4+4, 4 bytes), then the count.
	at := len("openssh-key-v1\x00") + 20
	if !bytes.Equal(body[at:at+4], []byte{0, 0, 0, 1}) {
		t.Fatalf("no key count at %d", at)
	}
	out := bytes.Clone(body)
	out[at+3] = 2
	return out
}
