package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"time"
)

// Next builds the record that follows prev, or the genesis record if prev
// is nil, and signs it with key, an ECDSA P-256 or Ed25519 signer.
//
// The record's seq is prev.Seq+1 and its Prev is prev.Hash(). Its time is
// now in UTC, at nanosecond precision; if now is earlier than prev.Time (the
// clock was stepped back), the record gets prev.Time instead, so that an
// append never fails because of the clock. body is copied, not re-encoded.
//
// A log starts with KindGenesis and has no other genesis record. The
// genesis body must be a Genesis whose certificate holds key's public key.
// Next checks the signature it made before returning the record.
func Next(prev *Record, kind Kind, body []byte, now time.Time, key crypto.Signer) (*Record, error) {
	if key == nil {
		return nil, errors.New("audit: no signing key")
	}
	r := &Record{Kind: kind}
	if len(body) > 0 {
		r.Body = append([]byte(nil), body...)
	}
	switch {
	case prev == nil && kind != KindGenesis:
		return nil, fmt.Errorf("%w: a log starts with a %s record, not %q", ErrNoGenesis, KindGenesis, kind)
	case prev != nil && kind == KindGenesis:
		return nil, fmt.Errorf("%w: %s after record %d", ErrMalformed, KindGenesis, prev.Seq)
	case prev != nil:
		if p := prev.check(); p != "" {
			return nil, fmt.Errorf("%w: previous record %d: %s", ErrMalformed, prev.Seq, p)
		}
		if prev.Seq == math.MaxUint64 {
			return nil, fmt.Errorf("%w: no seq after %d", ErrOrder, prev.Seq)
		}
		r.Seq = prev.Seq + 1
		r.Prev = prev.Hash()
		if now.Before(prev.Time) {
			now = prev.Time
		}
	}
	if !representable(now) {
		return nil, fmt.Errorf("audit: time %v cannot be stored in nanoseconds since 1970", now)
	}
	r.Time = time.Unix(0, now.UnixNano()).UTC()
	if p := r.check(); p != "" {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, p)
	}
	if kind == KindGenesis {
		if p, _ := genesisProblem(r.Body, key.Public()); p != "" {
			return nil, fmt.Errorf("%w: %s", ErrMalformed, p)
		}
	}
	if err := r.sign(key); err != nil {
		return nil, err
	}
	return r, nil
}

// sign sets r.Sig to key's signature of r.Hash().
func (r *Record) sign(key crypto.Signer) error {
	pub := key.Public()
	var opts crypto.SignerOpts
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return errors.New("audit: unsupported signing key: ECDSA on a curve other than P-256")
		}
		opts = crypto.SHA256
	case ed25519.PublicKey:
		opts = crypto.Hash(0)
	default:
		return fmt.Errorf("audit: unsupported signing key %T: want ECDSA P-256 or Ed25519", pub)
	}
	h := r.Hash()
	sig, err := key.Sign(rand.Reader, h[:], opts)
	if err != nil {
		return fmt.Errorf("audit: signing record %d: %w", r.Seq, err)
	}
	if len(sig) == 0 || len(sig) > MaxSig {
		return fmt.Errorf("audit: signing record %d: signature of %d bytes, want 1 to %d", r.Seq, len(sig), MaxSig)
	}
	if p := verify(pub, h, sig); p != "" {
		return fmt.Errorf("audit: signing record %d: the signer's signature %s", r.Seq, p)
	}
	r.Sig = sig
	return nil
}

// VerifySignature checks r.Sig over r.Hash() with pub, an ECDSA P-256 or
// Ed25519 public key. The error is a *VerifyError wrapping ErrBadSignature.
func VerifySignature(r *Record, pub crypto.PublicKey) error {
	if p := verify(pub, r.Hash(), r.Sig); p != "" {
		return &VerifyError{Seq: r.Seq, Problem: p, Err: ErrBadSignature}
	}
	return nil
}

// verify checks sig over hash with pub, and says what is wrong, or "".
func verify(pub crypto.PublicKey, hash [32]byte, sig []byte) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return "cannot be checked: ECDSA key not on P-256"
		}
		if !ecdsa.VerifyASN1(k, hash[:], sig) {
			return "does not verify with the node's key"
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Sprintf("cannot be checked: Ed25519 key of %d bytes", len(k))
		}
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, hash[:], sig) {
			return "does not verify with the node's key"
		}
	default:
		return fmt.Sprintf("cannot be checked: unsupported key %T, want ECDSA P-256 or Ed25519", pub)
	}
	return ""
}
