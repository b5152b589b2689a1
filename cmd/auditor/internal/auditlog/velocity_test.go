package auditlog

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
)

// refWindow is the velocity as replay counted it before the sums were
// kept: every decision sums the list again, and drops what left the week.
type refWindow struct {
	list []refSpend
}

type refSpend struct {
	id      string
	at      time.Time
	outflow chain.Amounts
}

func (r *refWindow) velocity(now time.Time, exclude string) policy.Velocity {
	var v policy.Velocity
	day, week := now.Add(-policy.Day), now.Add(-policy.Week)
	r.list = slices.DeleteFunc(r.list, func(s refSpend) bool { return s.at.Before(week) })
	v.Day, v.Week = chain.Amounts{}, chain.Amounts{}
	for _, s := range r.list {
		if s.id == exclude {
			continue
		}
		for asset, a := range s.outflow {
			v.Week[asset], _ = v.Week[asset].Add(a)
			if !s.at.Before(day) {
				v.Day[asset], _ = v.Day[asset].Add(a)
			}
		}
	}
	return v
}

// TestWindow: the kept sums are the sums counted again at every
// decision, through decisions in time order and out of it (a clock set
// back), rejections and failures, a withdrawal decided twice, assets
// beyond 64 bits, and the dropping of what left the windows.
func TestWindow(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := mrand.New(mrand.NewPCG(seed, 9))
			w, ref := newWindow(), &refWindow{}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			latest := now
			var ids []string
			for i := range 5000 {
				switch r := rnd.IntN(100); {
				case r < 3: // the clock set back, at most two days behind the latest decision
					now = now.Add(-time.Duration(rnd.Int64N(int64(48 * time.Hour))))
					if floor := latest.Add(-48 * time.Hour); now.Before(floor) {
						now = floor
					}
				case r < 10 && len(ids) > 0: // a rejection or a failure
					id := ids[rnd.IntN(len(ids))]
					w.remove(id)
					ref.list = slices.DeleteFunc(ref.list, func(s refSpend) bool { return s.id == id })
					continue
				default:
					now = now.Add(time.Duration(rnd.Int64N(int64(2 * time.Hour))))
				}
				if now.After(latest) {
					latest = now
				}
				id := fmt.Sprintf("wd-%d", i)
				if rnd.IntN(50) == 0 && len(ids) > 0 {
					id = ids[rnd.IntN(len(ids))] // decided again
				}
				got, ok := w.velocity(now, id)
				want := ref.velocity(now, id)
				if !ok || !amountsEqual(got.Day, want.Day) || !amountsEqual(got.Week, want.Week) {
					t.Fatalf("step %d at %s: day %s week %s, want day %s week %s", i, now, showAmounts(got.Day), showAmounts(got.Week),
						showAmounts(want.Day), showAmounts(want.Week))
				}
				out := chain.Amounts{"BTC": chain.AmountOf(rnd.Uint64N(1e9))}
				if rnd.IntN(3) == 0 {
					wei, _ := chain.AmountOf(rnd.Uint64()).Mul(chain.AmountOf(1e12))
					out = chain.Amounts{"ETH": wei, "USDC": chain.AmountOf(rnd.Uint64N(1e12)), "BTC": chain.AmountOf(0)}
				}
				w.add(id, now, out)
				ref.list = append(ref.list, refSpend{id, now, out})
				ids = append(ids, id)
			}
			if len(w.spends) > 4*compactAfter {
				t.Errorf("%d spends kept: what left the windows is not dropped", len(w.spends))
			}
		})
	}
}
