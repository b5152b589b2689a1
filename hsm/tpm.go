package hsm

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// TPM seals secrets with AES-256-GCM under a 32-byte data key that a TPM 2.0
// keeps sealed to the platform's state. It is safe for concurrent use.
//
// # How the data key is kept
//
// [CreateTPMKey] draws a random 32-byte data key and has the TPM seal it: a
// KEYEDHASH sealed-data object created under a primary storage key (the TCG
// ECC P-256 SRK template in the owner hierarchy, which the TPM re-derives
// from its owner seed each time, so nothing is stored in the TPM's NV). The
// object can be unsealed only through a policy session whose policy is
// PolicyPCR over the chosen PCRs of the SHA-256 bank (PCR 7, the Secure Boot
// state, by default), with the values they had at creation, followed by
// PolicyAuthValue: proof, by HMAC, of the object's auth value, the PIN
// (empty when there is none). With a PIN the object is protected by the
// TPM's dictionary-attack lockout. The object never leaves the TPM in the
// clear: its public and (TPM-encrypted) private parts go to the key file.
//
// [OpenTPM] re-creates the primary key, checks that it is the one the key
// file was made under, loads the object and unseals the data key once. The
// sessions of Create and Unseal are salted with the primary key and encrypt
// the parameters that carry the data key and PIN (AES-128-CFB), so a
// passive listener on the TPM's bus sees neither. The TPM connection is
// closed before OpenTPM returns.
//
// The data key then lives in this process's memory, as the Software
// sealer's identity does: Seal and Unseal never talk to the TPM. A node
// unseals a share on every signing, and a TPM round trip per secret would
// add latency and, with a PIN, lockout risk, without protecting against
// anything: code that runs as the node can ask the TPM to unseal as well.
// What the TPM adds is that the key file and the database, copied off the
// host or read after booting another system, open nowhere.
//
// # Blob body
//
// Scheme 3 of the envelope (see the package doc). The body is a 12-byte
// random nonce followed by the GCM ciphertext and tag; the envelope header,
// which holds the label, is the additional authenticated data. The blob
// names neither the TPM nor the key file: a blob sealed under another data
// key fails with [ErrCorrupt].
//
// # Key file
//
// JSON, mode 0600, described with its type in tpm_key.go: the sealed
// object's public and private parts, the PCRs and their sealed values, and
// the name of the primary key. It is no secret without the TPM that made
// it, but losing it loses every secret sealed under it.
type TPM struct {
	aead cipher.AEAD
	pcrs []int
}

var _ Sealer = (*TPM)(nil)

const schemeTPM scheme = 3

// Errors of the TPM sealer, wrapped with detail; test them with errors.Is.
// A key file that is missing, damaged or made by another TPM, and a PIN
// that is missing or not wanted, wrap [ErrLocked].
var (
	// ErrNoTPM means the TPM could not be reached: no device, no
	// permission, or nothing listening at the simulator's address.
	ErrNoTPM = errors.New("hsm: no TPM")
	// ErrPCRChanged means the PCRs the data key is sealed to no longer
	// hold the values they had when it was sealed: the firmware, its
	// settings, the Secure Boot keys or the boot chain changed.
	ErrPCRChanged = errors.New("hsm: the platform state changed since sealing")
	// ErrWrongPIN means the TPM refused the PIN; each failure counts
	// towards the TPM's dictionary-attack lockout.
	ErrWrongPIN = errors.New("hsm: wrong TPM PIN")
	// ErrTPMLockout means the TPM refuses PINs for now after too many
	// wrong ones.
	ErrTPMLockout = errors.New("hsm: the TPM is in dictionary-attack lockout after too many wrong PINs")
)

// Defaults and limits of the TPM sealer.
const (
	// DefaultTPMDevice is the kernel's TPM resource manager.
	DefaultTPMDevice = "/dev/tpmrm0"
	// MaxTPMPIN is the longest PIN, in bytes: the TPM's limit for the auth
	// value of a SHA-256 object.
	MaxTPMPIN = 32
	// maxPCR is the highest PCR index the PC Client profile guarantees.
	maxPCR     = 23
	dataKeyLen = 32
)

// DefaultTPMPCRs are the PCRs a key is sealed to when none are chosen: PCR 7
// measures the Secure Boot policy (its on/off state, PK, KEK, db and dbx).
// It changes when Secure Boot is turned off or its keys or revocation list
// change, not on kernel or initrd updates.
func DefaultTPMPCRs() []int { return []int{7} }

