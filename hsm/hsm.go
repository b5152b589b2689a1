// Package hsm seals secrets at rest: key shares, pre-parameters and anything
// else a node must keep on disk but must not let a thief read.
//
// Call [Sealer.Seal] with a label that names the secret's purpose (for
// example "share/w-1a2b") and store the returned blob; call [Sealer.Unseal]
// with the same label to get the secret back. Three implementations live
// here: [Software], an age X25519 key kept in a key file that may be
// passphrase-protected; [TPM], which seals a 32-byte data key to the host's
// TPM 2.0 under a PCR policy (and an optional PIN) and encrypts secrets with
// AES-256-GCM under it; and [Memory], a random key that lives only as long as
// the process, for tests.
//
// # Guarantees
//
//   - Confidentiality: a blob reveals nothing of its secret to anyone without
//     the sealer's key, except the secret's approximate length.
//   - Integrity: Unseal of a blob that was altered in any way fails with
//     [ErrCorrupt]; it never returns altered plaintext and never panics,
//     whatever bytes it is given.
//   - Purpose binding: the label is authenticated with the secret. Unseal
//     with another label fails with [ErrWrongLabel], so a share sealed for
//     one wallet cannot be passed off as another wallet's share.
//   - Key binding: a blob sealed by one key does not unseal with another key.
//
// # What it is not
//
// It is not an access-control system: whoever can run code as the node, and
// so can call Unseal, has the secrets. It does not hide which labels are
// stored, how many or how large the secrets are, and it does not stop a
// blob from being deleted, or replaced by an older blob of the same label
// (rollback); the storage around it must detect those. A blob proves it was
// sealed to a key, not by that key: see [Software] for what that means for
// its public key. It does not zero secrets in memory, which Go cannot
// promise.
//
// # Blob format
//
// Every sealer writes the same versioned envelope, so that a blob says which
// kind of sealer made it and what it is for without being opened:
//
//	offset  size  field
//	0       4     magic "CSSL"
//	4       1     envelope version, 1
//	5       1     scheme: 1 software (age X25519), 2 memory (AES-256-GCM),
//	              3 tpm (AES-256-GCM under a TPM-sealed data key)
//	6       1     label length L, 1..255
//	7       L     label, printable ASCII without spaces (0x21..0x7e)
//	7+L     ...   body, defined by the scheme
//
// The header (bytes 0 to 7+L) is authenticated by every scheme, so changing
// any of it makes Unseal fail with [ErrCorrupt]. Unseal checks that a blob
// is authentic before it compares labels: [ErrWrongLabel] means an intact
// blob sealed for another purpose. New schemes take new numbers; existing
// numbers and the layout of version 1 never change.
package hsm

import (
	"bytes"
	"errors"
	"fmt"
)

// Sealer seals secrets at rest. label binds a sealed blob to its purpose (e.g. "share/w-1a2b"): Unseal with another label fails.
type Sealer interface {
	Seal(label string, plaintext []byte) ([]byte, error)
	Unseal(label string, sealed []byte) ([]byte, error)
}

// Errors returned by sealers, wrapped with detail; test them with errors.Is.
var (
	// ErrWrongLabel means an intact blob was sealed with another label.
	ErrWrongLabel = errors.New("hsm: sealed for another label")
	// ErrCorrupt means a blob is malformed, was altered, or was sealed by
	// another key or another kind of sealer.
	ErrCorrupt = errors.New("hsm: sealed blob is corrupt")
	// ErrLocked means a sealing key could not be unlocked: wrong passphrase,
	// or a key file that is missing, damaged or not a key.
	ErrLocked = errors.New("hsm: key is locked")
	// ErrInvalidLabel means a label breaks the rules of the blob format.
	ErrInvalidLabel = errors.New("hsm: invalid label")
	// ErrTooLarge means a secret is larger than MaxPlaintextLen.
	ErrTooLarge = errors.New("hsm: secret too large")
)

// Limits of this package.
const (
	// MaxLabelLen is the longest label, in bytes.
	MaxLabelLen = 255
	// MaxPlaintextLen is the largest secret that can be sealed, in bytes.
	MaxPlaintextLen = 16 << 20
	// maxKeyFileLen bounds how much of a key file is read.
	maxKeyFileLen = 64 << 10
)

// scheme identifies the kind of sealer that wrote a blob.
type scheme byte

const (
	schemeSoftware scheme = 1
	schemeMemory   scheme = 2
	// 3 is schemeTPM (tpm.go).
)

func (s scheme) String() string {
	switch s {
	case schemeSoftware:
		return "software"
	case schemeMemory:
		return "memory"
	case 3:
		return "tpm"
	default:
		return fmt.Sprintf("unknown scheme %d", byte(s))
	}
}

var magic = []byte("CSSL")

const envelopeVersion = 1

// checkLabel reports whether label can be written in a blob header.
func checkLabel(label string) error {
	if len(label) == 0 || len(label) > MaxLabelLen {
		return fmt.Errorf("%w: length %d, want 1 to %d bytes", ErrInvalidLabel, len(label), MaxLabelLen)
	}
	for i := 0; i < len(label); i++ {
		if c := label[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: byte %d is 0x%02x, want printable ASCII without spaces", ErrInvalidLabel, i, c)
		}
	}
	return nil
}

// appendHeader appends the envelope header for s and label to dst. label
// must have passed checkLabel.
func appendHeader(dst []byte, s scheme, label string) []byte {
	dst = append(dst, magic...)
	dst = append(dst, envelopeVersion, byte(s), byte(len(label)))
	return append(dst, label...)
}

// parseEnvelope splits a blob written by scheme want into its header, the
// label the header claims (not yet authenticated) and the body.
func parseEnvelope(blob []byte, want scheme) (header []byte, label string, body []byte, err error) {
	const fixed = 7
	if len(blob) < fixed {
		return nil, "", nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(blob))
	}
	if !bytes.Equal(blob[:4], magic) {
		return nil, "", nil, fmt.Errorf("%w: not a sealed blob", ErrCorrupt)
	}
	if blob[4] != envelopeVersion {
		return nil, "", nil, fmt.Errorf("%w: envelope version %d, want %d", ErrCorrupt, blob[4], envelopeVersion)
	}
	if got := scheme(blob[5]); got != want {
		return nil, "", nil, fmt.Errorf("%w: sealed by the %s sealer, not the %s one", ErrCorrupt, got, want)
	}
	n := int(blob[6])
	if len(blob) < fixed+n {
		return nil, "", nil, fmt.Errorf("%w: truncated label", ErrCorrupt)
	}
	label = string(blob[fixed : fixed+n])
	if checkLabel(label) != nil {
		return nil, "", nil, fmt.Errorf("%w: malformed label", ErrCorrupt)
	}
	return blob[:fixed+n], label, blob[fixed+n:], nil
}

// wrongLabel is the error for an authentic blob opened with another label.
func wrongLabel(want, got string) error {
	return fmt.Errorf("%w: blob is for %q, not %q", ErrWrongLabel, got, want)
}
