package mpc

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Signing is one node's part of a signing session: one tss-lib signing per
// digest, run side by side, each under its own child key (a Bitcoin
// transaction's inputs may spend from several addresses of a wallet).
// Message types are prefixed with the digest index ("0/…").
type Signing struct {
	c      *committee
	insts  []*instance
	ends   []chan *common.SignatureData
	digest []Digest
	keys   []*btcec.PublicKey
	sigs   [][64]byte
	done   int
}

// Digest is one hash to sign and the child key to sign it under: the
// wallet's private key plus Tweak (a big-endian scalar below the curve
// order; zero for the wallet key itself).
type Digest struct {
	Hash  [32]byte
	Tweak [32]byte
}

// NewSigning prepares the signing of digests by members (sorted node ids,
// at least threshold of the wallet's nodes).
func NewSigning(self string, members []string, share *Share, threshold int, digests []Digest) (*Signing, error) {
	c, err := newCommittee(self, members)
	if err != nil {
		return nil, err
	}
	if len(digests) == 0 || len(digests) > MaxDigests {
		return nil, fmt.Errorf("mpc: %d digests, want 1 to %d", len(digests), MaxDigests)
	}
	base := share.data()
	if threshold < 2 || len(members) < threshold || threshold > len(base.Ks) {
		return nil, fmt.Errorf("%w: %d signers for a %d-of-%d wallet", ErrBadCommittee, len(members), threshold, len(base.Ks))
	}
	for _, p := range c.ids {
		if !slices.ContainsFunc(base.Ks, func(k *big.Int) bool { return k.Cmp(p.KeyInt()) == 0 }) {
			return nil, fmt.Errorf("%w: %s holds no share of this wallet", ErrBadCommittee, p.Id)
		}
	}
	s := &Signing{c: c, digest: slices.Clone(digests), sigs: make([][64]byte, len(digests))}
	for i, d := range digests {
		key := *share.data() // a fresh deep copy per party: derivation mutates it
		kdd, child, err := derive(&key, d.Tweak)
		if err != nil {
			return nil, err
		}
		params := tss.NewParameters(tss.S256(), tss.NewPeerContext(c.ids), c.self, len(members), threshold-1)
		in := newInstance(c, strconv.Itoa(i)+"/", signingSpecs)
		end := make(chan *common.SignatureData, 1)
		in.party = signing.NewLocalPartyWithKDD(new(big.Int).SetBytes(d.Hash[:]), params, key, kdd, in.out, end, 32)
		s.insts = append(s.insts, in)
		s.ends = append(s.ends, end)
		s.keys = append(s.keys, child)
	}
	return s, nil
}

// derive moves key to the child key wallet+tweak, as tss-lib's HD signing
// expects, and returns the delta to pass it (nil for a zero tweak) and the
// child public key.
func derive(key *keygen.LocalPartySaveData, tweak [32]byte) (*big.Int, *btcec.PublicKey, error) {
	ec := tss.S256()
	delta := new(big.Int).SetBytes(tweak[:])
	if delta.Cmp(ec.Params().N) >= 0 {
		return nil, nil, fmt.Errorf("mpc: tweak is not below the curve order")
	}
	point := key.ECDSAPub
	var kdd *big.Int
	if delta.Sign() != 0 {
		var err error
		if point, err = key.ECDSAPub.Add(crypto.ScalarBaseMult(ec, delta)); err != nil {
			return nil, nil, fmt.Errorf("mpc: derive child key: %w", err)
		}
		keys := []keygen.LocalPartySaveData{*key}
		pk := ecdsa.PublicKey{Curve: ec, X: point.X(), Y: point.Y()}
		if err := signing.UpdatePublicKeyAndAdjustBigXj(delta, keys, &pk, ec); err != nil {
			return nil, nil, fmt.Errorf("mpc: derive child key: %w", err)
		}
		*key, kdd = keys[0], delta
	}
	child, err := btcec.ParsePubKey(append([]byte{2 + byte(point.Y().Bit(0))}, point.X().FillBytes(make([]byte, 32))...))
	if err != nil {
		return nil, nil, fmt.Errorf("mpc: child key: %w", err)
	}
	return kdd, child, nil
}

// Start sends round one of every digest's signing.
func (s *Signing) Start() ([]Message, error) {
	var out []Message
	for _, in := range s.insts {
		msgs, err := in.start()
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

func (s *Signing) split(from string, m Message) (*instance, string, error) {
	idx, typeName, ok := strings.Cut(m.Type, "/")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil || i < 0 || i >= len(s.insts) || strconv.Itoa(i) != idx {
		return nil, "", badMessage(from, "type %q names no digest of this session", m.Type)
	}
	return s.insts[i], typeName, nil
}

// Check validates an incoming message before it is delivered.
func (s *Signing) Check(from string, m Message) error {
	in, typeName, err := s.split(from, m)
	if err != nil {
		return err
	}
	if err := in.checkSpec(from, typeName, m); err != nil {
		return err
	}
	_, err = parseTSS(s.c, from, typeName, m)
	return err
}

// Deliver hands a checked message to the protocol and returns what to send.
func (s *Signing) Deliver(from string, m Message) ([]Message, error) {
	in, typeName, err := s.split(from, m)
	if err != nil {
		return nil, err
	}
	i := slices.Index(s.insts, in)
	if s.ends[i] == nil {
		return nil, ErrFinished
	}
	pm, err := parseTSS(s.c, from, typeName, m)
	if err != nil {
		return nil, err
	}
	out, err := in.deliver(pm)
	if err != nil {
		return nil, err
	}
	select {
	case sd := <-s.ends[i]:
		if err := s.finish(i, sd); err != nil {
			return nil, err
		}
	default:
	}
	return out, nil
}

// finish checks one signature against the child key and our own digest.
func (s *Signing) finish(i int, sd *common.SignatureData) error {
	var r, sc btcec.ModNScalar
	if len(sd.R) != 32 || len(sd.S) != 32 || r.SetByteSlice(sd.R) || sc.SetByteSlice(sd.S) || sc.IsOverHalfOrder() {
		return &Error{Reason: fmt.Sprintf("digest %d: malformed signature", i)}
	}
	if !btcecdsa.NewSignature(&r, &sc).Verify(s.digest[i].Hash[:], s.keys[i]) {
		return &Error{Reason: fmt.Sprintf("digest %d: signature does not verify under the child key", i)}
	}
	copy(s.sigs[i][:32], sd.R)
	copy(s.sigs[i][32:], sd.S)
	s.ends[i] = nil
	s.done++
	return nil
}

// Result returns the signatures (r||s, low S), one per digest, once every
// digest is signed; else nil.
func (s *Signing) Result() [][64]byte {
	if s.done < len(s.insts) {
		return nil
	}
	return slices.Clone(s.sigs)
}

// ChildKey is the key digest i's signature verifies under, compressed.
func (s *Signing) ChildKey(i int) [33]byte { return [33]byte(s.keys[i].SerializeCompressed()) }

// Waiting names the members whose messages are still needed.
func (s *Signing) Waiting() []string {
	var w []string
	for i, in := range s.insts {
		if s.ends[i] != nil {
			w = append(w, in.waiting()...)
		}
	}
	slices.Sort(w)
	return slices.Compact(w)
}