// TPMConfig says how to reach a TPM and, for [CreateTPMKey], how to bind a
// new data key.
type TPMConfig struct {
	// Device is the TPM's character device, or the path of a unix socket
	// that speaks the TPM command protocol (swtpm --server type=unixio).
	// Empty means DefaultTPMDevice, unless Address or Open is set.
	Device string
	// Address is the host:port of a TPM simulator's command port, speaking
	// the TCP protocol of the TCG reference simulator (mssim); its platform
	// port must be the next port. The simulator must be powered on; an
	// unstarted TPM is sent TPM2_Startup. For tests and labs.
	Address string
	// Open, when set, opens the TPM instead (tests: an in-process
	// simulator). The connection is closed after use.
	Open func() (io.ReadWriteCloser, error)
	// PCRs (SHA-256 bank) a new key is sealed to; nil means
	// DefaultTPMPCRs. OpenTPM ignores it: the key file says.
	PCRs []int
	// PIN is the auth value of a new key, or the one to unseal with. Empty
	// means none. At most MaxTPMPIN bytes, no NUL byte.
	PIN []byte
}

// where names the TPM for messages.
func (c TPMConfig) where() string {
	switch {
	case c.Open != nil:
		return "the TPM connection given"
	case c.Address != "":
		return "tcp " + c.Address
	case c.Device != "":
		return c.Device
	default:
		return DefaultTPMDevice
	}
}

func (c TPMConfig) check() error {
	n := 0
	for _, set := range []bool{c.Device != "", c.Address != "", c.Open != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("hsm: give one of a TPM device, a simulator address or an opener")
	}
	return checkPIN(c.PIN)
}

func checkPIN(pin []byte) error {
	if len(pin) > MaxTPMPIN {
		return fmt.Errorf("hsm: the TPM PIN is %d bytes, at most %d", len(pin), MaxTPMPIN)
	}
	if slices.Contains(pin, 0) {
		return errors.New("hsm: the TPM PIN contains a NUL byte")
	}
	return nil
}

// checkPCRs returns pcrs sorted, or an error if any is out of range or
// repeated, or there are none.
func checkPCRs(pcrs []int) ([]int, error) {
	if len(pcrs) == 0 {
		return nil, errors.New("hsm: no PCRs chosen: seal to at least one (PCR 7 is the usual choice)")
	}
	out := slices.Clone(pcrs)
	slices.Sort(out)
	for i, p := range out {
		if p < 0 || p > maxPCR {
			return nil, fmt.Errorf("hsm: PCR %d: want 0 to %d", p, maxPCR)
		}
		if i > 0 && out[i-1] == p {
			return nil, fmt.Errorf("hsm: PCR %d chosen twice", p)
		}
	}
	return out, nil
}

func newTPM(dataKey []byte, pcrs []int) (*TPM, error) {
	if len(dataKey) != dataKeyLen {
		return nil, fmt.Errorf("%w: the TPM unsealed %d bytes, want a %d-byte data key", ErrLocked, len(dataKey), dataKeyLen)
	}
	block, err := aes.NewCipher(dataKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &TPM{aead: aead, pcrs: slices.Clone(pcrs)}, nil
}

// PCRs are the PCRs (SHA-256 bank) the data key is sealed to, ascending.
func (s *TPM) PCRs() []int { return slices.Clone(s.pcrs) }

// Seal encrypts plaintext under the data key, bound to label.
func (s *TPM) Seal(label string, plaintext []byte) ([]byte, error) {
	return s.body().seal(label, plaintext)
}

// Unseal returns the secret in sealed if the blob is intact, was sealed
// under this data key, and carries label. It does not use the TPM.
func (s *TPM) Unseal(label string, sealed []byte) ([]byte, error) {
	return s.body().unseal(label, sealed)
}

func (s *TPM) body() gcmBody { return gcmBody{s.aead, schemeTPM, "under this TPM key"} }

// String redacts the key.
func (TPM) String() string { return "hsm.TPM{REDACTED}" }

// GoString redacts the key.
func (TPM) GoString() string { return "hsm.TPM{REDACTED}" }

// LogValue redacts the key in slog output.
func (TPM) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses: a sealing key is never serialized.
func (TPM) MarshalJSON() ([]byte, error) {
	return nil, errors.New("hsm: refusing to marshal a sealing key")
}

// MarshalText refuses: a sealing key is never serialized.
func (TPM) MarshalText() ([]byte, error) {
	return nil, errors.New("hsm: refusing to marshal a sealing key")
}

// FormatPCRs writes a PCR selection as "7" or "0,2,7", the form the node's
// command line takes.
func FormatPCRs(pcrs []int) string {
	parts := make([]string, len(pcrs))
	for i, p := range pcrs {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ",")
}
