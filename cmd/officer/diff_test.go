package main

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/policytest"
)

func TestDiffBundles(t *testing.T) {
	base := func() *policy.Bundle {
		b := policytest.Genesis("lab")
		b.Wallets = map[string]*policy.WalletRules{"w-0123456789abcdef": {
			Name: "hot-1", Network: bitcoin.Regtest, Role: policy.RoleWarm,
			Destinations: []policy.Destination{{Address: allowedDest, Label: "cold storage"}},
			MaxAmountSat: 50_000_000, DailyCapSat: 100_000_000, WeeklyCapSat: 200_000_000, MaxFeeSat: 20_000,
			ApprovalTiers: []policy.Tier{{MinAmountSat: 10_000_000, Approvals: 2, Group: "treasury"}},
			Originators:   []policy.Originator{policytest.Ledger.Originator()},
		}}
		return &b
	}
	w := func(b *policy.Bundle) *policy.WalletRules { return b.Wallets["w-0123456789abcdef"] }
	for _, tc := range []struct {
		name   string
		change func(b *policy.Bundle)
		want   string // the one change expected, besides the version
		risky  bool
	}{
		{"new destination", func(b *policy.Bundle) {
			w(b).Destinations = append(w(b).Destinations, policy.Destination{Address: otherDest, Label: "b"})
		}, "NEW DESTINATION " + otherDest, true},
		{"any destination", func(b *policy.Bundle) { w(b).AnyDestination = true }, "ANY DESTINATION ALLOWED", true},
		{"cap raised", func(b *policy.Bundle) { w(b).WeeklyCapSat *= 2 }, "7d cap RAISED 2.00000000 -> 4.00000000 BTC", true},
		{"cap lowered", func(b *policy.Bundle) { w(b).MaxAmountSat /= 2 }, "per-withdrawal cap lowered", false},
		{"tier threshold raised", func(b *policy.Bundle) { w(b).ApprovalTiers[0].MinAmountSat *= 2 }, "APPROVAL TIERS WEAKENED", true},
		{"tier approvals raised", func(b *policy.Bundle) { w(b).ApprovalTiers[0].Approvals = 3 }, "approval tiers changed", false},
		{"tier moved to another group", func(b *policy.Bundle) {
			w(b).ApprovalTiers[0].Group, w(b).ApprovalTiers[0].Approvals = "security", 1
		}, "APPROVAL TIERS WEAKENED", true},
		{"tiers removed", func(b *policy.Bundle) { w(b).ApprovalTiers = nil }, "APPROVAL TIERS WEAKENED", true},
		{"officer key changed", func(b *policy.Bundle) { b.Officers[2].Key = policytest.Mallory.Key() }, "OFFICER KEY CHANGED: carol", true},
		{"officer added", func(b *policy.Bundle) { b.Officers = append(b.Officers, policytest.Mallory.Officer()) }, "NEW OFFICER mallory", true},
		{"quorum lowered", func(b *policy.Bundle) { b.ChangeQuorum = 1 }, "CHANGE QUORUM LOWERED: 2 -> 1", true},
		{"quorum raised", func(b *policy.Bundle) { b.ChangeQuorum = 3 }, "change quorum raised", false},
		{"group gains", func(b *policy.Bundle) { b.Groups["security"] = []string{"carol", "alice"} }, "group security GAINS alice", true},
		{"originator added", func(b *policy.Bundle) {
			w(b).Originators = append(w(b).Originators, policytest.Mallory.Originator())
		}, "NEW ORIGINATOR mallory", true},
		{"cold to hot", func(b *policy.Bundle) { w(b).Role = policy.RoleHot }, "role warm -> hot", true},
		{"nothing else", func(b *policy.Bundle) {}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, next := base(), base()
			next.Version = 2
			tc.change(next)
			changes := diffBundles(cur, next)
			if changes[0].text != "version 1 -> 2" || changes[0].risky {
				t.Errorf("first change %+v, want the version", changes[0])
			}
			changes = changes[1:]
			if tc.want == "" {
				if len(changes) != 0 {
					t.Errorf("no change made, diff says %+v", changes)
				}
				return
			}
			if len(changes) != 1 || !strings.Contains(changes[0].text, tc.want) || changes[0].risky != tc.risky {
				t.Errorf("diff = %+v; want one change saying %q, risky %v", changes, tc.want, tc.risky)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{btc(25_000_000), "0.25000000"},
		{btc(2_100_000_000_000_000), "21000000.00000000"},
		{btc(-1), "-0.00000001"},
		{sats(0), "0 sat"},
		{sats(999), "999 sat"},
		{sats(1_000), "1,000 sat"},
		{sats(25_000_000), "25,000,000 sat"},
		{amount(1_410), "0.00001410 BTC (1,410 sat)"},
		{age(45 * time.Second), "45s"},
		{age(3*time.Hour + 5*time.Minute), "3h05m"},
		{age(50 * time.Hour), "2d02h"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestRequestHash pins the request hash to the node's definition: a
// known-answer vector, so a change on either side shows.
func TestRequestHash(t *testing.T) {
	in := bitcoin.Intent{WithdrawalID: "wd-1", WalletID: "w-0123456789abcdef", Network: bitcoin.Regtest, Asset: "BTC",
		Destination: allowedDest, Amount: 25_000_000, FeeCap: 10_000}
	got := policy.RequestHash(in, []byte("psbt\xff"))
	const want = "3148aae4b83367f13ea8db75c02f00e54c761045b79dd3d40c550906dbe11938" // sha256 of the tag, len, intent and PSBT, computed independently
	if h := hex.EncodeToString(got[:]); h != want {
		t.Errorf("requestHash = %s, want %s", h, want)
	}
}
