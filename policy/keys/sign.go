package keys

import (
	"bytes"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// The namespaces of countersign's signatures. A signature made for one never
// verifies for another; no other namespace is accepted.
const (
	// NamespacePolicy is for policy bundles, signed by security officers.
	NamespacePolicy = "countersign-policy"
	// NamespaceApproval is for approvals of withdrawals, signed by
	// security officers.
	NamespaceApproval = "countersign-approval"
	// NamespaceIntent is for withdrawal intents, signed by the originating
	// system.
	NamespaceIntent = "countersign-intent"
)

// checkNamespace returns an error if ns is not one of the package's
// namespaces: a mistake of the caller, not a bad signature.
func checkNamespace(ns string) error {
	switch ns {
	case NamespacePolicy, NamespaceApproval, NamespaceIntent:
		return nil
	}
	return fmt.Errorf("keys: unknown namespace %s; want %s, %s or %s", quote(ns), NamespacePolicy, NamespaceApproval, NamespaceIntent)
}

// hashAlgorithm is the hash of every signature, ssh-keygen's default.
const hashAlgorithm = sshsig.HashSHA512

// Signer makes signatures with one key.
type Signer interface {
	// PublicKey returns the key that checks the signer's signatures.
	PublicKey() PublicKey
	// Sign signs message for namespace, one of the package's Namespace
	// constants, and returns the armored signature.
	Sign(namespace string, message []byte) ([]byte, error)
}

// sshSigner signs with an ssh.Signer: a key in memory, or a key held by
// ssh-agent.
type sshSigner struct {
	pub PublicKey
	key ssh.Signer
	// where says where the key is, for messages: "key file /x/officer".
	where string
}

var _ Signer = (*sshSigner)(nil)

// NewSigner returns a Signer for key, an ed25519.PrivateKey, an
// *ecdsa.PrivateKey on P-256, or a crypto.Signer of either kind such as a
// key in an HSM. Security keys are reached through [AgentSigner] instead.
func NewSigner(key crypto.Signer) (Signer, error) {
	s, err := ssh.NewSignerFromSigner(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return newSigner(s, "crypto.Signer")
}

// newSigner returns a Signer for key, or an error if its type is not
// accepted. where says where the key is, for messages.
func newSigner(key ssh.Signer, where string) (Signer, error) {
	pub, err := fromSSH(key.PublicKey())
	if err != nil {
		return nil, err
	}
	return &sshSigner{pub: pub, key: key, where: where}, nil
}

// PublicKey returns the key that checks s's signatures.
func (s *sshSigner) PublicKey() PublicKey { return s.pub }

// Sign signs message for namespace with SHA-512 and returns the armored
// signature, after checking that it verifies.
func (s *sshSigner) Sign(namespace string, message []byte) ([]byte, error) {
	if err := checkNamespace(namespace); err != nil {
		return nil, err
	}
	sig, err := sshsig.Sign(bytes.NewReader(message), s.key, hashAlgorithm, namespace)
	if err != nil {
		return nil, fmt.Errorf("keys: signing with %s: %w", s, err)
	}
	armored := sshsig.Armor(sig)
	if err := Verify(s.pub, namespace, message, armored); err != nil {
		return nil, fmt.Errorf("keys: %s made a signature that does not verify: %w", s, err)
	}
	return armored, nil
}

// String names s's key and where it is, never the secret.
func (s *sshSigner) String() string {
	return fmt.Sprintf("%s key %s (%s)", s.pub.Type(), s.pub.Fingerprint(), s.where)
}

// GoString is String, so that %#v does not print the key.
func (s *sshSigner) GoString() string { return "keys.Signer{" + s.String() + "}" }

// LogValue is String, so that slog does not print the key.
func (s *sshSigner) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON refuses: a signer is never serialized.
func (s *sshSigner) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keys: a Signer is not serialized")
}

// Verify checks that armoredSig is a signature by pub over message for
// namespace, one of the package's Namespace constants. It returns nil if
// so, and otherwise an error wrapping [ErrBadSignature] that says which
// check failed. It refuses a signature longer than [MaxSignatureSize]; the
// message is hashed as given, whatever its length.
func Verify(pub PublicKey, namespace string, message, armoredSig []byte) error {
	if err := checkNamespace(namespace); err != nil {
		return err
	}
	if pub.IsZero() {
		return errors.New("keys: Verify needs a public key; it was given the zero PublicKey")
	}
	sig, err := parseSignature(armoredSig)
	if err != nil {
		return fmt.Errorf("%w: %w: %v", ErrBadSignature, errMalformed, err)
	}
	if signer := sig.PublicKey.Marshal(); string(signer) != pub.wire {
		return fmt.Errorf("%w: %w: made by %s, want %s", ErrBadSignature, errWrongKey, ssh.FingerprintSHA256(sig.PublicKey), pub.Fingerprint())
	}
	if sig.Namespace != namespace {
		return fmt.Errorf("%w: %w: made for %s, want %s", ErrBadSignature, errWrongNS, quote(sig.Namespace), namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(message), sig, pub.ssh(), hashAlgorithm, namespace); err != nil {
		return fmt.Errorf("%w: %w: %v", ErrBadSignature, errDoesNotCheck, err)
	}
	return nil
}

// armorBegin starts an armored signature.
const armorBegin = "-----BEGIN " + sshsig.PEMType + "-----"

// parseSignature decodes an armored signature, refusing anything beyond
// what PROTOCOL.sshsig allows and what this package makes: data around the
// armor, PEM headers, hashes other than SHA-512, and bytes after the
// signature of a key that is not a security key.
func parseSignature(armored []byte) (*sshsig.Signature, error) {
	if len(armored) > MaxSignatureSize {
		return nil, fmt.Errorf("signature is %d bytes, more than %d", len(armored), MaxSignatureSize)
	}
	armored = bytes.TrimSpace(armored)
	if !bytes.HasPrefix(armored, []byte(armorBegin)) {
		return nil, fmt.Errorf("does not start with %q", armorBegin)
	}
	block, rest := pem.Decode(armored)
	switch {
	case block == nil || block.Type != sshsig.PEMType:
		return nil, errors.New("armor is broken")
	case len(block.Headers) != 0:
		return nil, errors.New("armor has headers")
	case len(rest) != 0:
		return nil, errors.New("data after the armor")
	}
	sig, err := sshsig.ParseSignature(block.Bytes)
	if err != nil {
		return nil, err
	}
	if sig.HashAlgorithm != hashAlgorithm {
		return nil, fmt.Errorf("hash algorithm is %s, want %s", quote(string(sig.HashAlgorithm)), hashAlgorithm)
	}
	// Security-key signatures carry flags and a counter after the
	// signature, which the key's Verify reads; other keys carry nothing.
	switch sig.PublicKey.Type() {
	case ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
	default:
		if len(sig.Signature.Rest) != 0 {
			return nil, errors.New("data after the signature")
		}
	}
	return sig, nil
}
