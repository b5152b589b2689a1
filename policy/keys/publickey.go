package keys

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The key types a [PublicKey] may have.
var acceptedTypes = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoSKED25519,
	ssh.KeyAlgoECDSA256,
	ssh.KeyAlgoSKECDSA256,
}

// PublicKey is the public half of an officer's or a system's key, of one of
// the four accepted types. Make one with [ParsePublicKey]. The zero
// PublicKey is no key: it verifies nothing and does not marshal.
//
// PublicKeys are comparable: == and [PublicKey.Equal] report whether two
// are the same key, whatever comment they were parsed with, and a
// PublicKey may be a map key.
//
// In JSON, and in any encoding that uses [encoding.TextMarshaler], a
// PublicKey is its authorized_keys line without comment, as
// [PublicKey.String] writes it:
//
//	{"key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI..."}
type PublicKey struct {
	// wire is the key in SSH wire format (RFC 4253, section 6.6), checked
	// by ParsePublicKey or fromSSH; "" for the zero PublicKey.
	wire string
}

// ParsePublicKey parses one authorized_keys line, "type base64 [comment]",
// as ssh-keygen writes to a .pub file, with or without its final newline.
// The key must be of an accepted type and written as ssh-keygen writes it:
// the type named must be the key's, the base64 canonical. Options,
// certificates, several lines and comment lines are refused. Errors wrap
// [ErrBadPublicKey].
func ParsePublicKey(line string) (PublicKey, error) {
	if len(line) > MaxPublicKeySize {
		return PublicKey{}, fmt.Errorf("%w: line is %d bytes, more than %d", ErrBadPublicKey, len(line), MaxPublicKeySize)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if strings.ContainsAny(line, "\r\n") {
		return PublicKey{}, fmt.Errorf("%w: more than one line; give exactly one key", ErrBadPublicKey)
	}
	fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
	switch {
	case len(fields) == 0:
		return PublicKey{}, fmt.Errorf("%w: empty; want a line like \"ssh-ed25519 AAAA... comment\"", ErrBadPublicKey)
	case !slices.Contains(acceptedTypes, fields[0]):
		return PublicKey{}, fmt.Errorf("%w: %s", ErrBadPublicKey, refusedType(fields[0]))
	case len(fields) == 1:
		return PublicKey{}, fmt.Errorf("%w: no key after the type %s", ErrBadPublicKey, fields[0])
	}
	typ, encoded := fields[0], fields[1]
	blob, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: key is not base64: %v", ErrBadPublicKey, err)
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: malformed %s key: %v", ErrBadPublicKey, typ, err)
	}
	if key.Type() != typ {
		return PublicKey{}, fmt.Errorf("%w: line names type %s, but the key is %s", ErrBadPublicKey, typ, quote(key.Type()))
	}
	if base64.StdEncoding.EncodeToString(key.Marshal()) != encoded {
		return PublicKey{}, fmt.Errorf("%w: %s key is not encoded as ssh-keygen writes it", ErrBadPublicKey, typ)
	}
	return PublicKey{wire: string(key.Marshal())}, nil
}

// refusedType says why typ, the first field of a line, is not an accepted
// key type.
func refusedType(typ string) string {
	want := "want one of " + strings.Join(acceptedTypes, ", ")
	switch {
	case strings.HasSuffix(typ, "-cert-v01@openssh.com"):
		return fmt.Sprintf("certificates (%s) are not accepted; give the plain key; %s", quote(typ), want)
	case typ == ssh.KeyAlgoRSA, typ == ssh.KeyAlgoDSA, typ == ssh.KeyAlgoECDSA384, typ == ssh.KeyAlgoECDSA521:
		return fmt.Sprintf("%s keys are not accepted; %s", typ, want)
	case strings.HasPrefix(typ, "#"):
		return "a comment line is not a key"
	}
	return fmt.Sprintf("%s is not a key type (authorized_keys options are not accepted); %s", quote(typ), want)
}

// fromSSH returns k as a PublicKey, or an error if it does not parse or
// its type is not accepted. k may come from ssh-agent, whose keys the agent
// client does not parse.
func fromSSH(k ssh.PublicKey) (PublicKey, error) {
	parsed, err := ssh.ParsePublicKey(k.Marshal())
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	if !slices.Contains(acceptedTypes, parsed.Type()) {
		return PublicKey{}, fmt.Errorf("%w: %s", ErrBadPublicKey, refusedType(parsed.Type()))
	}
	return PublicKey{wire: string(parsed.Marshal())}, nil
}

// ssh returns k as an ssh.PublicKey, nil for the zero PublicKey.
func (k PublicKey) ssh() ssh.PublicKey {
	if k.wire == "" {
		return nil
	}
	key, err := ssh.ParsePublicKey([]byte(k.wire))
	if err != nil {
		// k.wire was parsed before it was stored.
		panic("keys: stored public key does not parse: " + err.Error())
	}
	return key
}

// IsZero reports whether k is the zero PublicKey, no key.
func (k PublicKey) IsZero() bool { return k.wire == "" }

// Equal reports whether k and other are the same key.
func (k PublicKey) Equal(other PublicKey) bool { return k == other }

// String returns k's authorized_keys line without comment, as ssh-keygen
// writes it: "ssh-ed25519 AAAA...". It returns "" for the zero PublicKey.
func (k PublicKey) String() string {
	if k.wire == "" {
		return ""
	}
	return k.Type() + " " + base64.StdEncoding.EncodeToString([]byte(k.wire))
}

// Type returns k's key type, such as "ssh-ed25519" or
// "sk-ssh-ed25519@openssh.com"; "" for the zero PublicKey.
func (k PublicKey) Type() string {
	if k.wire == "" {
		return ""
	}
	return k.ssh().Type()
}

// Fingerprint returns k's SHA-256 fingerprint as ssh-keygen -l prints it,
// "SHA256:" and unpadded base64; "" for the zero PublicKey.
func (k PublicKey) Fingerprint() string {
	if k.wire == "" {
		return ""
	}
	return ssh.FingerprintSHA256(k.ssh())
}

// MarshalText returns [PublicKey.String], or an error for the zero
// PublicKey.
func (k PublicKey) MarshalText() ([]byte, error) {
	if k.wire == "" {
		return nil, fmt.Errorf("%w: the zero PublicKey has no text form", ErrBadPublicKey)
	}
	return []byte(k.String()), nil
}

// UnmarshalText sets k to the key of an authorized_keys line, as
// [ParsePublicKey] reads it.
func (k *PublicKey) UnmarshalText(text []byte) error {
	parsed, err := ParsePublicKey(string(text))
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}
