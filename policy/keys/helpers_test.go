package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newEd25519 returns a Signer of a new ed25519 key held in memory.
func newEd25519(t testing.TB) *sshSigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return mustSigner(t, priv)
}

// seededEd25519 returns a Signer of the ed25519 key with the given seed
// byte repeated: the same key in every run.
func seededEd25519(t testing.TB, seed byte) *sshSigner {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(slices.Repeat([]byte{seed}, ed25519.SeedSize))
	return mustSigner(t, priv)
}

// newECDSA returns a Signer of a new ECDSA P-256 key held in memory.
func newECDSA(t testing.TB) *sshSigner {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return mustSigner(t, priv)
}

// mustSigner returns NewSigner(key) as the package's implementation.
func mustSigner(t testing.TB, key crypto.Signer) *sshSigner {
	t.Helper()
	s, err := NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*sshSigner)
}

// sign signs message for namespace with s, failing the test on error.
func sign(t testing.TB, s Signer, namespace string, message []byte) []byte {
	t.Helper()
	sig, err := s.Sign(namespace, message)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// wantBad fails the test unless err is a bad signature for reason.
func wantBad(t testing.TB, err, reason error) {
	t.Helper()
	if !errors.Is(err, ErrBadSignature) || !errors.Is(err, reason) {
		t.Fatalf("got error %v, want %v for %q", err, ErrBadSignature, reason)
	}
}

// skApplication is the FIDO application (relying party) of the test's
// security keys, OpenSSH's default.
const skApplication = "ssh:"

// skUserPresent is the flag of a security-key signature that says the key
// was touched (PROTOCOL.u2f, FIDO's UP flag).
const skUserPresent = 0x01

// skKey stands in for a FIDO2 security key, for tests only: an ssh.Signer
// that signs as OpenSSH's PROTOCOL.u2f says a security key does, over
//
//	SHA256(application) || flags || counter (big-endian uint32) || SHA256(data)
//
// with ed25519 as is, or with ECDSA P-256 over its SHA-256, and returns the
// flags and counter after the signature.
type skKey struct {
	pub         ssh.PublicKey
	ed          ed25519.PrivateKey // for sk-ssh-ed25519@openssh.com
	ec          *ecdsa.PrivateKey  // for sk-ecdsa-sha2-nistp256@openssh.com
	application string             // what the key signs for; skApplication unless a test lies
	flags       byte
	counter     uint32
}

var _ ssh.Signer = (*skKey)(nil)

// newSKEd25519 returns a new sk-ssh-ed25519@openssh.com key.
func newSKEd25519(t testing.TB) *skKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blob := ssh.Marshal(struct {
		Type        string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKED25519, pub, skApplication})
	return newSKKey(t, blob, &skKey{ed: priv})
}

// newSKECDSA returns a new sk-ecdsa-sha2-nistp256@openssh.com key.
func newSKECDSA(t testing.TB) *skKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := priv.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	blob := ssh.Marshal(struct {
		Type, Curve string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKECDSA256, "nistp256", point, skApplication})
	return newSKKey(t, blob, &skKey{ec: priv})
}

// newSKKey completes k with the public key blob and default flags.
func newSKKey(t testing.TB, blob []byte, k *skKey) *skKey {
	t.Helper()
	pub, err := ssh.ParsePublicKey(blob)
	if err != nil {
		t.Fatal(err)
	}
	k.pub, k.application, k.flags, k.counter = pub, skApplication, skUserPresent, 41
	return k
}

// PublicKey returns the key.
func (k *skKey) PublicKey() ssh.PublicKey { return k.pub }

// Sign signs data as a security key does.
func (k *skKey) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	app := sha256.Sum256([]byte(k.application))
	digest := sha256.Sum256(data)
	trailer := binary.BigEndian.AppendUint32([]byte{k.flags}, k.counter)
	signed := slices.Concat(app[:], trailer, digest[:])
	sig := &ssh.Signature{Format: k.pub.Type(), Rest: trailer}
	if k.ed != nil {
		sig.Blob = ed25519.Sign(k.ed, signed)
		return sig, nil
	}
	h := sha256.Sum256(signed)
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, h[:])
	if err != nil {
		return nil, err
	}
	sig.Blob = ssh.Marshal(struct{ R, S *big.Int }{r, s})
	return sig, nil
}

// signer returns k as a Signer of the package.
func (k *skKey) signer(t testing.TB) *sshSigner {
	t.Helper()
	s, err := newSigner(k, "test security key")
	if err != nil {
		t.Fatal(err)
	}
	return s.(*sshSigner)
}

// handSign builds an armored SSH signature by hand, from PROTOCOL.sshsig
// rather than with the sshsig package: key signs the signed data for
// namespace over the SHA-512 of message, and the blob names namespace.
func handSign(t testing.TB, key ssh.Signer, namespace string, message []byte) []byte {
	t.Helper()
	return handSignAs(t, key, namespace, namespace, message)
}

// handSignAs is handSign with the namespace that is signed and the one the
// blob names given apart, to forge.
func handSignAs(t testing.TB, key ssh.Signer, signedNS, blobNS string, message []byte) []byte {
	t.Helper()
	h := sha512.Sum512(message)
	signed := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace, Reserved, HashAlgorithm string
		Hash                               []byte
	}{signedNS, "", "sha512", h[:]})...)
	sig, err := key.Sign(rand.Reader, signed)
	if err != nil {
		t.Fatal(err)
	}
	blob := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Version                            uint32
		PublicKey                          []byte
		Namespace, Reserved, HashAlgorithm string
		Signature                          []byte
	}{1, key.PublicKey().Marshal(), blobNS, "", "sha512", ssh.Marshal(sig)})...)
	return pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: blob})
}

// mustBase64 decodes standard base64.
func mustBase64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
