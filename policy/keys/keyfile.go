package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// pemPrivateKey is the PEM type of an OpenSSH private key file.
const pemPrivateKey = "OPENSSH PRIVATE KEY"

// GenerateKeyFile makes a new ed25519 key and writes it as
//
//	ssh-keygen -t ed25519 -N "" -C comment -f path
//
// would: the private key, unencrypted, in OpenSSH's format to path with
// mode 0600, and its authorized_keys line, comment included, to
// path+".pub". It refuses to overwrite either file, and leaves neither
// behind if it fails.
//
// An unencrypted key file suits tests, labs and machine keys. An officer's
// key belongs on a security key, or at least behind a passphrase, and is
// used through [AgentSigner].
func GenerateKeyFile(path, comment string) (PublicKey, error) {
	if strings.ContainsFunc(comment, unicode.IsControl) {
		return PublicKey{}, fmt.Errorf("keys: key comment %s has control characters", quote(comment))
	}
	pubPath := path + ".pub"
	for _, p := range []string{path, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return PublicKey{}, fmt.Errorf("keys: %s exists; not overwriting it", p)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PublicKey{}, fmt.Errorf("keys: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return PublicKey{}, fmt.Errorf("keys: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return PublicKey{}, fmt.Errorf("keys: %w", err)
	}
	pub, err := fromSSH(signer.PublicKey())
	if err != nil {
		return PublicKey{}, err
	}
	line := pub.String()
	if comment != "" {
		line += " " + comment
	}
	if err := writeNew(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return PublicKey{}, err
	}
	if err := writeNew(pubPath, []byte(line+"\n"), 0o644); err != nil {
		os.Remove(path)
		return PublicKey{}, err
	}
	return pub, nil
}

// writeNew writes data to a file at path that must not exist yet, and
// syncs it. If it fails, it removes what it created.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keys: %s exists; not overwriting it", path)
	}
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile returns a Signer for the unencrypted OpenSSH private key
// (ed25519 or ECDSA P-256) at path, as [GenerateKeyFile] or ssh-keygen
// write it. Like ssh, it refuses a file that others may read or write.
// A passphrase-protected key, or a security key's key file, is used
// through ssh-agent instead: ssh-add it and call [AgentSigner].
func LoadKeyFile(path string) (Signer, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemPrivateKey || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("keys: %s is not an OpenSSH private key file; make one with ssh-keygen -t ed25519", path)
	}
	pub, err := openSSHPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keys: %s is not an OpenSSH private key file: %v", path, err)
	}
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256:
	case ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return nil, fmt.Errorf("keys: %s is the handle of a %s key on a security key, which only ssh-agent can use; run ssh-add %s and sign through the agent", path, pub.Type(), path)
	default:
		return nil, fmt.Errorf("keys: %s holds a key of the wrong type: %s", path, refusedType(pub.Type()))
	}
	key, err := ssh.ParsePrivateKey(data)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, fmt.Errorf("keys: %s is protected by a passphrase, which keys does not read; run ssh-add %s and sign through the agent", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	if !bytes.Equal(key.PublicKey().Marshal(), pub.Marshal()) {
		return nil, fmt.Errorf("keys: %s: the private key does not match the public key stored with it", path)
	}
	return newSigner(key, "key file "+path)
}

// readKeyFile reads the private key file at path, refusing one that is not
// a regular file, that others may read or write, or that is too large.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: private key file %s is open to others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("keys: %s is larger than %d bytes, too large for a key file", path, maxKeyFileSize)
	}
	return data, nil
}

// openSSHPublicKey returns the public key that an OpenSSH private key
// (OpenSSH's PROTOCOL.key) stores in the clear, encrypted or not: the
// magic "openssh-key-v1\0", the cipher, KDF and KDF options, the number of
// keys (always 1) and then the public key.
func openSSHPublicKey(body []byte) (ssh.PublicKey, error) {
	rest, ok := bytes.CutPrefix(body, []byte("openssh-key-v1\x00"))
	if !ok {
		return nil, errors.New("no openssh-key-v1 magic")
	}
	var header struct {
		Cipher, KDF, KDFOptions string
		Keys                    uint32
		PublicKey               []byte
		Rest                    []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(rest, &header); err != nil {
		return nil, err
	}
	if header.Keys != 1 {
		return nil, fmt.Errorf("%d keys in the file, want 1", header.Keys)
	}
	return ssh.ParsePublicKey(header.PublicKey)
}
