package hsm

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// gcmBody is AES-256-GCM under a key held in process memory, with the
// envelope header as associated data: the body of the memory and TPM
// schemes (nonce, then ciphertext and tag).
type gcmBody struct {
	aead   cipher.AEAD
	scheme scheme
	// whose key, for the error when a blob does not open
	whose string
}

func (g gcmBody) seal(label string, plaintext []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	if len(plaintext) > MaxPlaintextLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(plaintext), MaxPlaintextLen)
	}
	ns := g.aead.NonceSize()
	header := appendHeader(nil, g.scheme, label)
	out := make([]byte, len(header)+ns, len(header)+ns+len(plaintext)+g.aead.Overhead())
	copy(out, header)
	nonce := out[len(header):]
	rand.Read(nonce)
	return g.aead.Seal(out, nonce, plaintext, header), nil
}

func (g gcmBody) unseal(label string, sealed []byte) ([]byte, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	header, got, body, err := parseEnvelope(sealed, g.scheme)
	if err != nil {
		return nil, err
	}
	ns := g.aead.NonceSize()
	if len(body) < ns+g.aead.Overhead() {
		return nil, fmt.Errorf("%w: body too short", ErrCorrupt)
	}
	plaintext, err := g.aead.Open(nil, body[:ns], body[ns:], header)
	if err != nil {
		return nil, fmt.Errorf("%w: not sealed %s, or altered", ErrCorrupt, g.whose)
	}
	if got != label {
		clear(plaintext)
		return nil, wrongLabel(label, got)
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}
