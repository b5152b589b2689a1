package mpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

var errRefuseMarshal = errors.New("mpc: secret material is never marshalled; seal Bytes() instead")

// PreParams are one party's tss-lib pre-parameters: a Paillier key and safe
// primes, generated ahead of key generation because that takes tens of
// seconds. Secret.
type PreParams struct {
	p keygen.LocalPreParams
}

// ParsePreParams decodes the plaintext of sealed pre-parameters and checks
// them.
func ParsePreParams(b []byte) (*PreParams, error) {
	var p keygen.LocalPreParams
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPreParams, err)
	}
	if !p.ValidateWithProof() || p.PaillierSK.N.BitLen() < 2047 || p.NTildei.BitLen() < 2047 {
		return nil, fmt.Errorf("%w: incomplete or too short", ErrBadPreParams)
	}
	return &PreParams{p: p}, nil
}

// Bytes returns the plaintext encoding, to be sealed at once.
func (p *PreParams) Bytes() []byte {
	b, err := json.Marshal(p.p)
	if err != nil {
		panic(err) // only big.Ints: cannot fail
	}
	return b
}

func (p *PreParams) String() string               { return "mpc.PreParams(REDACTED)" }
func (p *PreParams) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (p *PreParams) MarshalJSON() ([]byte, error) { return nil, errRefuseMarshal }

// Share is a node's share of one wallet's key: tss-lib's whole
// LocalPartySaveData, including its pre-parameters. Secret.
type Share struct {
	raw []byte // the plaintext encoding; decoded afresh for every use
	pub [33]byte
}

// ParseShare decodes the plaintext of a sealed share and checks it.
func ParseShare(b []byte) (*Share, error) {
	d, err := decodeShare(b)
	if err != nil {
		return nil, err
	}
	return &Share{raw: append([]byte(nil), b...), pub: compress(d.ECDSAPub.X(), d.ECDSAPub.Y())}, nil
}

func decodeShare(b []byte) (*keygen.LocalPartySaveData, error) {
	var d keygen.LocalPartySaveData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadShare, err)
	}
	if d.Xi == nil || d.ShareID == nil || d.ECDSAPub == nil || len(d.Ks) < 2 ||
		len(d.Ks) != len(d.BigXj) || len(d.Ks) != len(d.PaillierPKs) || len(d.Ks) != len(d.NTildej) ||
		len(d.Ks) != len(d.H1j) || len(d.Ks) != len(d.H2j) || !d.ValidateWithProof() {
		return nil, fmt.Errorf("%w: incomplete save data", ErrBadShare)
	}
	return &d, nil
}

// data returns a fresh deep copy of the save data: tss-lib's key derivation
// mutates what it is given.
func (s *Share) data() *keygen.LocalPartySaveData {
	d, err := decodeShare(s.raw)
	if err != nil {
		panic(err) // checked by ParseShare
	}
	return d
}

// PublicKey is the wallet's group public key, compressed.
func (s *Share) PublicKey() [33]byte { return s.pub }

// Bytes returns the plaintext encoding, to be sealed at once.
func (s *Share) Bytes() []byte { return append([]byte(nil), s.raw...) }

func (s *Share) String() string               { return "mpc.Share(REDACTED)" }
func (s *Share) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (s *Share) MarshalJSON() ([]byte, error) { return nil, errRefuseMarshal }

func compress(x, y *big.Int) [33]byte {
	var out [33]byte
	out[0] = 2 + byte(y.Bit(0))
	x.FillBytes(out[1:])
	return out
}
