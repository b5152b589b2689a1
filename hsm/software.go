package hsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Software seals secrets to an age X25519 key (https://age-encryption.org)
// kept in a key file. It is safe for concurrent use.
//
// # Key file
//
// [GenerateSoftwareKey] writes the key file with mode 0600. Unprotected, it
// is an age identity file, as age-keygen writes:
//
//	# countersign hsm key, created 2026-01-02T03:04:05Z
//	AGE-SECRET-KEY-1...
//
// Protected, it is that same text encrypted by age to the passphrase (age's
// scrypt recipient) and ASCII-armored ("-----BEGIN AGE ENCRYPTED FILE-----"),
// so `age -d keyfile` recovers it. [OpenSoftware] runs scrypt once to unlock
// the file; every Seal and Unseal after that costs one X25519 operation.
//
// # Blob body
//
// The body of a software blob (see the package doc for the envelope) is an
// age file, binary, encrypted to the key's X25519 recipient. Its plaintext
// is the envelope header, byte for byte, followed by the secret. Unseal
// decrypts, then requires that inner header to equal the outer one, so the
// label, scheme and version are authenticated by age's AEAD. age rejects any
// change to its own header or payload, and any trailing data.
//
// # Public key
//
// age is public-key encryption: anyone who knows the key's recipient (its
// public key, age1...) can produce a blob that Unseal accepts. This package
// never writes the recipient anywhere; keep it that way, since a holder of
// the recipient who can also write to the node's storage could substitute
// a secret of their choosing.
type Software struct {
	id        *age.X25519Identity
	recipient *age.X25519Recipient
}

var _ Sealer = (*Software)(nil)

// scryptWorkFactor is the scrypt log2(N) used to protect new key files:
// age's own default, about a second of work. Tests lower it.
var scryptWorkFactor = 18

// GenerateSoftwareKey creates a new key file at path with mode 0600. It
// refuses to overwrite an existing file.
//
// A non-empty passphrase protects the file with age's scrypt passphrase
// encryption. An empty passphrase writes the key unprotected, readable by
// anyone who can read the file: that is for labs and tests only, never for a
// node that holds real shares.
func GenerateSoftwareKey(path string, passphrase []byte) error {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("hsm: generate key: %w", err)
	}
	text := fmt.Appendf(nil, "# countersign hsm key, created %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id)
	defer clear(text)

	content := text
	if len(passphrase) > 0 {
		r, err := age.NewScryptRecipient(string(passphrase))
		if err != nil {
			return fmt.Errorf("hsm: protect key: %w", err)
		}
		r.SetWorkFactor(scryptWorkFactor)
		var buf bytes.Buffer
		aw := armor.NewWriter(&buf)
		w, err := age.Encrypt(aw, r)
		if err != nil {
			return fmt.Errorf("hsm: protect key: %w", err)
		}
		if _, err := w.Write(text); err != nil {
			return fmt.Errorf("hsm: protect key: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("hsm: protect key: %w", err)
		}
		if err := aw.Close(); err != nil {
			return fmt.Errorf("hsm: protect key: %w", err)
		}
		content = buf.Bytes()
	}

	return writeNewFile(path, "key file", content)
}

// OpenSoftware loads the key file at path, unlocking it with passphrase if
// it is protected. Every error it returns wraps [ErrLocked].
//
// A passphrase given for an unprotected file is refused rather than
// ignored, since it means the file is not what its operator believes.
func OpenSoftware(path string, passphrase []byte) (*Software, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLocked, err)
	}
	content, err := io.ReadAll(io.LimitReader(f, maxKeyFileLen+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: read key file: %w", ErrLocked, err)
	}
	defer clear(content)
	if len(content) > maxKeyFileLen {
		return nil, fmt.Errorf("%w: %s is not a key file: larger than %d bytes", ErrLocked, path, maxKeyFileLen)
	}

	text := content
	trimmed := bytes.TrimLeft(content, " \t\r\n")
	armored := bytes.HasPrefix(trimmed, []byte("-----BEGIN AGE ENCRYPTED FILE-----"))
	binary := bytes.HasPrefix(content, []byte("age-encryption.org/"))
	switch {
	case (armored || binary) && len(passphrase) == 0:
		return nil, fmt.Errorf("%w: key file %s is passphrase-protected: give its passphrase", ErrLocked, path)
	case armored || binary:
		text, err = decryptKeyFile(content, armored, passphrase)
		if err != nil {
			return nil, fmt.Errorf("%w: key file %s: %w", ErrLocked, path, err)
		}
		defer clear(text)
	case len(passphrase) > 0:
		return nil, fmt.Errorf("%w: key file %s is not passphrase-protected, but a passphrase was given: check that this is the right file, or give no passphrase", ErrLocked, path)
	}

	// The parser's own errors may quote the key's bytes: leave them out.
	ids, err := age.ParseIdentities(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("%w: %s holds no valid age identity: restore the key file from its backup", ErrLocked, path)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("%w: %s holds %d identities, want exactly one", ErrLocked, path, len(ids))
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds an identity of type %T, want an age X25519 identity", ErrLocked, path, ids[0])
	}
	return newSoftware(id), nil
}

func decryptKeyFile(content []byte, armored bool, passphrase []byte) ([]byte, error) {
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, err
	}
	var src io.Reader = bytes.NewReader(content)
	if armored {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, errors.New("wrong passphrase: try again with the passphrase given when the key was generated")
		}
		return nil, fmt.Errorf("damaged (%v): restore it from its backup", err)
	}
	text, err := io.ReadAll(io.LimitReader(r, maxKeyFileLen+1))
	if err != nil {
		clear(text)
		return nil, fmt.Errorf("damaged (%v): restore it from its backup", err)
	}
	return text, nil
}

