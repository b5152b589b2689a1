package policy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/policytest"
)

// FuzzParseBundle: ParseBundle never panics, and whatever it accepts is a
// bundle that keeps every promise of its checks, which Decide, Accept and
// AcceptGenesis then handle without panicking.
func FuzzParseBundle(f *testing.F) {
	full := policytest.Marshal(f, fullBundle())
	f.Add(full)
	f.Add(policytest.Marshal(f, policytest.Genesis(cluster)))
	f.Add(policytest.Marshal(f, testBundle(hotWallet())))
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, full); err != nil {
		f.Fatal(err)
	}
	f.Add(compact.Bytes())
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":1,"cluster":"c","version":1,"officers":[],"change_quorum":1,"wallets":{}}`))
	f.Add(append(bytes.Clone(full), '}'))
	f.Add(bytes.Replace(full, []byte(`"version": 1`), []byte(`"version": 1, "version": 2`), 1))

	r := request(f, allowed, 500_000)
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := policy.ParseBundle(raw)
		if err != nil {
			if b != nil || !errors.Is(err, policy.ErrBundle) {
				t.Fatalf("refused with %v and %v", b, err)
			}
			return
		}
		checkBundleInvariants(t, b, raw)

		d := b.Decide(r)
		if d.PolicyHash != b.Hash() || d.PolicyVersion != b.Version || d.Allowed != (d.Rule == "") ||
			(d.Allowed && (d.Tx == nil || d.Reason != "")) || (!d.Allowed && d.Reason == "") {
			t.Fatalf("inconsistent decision %+v", d)
		}
		if _, err := policy.AcceptGenesis(raw, nil); !errors.Is(err, policy.ErrSignatures) {
			t.Fatalf("an unsigned genesis bundle: %v", err)
		}
		if _, _, err := policy.Accept(b, raw, nil); !errors.Is(err, policy.ErrVersion) {
			t.Fatalf("a bundle accepted over itself: %v", err)
		}
	})
}

// checkBundleInvariants fails t if b, parsed from raw, breaks a promise
// of ParseBundle.
func checkBundleInvariants(t *testing.T, b *policy.Bundle, raw []byte) {
	t.Helper()
	if !bytes.Equal(b.Raw(), raw) || b.Hash() != sha256.Sum256(raw) {
		t.Fatal("the bundle is not its exact bytes")
	}
	if (b.Format != policy.BundleFormat && b.Format != policy.BundleFormat1) || b.Version < 1 || b.Cluster == "" {
		t.Fatalf("format %d, version %d, cluster %q", b.Format, b.Version, b.Cluster)
	}
	if len(b.Officers) < 1 || len(b.Officers) > policy.MaxOfficers || b.ChangeQuorum < 1 || b.ChangeQuorum > len(b.Officers) {
		t.Fatalf("quorum %d of %d officers", b.ChangeQuorum, len(b.Officers))
	}
	names, fingerprints := map[string]bool{}, map[string]bool{}
	for _, o := range b.Officers {
		if o.Name == "" || o.Key.IsZero() || names[o.Name] || fingerprints[o.Key.Fingerprint()] {
			t.Fatalf("officer %q: no name, no key, or not unique", o.Name)
		}
		names[o.Name], fingerprints[o.Key.Fingerprint()] = true, true
	}
	for g, members := range b.Groups {
		if len(members) == 0 {
			t.Fatalf("group %s is empty", g)
		}
		for _, m := range members {
			if _, ok := b.Officer(m); !ok || !b.InGroup(m, g) {
				t.Fatalf("group %s: %q is not an officer", g, m)
			}
		}
	}
	for id, w := range b.Wallets {
		if w == nil {
			t.Fatalf("wallet %s is nil", id)
		}
		if !strings.HasPrefix(id, "w-") || len(id) != 18 {
			t.Fatalf("wallet id %q", id)
		}
		c, params := w.ChainOf()
		if c == nil || params == nil || (w.Chain != "" && c.Name() != w.Chain) || params.Network() != w.Network {
			t.Fatalf("wallet %s: chain %q, network %q not checked", id, w.Chain, w.Network)
		}
		if !slices.Contains([]string{policy.RoleHot, policy.RoleWarm, policy.RoleCold}, w.Role) {
			t.Fatalf("wallet %s: role %q", id, w.Role)
		}
		if len(w.AssetLimits()) == 0 || w.FeeCap().Sign() <= 0 || w.Limits(params.FeeAsset()) == nil {
			t.Fatalf("wallet %s: assets %v, fee cap %v", id, w.AssetLimits(), w.FeeCap())
		}
		for _, l := range w.AssetLimits() {
			if _, ok := params.Decimals(l.Asset); !ok || l.MaxAmount.Sign() <= 0 || l.DailyCap.Cmp(l.MaxAmount) < 0 || l.WeeklyCap.Cmp(l.DailyCap) < 0 {
				t.Fatalf("wallet %s: caps %+v", id, l)
			}
		}
		if w.Role == policy.RoleCold && (w.AnyDestination || len(w.Destinations) == 0) {
			t.Fatalf("cold wallet %s is not allowlisted", id)
		}
		if !w.AnyDestination && len(w.Destinations) == 0 {
			t.Fatalf("wallet %s pays nobody", id)
		}
		if len(w.Originators) == 0 || len(w.Rules) > policy.MaxRules {
			t.Fatalf("wallet %s: %d originators, %d rules", id, len(w.Originators), len(w.Rules))
		}
		tiers := w.Tiers()
		for i, tier := range tiers {
			members := b.Groups[tier.Group]
			if tier.MinAmount.Sign() <= 0 || w.Limits(tier.Asset) == nil || (i > 0 && tier.Asset == tiers[i-1].Asset && tier.MinAmount.Cmp(tiers[i-1].MinAmount) <= 0) ||
				tier.Approvals < 1 || tier.Approvals > len(members) {
				t.Fatalf("wallet %s: tier %d %+v of a group of %d", id, i, tier, len(members))
			}
		}
	}
}

