package auditlog

import (
	"math/big"
	"slices"
	"sort"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
)

// window is one wallet's velocity as a node's store counts it
// (store.Outflow), rebuilt from a log: the outflow per asset of the
// allowed withdrawals decided in the rolling 24 hours and 7 days before a
// decision, neither rejected nor failed since, the withdrawal decided
// excluded. Each recorded decision adds its own outflow (OutflowOf).
//
// The sums are kept as decisions move on, so that a decision costs the
// withdrawals that leave the windows, not all of a week's: a log's
// decisions come in time order. One that does not (a node's clock set
// back) is placed in order and the sums are counted again. A withdrawal
// that left the 7-day window of a decision is out of it for good, as it
// was in replay before the sums were kept.
type window struct {
	spends    []*spend // sorted by time; those before weekHead are out of every window
	byID      map[string][]*spend
	weekHead  int // the first spend in the 7-day window
	dayHead   int // the first in the 24-hour window
	day, week sums
	now       time.Time // the time the sums are at
	dirty     bool      // the sums and heads must be counted again
}

// spend is an allowed decision's outflow.
type spend struct {
	id      string
	at      time.Time
	outflow sums
	gone    bool // rejected or failed since
	dropped bool // out of the 7-day window of a decision: out for good
}

// sums are amounts per asset, added and taken away in place.
type sums map[string]*big.Int

func (s sums) add(o sums, sign int) {
	for asset, x := range o {
		v := s[asset]
		if v == nil {
			v = new(big.Int)
			s[asset] = v
		}
		if sign < 0 {
			v.Sub(v, x)
		} else {
			v.Add(v, x)
		}
	}
}

func sumsOf(a chain.Amounts) sums {
	s := sums{}
	for asset, x := range a {
		if !x.IsZero() {
			s[asset] = x.Big()
		}
	}
	return s
}

// amounts returns the sums that are not zero, nil if none; false if one
// is not an amount (2^256 or more: no real log's).
func (s sums) amounts() (chain.Amounts, bool) {
	var out chain.Amounts
	for asset, b := range s {
		if b.Sign() == 0 {
			continue
		}
		a, ok := chain.AmountFromBig(b)
		if !ok {
			return nil, false
		}
		if out == nil {
			out = chain.Amounts{}
		}
		out[asset] = a
	}
	return out, true
}

func newWindow() *window {
	return &window{byID: map[string][]*spend{}, day: sums{}, week: sums{}}
}

// compactAfter is how many spends out of every window are kept before
// they are dropped.
const compactAfter = 1024

// velocity returns the sums at now, without the withdrawal exclude; ok is
// false if a sum is out of range.
func (w *window) velocity(now time.Time, exclude string) (v policy.Velocity, ok bool) {
	if w.dirty || now.Before(w.now) {
		w.recount(now)
	} else {
		w.advance(now)
	}
	day, week := w.day, w.week
	if ex := w.byID[exclude]; len(ex) > 0 {
		day, week = clone(day), clone(week)
		for _, s := range ex {
			if !s.gone && !s.dropped {
				w.count(s, -1, day, week)
			}
		}
	}
	var dok, wok bool
	v.Day, dok = day.amounts()
	v.Week, wok = week.amounts()
	return v, dok && wok
}

func clone(s sums) sums {
	out := make(sums, len(s))
	for k, v := range s {
		out[k] = new(big.Int).Set(v)
	}
	return out
}

// advance moves the windows on to now, taking away what leaves them.
func (w *window) advance(now time.Time) {
	w.now = now
	dayCut, weekCut := now.Add(-policy.Day), now.Add(-policy.Week)
	for ; w.dayHead < len(w.spends) && w.spends[w.dayHead].at.Before(dayCut); w.dayHead++ {
		if s := w.spends[w.dayHead]; !s.gone {
			w.day.add(s.outflow, -1)
		}
	}
	for ; w.weekHead < len(w.spends) && w.spends[w.weekHead].at.Before(weekCut); w.weekHead++ {
		s := w.spends[w.weekHead]
		if !s.gone {
			w.week.add(s.outflow, -1)
		}
		s.dropped = true
	}
	if w.weekHead > compactAfter && w.weekHead > len(w.spends)/2 {
		for _, s := range w.spends[:w.weekHead] {
			w.byID[s.id] = slices.DeleteFunc(w.byID[s.id], func(o *spend) bool { return o == s })
			if len(w.byID[s.id]) == 0 {
				delete(w.byID, s.id)
			}
		}
		w.spends = slices.Delete(w.spends, 0, w.weekHead)
		w.dayHead -= w.weekHead
		w.weekHead = 0
	}
}

// recount counts the sums at now again from the spends kept.
func (w *window) recount(now time.Time) {
	w.now, w.dirty = now, false
	dayCut, weekCut := now.Add(-policy.Day), now.Add(-policy.Week)
	kept := w.spends[w.weekHead:]
	n := sort.Search(len(kept), func(i int) bool { return !kept[i].at.Before(weekCut) })
	for _, s := range kept[:n] {
		s.dropped = true
	}
	w.weekHead += n
	kept = w.spends[w.weekHead:]
	w.dayHead = w.weekHead + sort.Search(len(kept), func(i int) bool { return !kept[i].at.Before(dayCut) })
	w.day, w.week = sums{}, sums{}
	for i := w.weekHead; i < len(w.spends); i++ {
		if s := w.spends[i]; !s.gone {
			w.week.add(s.outflow, 1)
			if i >= w.dayHead {
				w.day.add(s.outflow, 1)
			}
		}
	}
}

// add counts an allowed decision of withdrawal id at at.
func (w *window) add(id string, at time.Time, outflow chain.Amounts) {
	s := &spend{id: id, at: at, outflow: sumsOf(outflow)}
	w.byID[id] = append(w.byID[id], s)
	if n := len(w.spends); n > 0 && at.Before(w.spends[n-1].at) {
		i := sort.Search(n, func(i int) bool { return at.Before(w.spends[i].at) })
		w.spends = slices.Insert(w.spends, max(i, w.weekHead), s) // before the kept ones only if the clock went back a week
		w.dirty = true
		return
	}
	w.spends = append(w.spends, s)
	if !w.dirty {
		w.count(s, 1, w.day, w.week)
	}
}

// count adds or takes away a kept spend in day and week, as it is in the
// windows at w.now: every kept one is in the 7-day window (what left it
// is dropped), and in the 24-hour one from its cut on.
func (w *window) count(s *spend, sign int, day, week sums) {
	if !s.at.Before(w.now.Add(-policy.Day)) {
		day.add(s.outflow, sign)
	}
	week.add(s.outflow, sign)
}

// remove takes a rejected or failed withdrawal out of the velocity.
func (w *window) remove(id string) {
	for _, s := range w.byID[id] {
		if !s.gone {
			s.gone = true
			if !w.dirty && !s.dropped {
				w.count(s, -1, w.day, w.week)
			}
		}
	}
}