func newSoftware(id *age.X25519Identity) *Software {
	return &Software{id: id, recipient: id.Recipient()}
}

// Seal encrypts plaintext to the key, bound to label.
func (s *Software) Seal(label string, plaintext []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	if len(plaintext) > MaxPlaintextLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintextLen)
	}
	header := appendHeader(nil, schemeSoftware, label)
	var buf bytes.Buffer
	buf.Grow(len(header) + 256 + len(plaintext) + len(plaintext)/64)
	buf.Write(header)
	w, err := age.Encrypt(&buf, s.recipient)
	if err != nil {
		return nil, fmt.Errorf("hsm: seal: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return nil, fmt.Errorf("hsm: seal: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("hsm: seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("hsm: seal: %w", err)
	}
	return buf.Bytes(), nil
}

// Unseal returns the secret in sealed if the blob is intact, was sealed to
// this key, and carries label.
func (s *Software) Unseal(label string, sealed []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	header, got, body, err := parseEnvelope(sealed, schemeSoftware)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(body), s.id)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, fmt.Errorf("%w: not sealed to this key, or altered", ErrCorrupt)
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	inner, err := io.ReadAll(io.LimitReader(r, int64(len(header))+MaxPlaintextLen+1))
	if err != nil {
		clear(inner)
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if !bytes.HasPrefix(inner, header) || len(inner)-len(header) > MaxPlaintextLen {
		clear(inner)
		return nil, fmt.Errorf("%w: header does not match the sealed one", ErrCorrupt)
	}
	if got != label {
		clear(inner)
		return nil, wrongLabel(label, got)
	}
	return inner[len(header):], nil
}

// String redacts the key.
func (Software) String() string { return "hsm.Software{REDACTED}" }

// GoString redacts the key.
func (Software) GoString() string { return "hsm.Software{REDACTED}" }

// LogValue redacts the key in slog output.
func (Software) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses: a sealing key is never serialized.
func (Software) MarshalJSON() ([]byte, error) {
	return nil, errors.New("hsm: refusing to marshal a sealing key")
}

// MarshalText refuses: a sealing key is never serialized.
func (Software) MarshalText() ([]byte, error) {
	return nil, errors.New("hsm: refusing to marshal a sealing key")
}

// writeNewFile writes content to a new file at path, mode 0600, synced. It
// never overwrites: a key file in use must be moved away on purpose.
func writeNewFile(path, what string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("hsm: %s %s already exists; refusing to overwrite it (move it away first if it is really unused): %w", what, path, err)
		}
		return fmt.Errorf("hsm: create %s: %w", what, err)
	}
	_, werr := f.Write(content)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return fmt.Errorf("hsm: write %s %s: %w", what, path, werr)
	}
	return nil
}
