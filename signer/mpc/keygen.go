package mpc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// Message types of countersign's chain-code ceremony, run beside tss-lib's
// key generation: every member commits to 32 random bytes in round 1 and
// reveals them once the key is generated; the chain code hashes all reveals,
// so no member chooses it.
const (
	TypeChainCodeCommit = "countersign.keygen.ChainCodeCommit"
	TypeChainCodeReveal = "countersign.keygen.ChainCodeReveal"
)

var keygenSpecs = map[string]msgSpec{
	kgRound1:            {1, true},
	kgRound2M1:          {2, false},
	kgRound2M2:          {2, true},
	kgRound3:            {3, true},
	TypeChainCodeCommit: {1, true},
	TypeChainCodeReveal: {4, true},
}

// KeygenResult is what a finished key generation leaves a node with.
type KeygenResult struct {
	Share     *Share
	PublicKey [33]byte
	ChainCode [32]byte
}

// Keygen is one node's part of a distributed key generation.
type Keygen struct {
	c         *committee
	inst      *instance
	end       chan *keygen.LocalPartySaveData
	sessionID []byte
	threshold int // signatures need threshold nodes

	saved     *keygen.LocalPartySaveData
	myRandom  [32]byte
	commits   map[string][32]byte
	reveals   map[string][32]byte
	revealed  bool
	paillierN map[string]*big.Int
	result    *KeygenResult
}

// NewKeygen prepares a key generation among members (sorted node ids) where
// any threshold of them can sign.
func NewKeygen(sessionID []byte, self string, members []string, threshold int, pre *PreParams) (*Keygen, error) {
	c, err := newCommittee(self, members)
	if err != nil {
		return nil, err
	}
	if threshold < 2 || threshold > len(members) {
		return nil, fmt.Errorf("%w: threshold %d of %d", ErrBadCommittee, threshold, len(members))
	}
	if pre == nil || !pre.p.ValidateWithProof() {
		return nil, ErrBadPreParams
	}
	k := &Keygen{
		c: c, sessionID: slices.Clone(sessionID), threshold: threshold,
		end:       make(chan *keygen.LocalPartySaveData, 1),
		commits:   map[string][32]byte{},
		reveals:   map[string][32]byte{},
		paillierN: map[string]*big.Int{},
	}
	if _, err := rand.Read(k.myRandom[:]); err != nil {
		return nil, err
	}
	k.commits[self] = k.commitment(self, k.myRandom)
	k.reveals[self] = k.myRandom
	params := tss.NewParameters(tss.S256(), tss.NewPeerContext(c.ids), c.self, len(members), threshold-1)
	k.inst = newInstance(c, "", keygenSpecs)
	k.inst.party = keygen.NewLocalParty(params, k.inst.out, k.end, pre.p)
	return k, nil
}

func (k *Keygen) commitment(node string, r [32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("countersign/chain-code-commit/v1\x00"))
	h.Write(k.sessionID)
	h.Write([]byte(node + "\x00"))
	h.Write(r[:])
	return [32]byte(h.Sum(nil))
}

// Start sends round one.
func (k *Keygen) Start() ([]Message, error) {
	msgs, err := k.inst.start()
	if err != nil {
		return nil, err
	}
	c := k.commits[k.c.self.Id]
	return append([]Message{{Type: TypeChainCodeCommit, Payload: c[:], Broadcast: true}}, msgs...), nil
}

// Check validates an incoming message from a committee member before it is
// delivered. It keeps what later checks need (the sender's Paillier
// modulus), so call it once per message, in the order received.
func (k *Keygen) Check(from string, m Message) error {
	if err := k.inst.checkSpec(from, m.Type, m); err != nil {
		return err
	}
	switch m.Type {
	case TypeChainCodeCommit, TypeChainCodeReveal:
		if p, ok := k.c.byNode[from]; !ok || p == k.c.self {
			return badMessage(from, "sender is not another member of the committee")
		}
		if len(m.Payload) != 32 {
			return badMessage(from, "%s of %d bytes, want 32", m.Type, len(m.Payload))
		}
		return nil
	}
	pm, err := parseTSS(k.c, from, m.Type, m)
	if err != nil {
		return err
	}
	switch m.Type {
	case kgRound1:
		k.paillierN[from] = pm.Content().(*keygen.KGRound1Message).UnmarshalPaillierPK().N
	case kgRound2M1:
		return checkKeygenRound2M1(from, pm)
	case kgRound2M2:
		return checkKeygenRound2M2(from, pm, k.threshold-1, k.paillierN[from])
	}
	return nil
}

// Deliver hands a checked message to the protocol and returns what to send.
func (k *Keygen) Deliver(from string, m Message) ([]Message, error) {
	if k.result != nil {
		return nil, ErrFinished
	}
	var out []Message
	switch m.Type {
	case TypeChainCodeCommit:
		k.commits[from] = [32]byte(m.Payload)
	case TypeChainCodeReveal:
		r := [32]byte(m.Payload)
		if c, ok := k.commits[from]; !ok || c != k.commitment(from, r) {
			return nil, &Error{Reason: fmt.Sprintf("chain code reveal of %s does not match its commitment", from), Culprits: []string{from}}
		}
		k.reveals[from] = r
	default:
		pm, err := parseTSS(k.c, from, m.Type, m)
		if err != nil {
			return nil, err
		}
		if out, err = k.inst.deliver(pm); err != nil {
			return nil, err
		}
		select {
		case k.saved = <-k.end:
		default:
		}
	}
	return k.advance(out)
}

// advance reveals our chain-code randomness once the key exists and every
// commitment is in, and finishes once every reveal is in.
func (k *Keygen) advance(out []Message) ([]Message, error) {
	n := len(k.c.ids)
	if k.saved != nil && !k.revealed && len(k.commits) == n {
		k.revealed = true
		out = append(out, Message{Type: TypeChainCodeReveal, Payload: k.myRandom[:], Broadcast: true})
		k.inst.round = 4
	}
	if k.saved == nil || !k.revealed || len(k.reveals) != n {
		return out, nil
	}
	h := sha256.New()
	h.Write([]byte("countersign/chain-code/v1\x00"))
	h.Write(k.sessionID)
	for _, p := range k.c.ids { // sorted by party key, the same order everywhere
		r := k.reveals[p.Id]
		h.Write(r[:])
	}
	raw, err := json.Marshal(k.saved)
	if err != nil {
		return nil, err
	}
	share, err := ParseShare(raw)
	if err != nil {
		return nil, err
	}
	k.result = &KeygenResult{Share: share, PublicKey: share.PublicKey(), ChainCode: [32]byte(h.Sum(nil))}
	return out, nil
}

// Result is the outcome once the protocol has finished, else nil.
func (k *Keygen) Result() *KeygenResult { return k.result }

// Waiting names the members whose messages the current round still needs.
func (k *Keygen) Waiting() []string {
	w := k.inst.waiting()
	if k.saved != nil {
		for _, p := range k.c.ids {
			if _, ok := k.reveals[p.Id]; !ok {
				w = append(w, p.Id)
			}
		}
	}
	slices.Sort(w)
	return slices.Compact(w)
}

// ChainCodeHash lets members compare chain codes without revealing them.
func ChainCodeHash(cc [32]byte) [32]byte {
	return sha256.Sum256(append([]byte("countersign/chain-code-hash/v1\x00"), cc[:]...))
}
