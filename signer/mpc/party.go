package mpc

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/tss"
	logging "github.com/ipfs/go-log"
)

func init() {
	// tss-lib logs every round at INFO; the session layer logs what matters.
	_ = logging.SetLogLevel("tss-lib", "error")
}

// partyKey is the tss-lib party key of a node: a hash of its node id, so a
// node has the same key in every wallet and every committee.
func partyKey(nodeID string) *big.Int {
	h := sha256.Sum256([]byte("countersign/party-key/v1\x00" + nodeID))
	k := new(big.Int).SetBytes(h[:])
	return k.Mod(k, tss.S256().Params().N)
}

// committee maps node ids to tss-lib party ids and back.
type committee struct {
	self   *tss.PartyID
	ids    tss.SortedPartyIDs
	byNode map[string]*tss.PartyID
}

func newCommittee(self string, members []string) (*committee, error) {
	if len(members) < 2 || len(members) > MaxCommittee {
		return nil, fmt.Errorf("%w: %d members, want 2 to %d", ErrBadCommittee, len(members), MaxCommittee)
	}
	if !slices.IsSorted(members) || len(slices.Compact(slices.Clone(members))) != len(members) {
		return nil, fmt.Errorf("%w: members must be sorted and distinct", ErrBadCommittee)
	}
	if !slices.Contains(members, self) {
		return nil, fmt.Errorf("%w: %s is not a member", ErrBadCommittee, self)
	}
	unsorted := make(tss.UnSortedPartyIDs, 0, len(members))
	for _, m := range members {
		unsorted = append(unsorted, tss.NewPartyID(m, m, partyKey(m)))
	}
	c := &committee{ids: tss.SortPartyIDs(unsorted), byNode: map[string]*tss.PartyID{}}
	for _, p := range c.ids {
		c.byNode[p.Id] = p
	}
	c.self = c.byNode[self]
	return c, nil
}

func (c *committee) nodes(ps []*tss.PartyID) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, p.Id)
		}
	}
	slices.Sort(out)
	return out
}

// wrapTSS turns a tss-lib error into an *Error naming culprits by node id.
func (c *committee) wrapTSS(what string, err *tss.Error) error {
	if err == nil {
		return nil
	}
	return &Error{Reason: what + ": " + err.Error(), Culprits: c.nodes(err.Culprits()), cause: err}
}