// FuzzParseStatement: a statement has one encoding. Whatever parses
// re-encodes byte for byte, so no two statements mean the same approval.
func FuzzParseStatement(f *testing.F) {
	a := policy.Approval{
		Verdict: policy.VerdictApprove, WithdrawalID: "wd-1", RequestHash: sha256.Sum256([]byte("r")),
		TxID: strings.Repeat("ab", 32), PolicyHash: sha256.Sum256([]byte("p")),
		Expires: time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC), Reason: "payout",
	}
	f.Add(a.Statement())
	a.Verdict, a.Reason = policy.VerdictReject, ""
	f.Add(a.Statement())
	good := string(a.Statement())
	f.Add([]byte(strings.ReplaceAll(good, "\n", "\r\n")))
	f.Add([]byte(strings.Replace(good, "verdict reject", "verdict  reject", 1)))
	f.Add([]byte(strings.Replace(good, "13:00:00Z", "14:00:00+01:00", 1)))
	f.Add([]byte(strings.ToUpper(good)))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := policy.ParseStatement(raw)
		if err != nil {
			var ae *policy.ApprovalError
			if !errors.As(err, &ae) || ae.Rule != policy.ApprovalMalformed {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if st := a.Statement(); !bytes.Equal(st, raw) {
			t.Fatalf("parsed\n%q\nre-encodes as\n%q", raw, st)
		}
		if a.Verdict != policy.VerdictApprove && a.Verdict != policy.VerdictReject {
			t.Fatalf("verdict %q", a.Verdict)
		}
		if len(a.Reason) > 200 || strings.ContainsAny(a.Reason, "\x00\t\r\n\x1b\x7f") {
			t.Fatalf("reason %q", a.Reason)
		}
		again, err := policy.ParseStatement(a.Statement())
		if err != nil || again.RequestHash != a.RequestHash || again.PolicyHash != a.PolicyHash || !again.Expires.Equal(a.Expires) {
			t.Fatalf("does not parse again: %+v, %v", again, err)
		}
	})
}
