package auditlog

import (
	"sort"
	"sync"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
)

// nonceLog is the account nonces that a log's own allowed decisions hold,
// kept as a node's store keeps them (store.Nonce), so that replay can
// answer a re-run decision's policy.NonceBook as the node's store
// answered it:
//
//   - a withdrawal holds the nonce its recorded decision names
//     (NonceAccount, Nonce) from that decision on, unless it ends
//     rejected (a refused decision holds none; a failed withdrawal keeps
//     its nonce, since another node may have signed it);
//   - when two withdrawals hold one nonce (a replacement beside the one
//     it replaced), the later one is the holder;
//   - an account's next nonce is one above the highest held.
//
// Decisions are re-run on a worker pool while the log is read on, so the
// state keeps its history: a view at record seq sees what was held after
// every record before seq, and nothing after. Holds are never forgotten:
// memory grows with the log's allowed withdrawals on account chains.
type nonceLog struct {
	mu       sync.RWMutex
	accounts map[string]*accountNonces
}

type accountNonces struct {
	holds  map[uint64][]*nonceHold // by nonce, in log order
	active map[uint64]int          // the nonces held now, by how many withdrawals
	next   []nextAt                // the next nonce after each change, in log order
}

// nextAt is an account's next nonce from a record on.
type nextAt struct {
	seq   uint64
	next  uint64
	known bool
}

// nonceHold is one withdrawal holding one nonce.
type nonceHold struct {
	account string
	nonce   uint64
	id      string
	intent  chain.Intent
	fee     chain.Amount
	// from is the decision's record; until the rejection's, 0 while held.
	from, until uint64
}

func newNonceLog() *nonceLog {
	return &nonceLog{accounts: map[string]*accountNonces{}}
}

// current returns the next nonce after the last change.
func (a *accountNonces) current() nextAt {
	if len(a.next) == 0 {
		return nextAt{}
	}
	return a.next[len(a.next)-1]
}

// hold records that withdrawal id, decided at record seq, holds nonce of
// account.
func (l *nonceLog) hold(seq uint64, account string, nonce uint64, id string, in chain.Intent, fee chain.Amount) *nonceHold {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil {
		a = &accountNonces{holds: map[uint64][]*nonceHold{}, active: map[uint64]int{}}
		l.accounts[account] = a
	}
	h := &nonceHold{account: account, nonce: nonce, id: id, intent: in, fee: fee, from: seq}
	a.holds[nonce] = append(a.holds[nonce], h)
	a.active[nonce]++
	if cur := a.current(); !cur.known || nonce+1 > cur.next {
		a.next = append(a.next, nextAt{seq: seq, next: nonce + 1, known: true})
	}
	return h
}

// release records that h's withdrawal was rejected at record seq: it holds
// its nonce no more.
func (l *nonceLog) release(seq uint64, h *nonceHold) {
	if h == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.until != 0 {
		return
	}
	h.until = seq
	a := l.accounts[h.account]
	if a.active[h.nonce]--; a.active[h.nonce] > 0 {
		return
	}
	delete(a.active, h.nonce)
	cur := a.current()
	switch {
	case len(a.active) == 0:
		a.next = append(a.next, nextAt{seq: seq})
	case h.nonce+1 == cur.next: // the highest is no longer held
		a.next = append(a.next, nextAt{seq: seq, next: a.highest(h.nonce) + 1, known: true})
	}
}

// highest returns the highest nonce held, all below below.
func (a *accountNonces) highest(below uint64) uint64 {
	const steps = 1024 // held nonces are dense: the next one down is near
	for n, i := below, 0; n > 0 && i < steps; i++ {
		n--
		if a.active[n] > 0 {
			return n
		}
	}
	var top uint64
	for n := range a.active {
		top = max(top, n)
	}
	return top
}

// at returns the nonces as a decision at record seq reads them: held by
// decisions before it, and the holder not the withdrawal exclude (the one
// being decided), as the node's own book does.
func (l *nonceLog) at(seq uint64, exclude string) policy.NonceBook {
	return nonceView{l, seq, exclude}
}

type nonceView struct {
	log     *nonceLog
	seq     uint64
	exclude string
}

var _ policy.NonceBook = nonceView{}

func (v nonceView) Nonce(account string, nonce uint64) policy.NonceState {
	v.log.mu.RLock()
	defer v.log.mu.RUnlock()
	a := v.log.accounts[account]
	if a == nil {
		return policy.NonceState{}
	}
	var st policy.NonceState
	if i := sort.Search(len(a.next), func(i int) bool { return a.next[i].seq >= v.seq }) - 1; i >= 0 {
		st.Known, st.Next = a.next[i].known, a.next[i].next
	}
	holds := a.holds[nonce]
	for i := len(holds) - 1; i >= 0; i-- {
		h := holds[i]
		if h.from >= v.seq || (h.until != 0 && h.until < v.seq) {
			continue
		}
		if h.id != v.exclude { // the latest holder; none if it is the one being decided
			st.Holder, st.HolderIntent, st.HolderFee = h.id, h.intent, h.fee
		}
		break
	}
	return st
}
