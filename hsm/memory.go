package hsm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"log/slog"
)

// Memory seals secrets with a random AES-256-GCM key that exists only in
// this process: its blobs are unreadable once the process ends. It is for
// tests, and follows the same rules as [Software]. It is safe for concurrent
// use.
//
// Its blob body (see the package doc for the envelope) is a 12-byte random
// nonce followed by the GCM ciphertext and tag; the envelope header, which
// holds the label, is the additional authenticated data.
type Memory struct {
	aead cipher.AEAD
}

var _ Sealer = (*Memory)(nil)

// NewMemory returns a Memory sealer with a fresh random key.
func NewMemory() *Memory {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // unreachable: the key length is valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable: standard nonce and tag sizes
	}
	return &Memory{aead: aead}
}

// Seal encrypts plaintext, bound to label.
func (m *Memory) Seal(label string, plaintext []byte) ([]byte, error) {
	return m.body().seal(label, plaintext)
}

// Unseal returns the secret in sealed if the blob is intact, was sealed by
// this Memory, and carries label.
func (m *Memory) Unseal(label string, sealed []byte) ([]byte, error) {
	return m.body().unseal(label, sealed)
}

func (m *Memory) body() gcmBody { return gcmBody{m.aead, schemeMemory, "by this key"} }

// String redacts the key.
func (Memory) String() string { return "hsm.Memory{REDACTED}" }

// GoString redacts the key.
func (Memory) GoString() string { return "hsm.Memory{REDACTED}" }

// LogValue redacts the key in slog output.
func (Memory) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON refuses: a sealing key is never serialized.
func (Memory) MarshalJSON() ([]byte, error) {
	return nil, errors.New("hsm: refusing to marshal a sealing key")
}

// MarshalText refuses: a sealing key is never serialized.
func (Memory) MarshalText() ([]byte, error) {
	return nil, errors.New("hsm: refusing to marshal a sealing key")
}
