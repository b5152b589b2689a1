package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/countersign/countersign/policy"
)

// change is one difference between two bundles. Risky changes widen what
// can be paid, to whom, how fast, or who decides: they are marked loudly.
type change struct {
	risky bool
	text  string
}

// diffBundles lists what next changes from cur.
func diffBundles(cur, next *policy.Bundle) []change {
	var out []change
	add := func(risky bool, format string, a ...any) {
		out = append(out, change{risky: risky, text: fmt.Sprintf(format, a...)})
	}
	if next.Cluster != cur.Cluster {
		add(true, "cluster %q becomes %q: the nodes will refuse this bundle", cur.Cluster, next.Cluster)
	}
	if next.Version <= cur.Version {
		add(true, "version %d is not above %d: the nodes will refuse this bundle", next.Version, cur.Version)
	} else {
		add(false, "version %d -> %d", cur.Version, next.Version)
	}
	if next.Description != cur.Description {
		add(false, "description: %q", next.Description)
	}

	for _, o := range next.Officers {
		old, ok := cur.Officer(o.Name)
		switch {
		case !ok:
			add(true, "NEW OFFICER %s with key %s %s", o.Name, o.Key.Type(), o.Key.Fingerprint())
		case !old.Key.Equal(o.Key):
			add(true, "OFFICER KEY CHANGED: %s's key %s becomes %s %s", o.Name, old.Key.Fingerprint(), o.Key.Type(), o.Key.Fingerprint())
		}
	}
	for _, o := range cur.Officers {
		if _, ok := next.Officer(o.Name); !ok {
			add(true, "OFFICER REMOVED: %s", o.Name)
		}
	}
	switch {
	case next.ChangeQuorum < cur.ChangeQuorum:
		add(true, "CHANGE QUORUM LOWERED: %d -> %d officers sign the next bundle", cur.ChangeQuorum, next.ChangeQuorum)
	case next.ChangeQuorum > cur.ChangeQuorum:
		add(false, "change quorum raised: %d -> %d", cur.ChangeQuorum, next.ChangeQuorum)
	}
	for _, g := range union(sortedKeys(cur.Groups), sortedKeys(next.Groups)) {
		was, is := cur.Groups[g], next.Groups[g]
		switch {
		case was == nil:
			add(true, "NEW GROUP %s: %s", g, strings.Join(is, ", "))
		case is == nil:
			add(false, "group %s removed (was %s)", g, strings.Join(was, ", "))
		default:
			for _, m := range is {
				if !slices.Contains(was, m) {
					add(true, "group %s GAINS %s", g, m)
				}
			}
			for _, m := range was {
				if !slices.Contains(is, m) {
					add(true, "group %s loses %s (approvals from it may get harder or easier to collect)", g, m)
				}
			}
		}
	}

	for _, id := range union(sortedKeys(cur.Wallets), sortedKeys(next.Wallets)) {
		was, is := cur.Wallets[id], next.Wallets[id]
		switch {
		case was == nil:
			add(true, "NEW WALLET %s %q (%s, %s): %s", id, is.Name, is.Role, is.Network, walletBrief(is))
			for _, d := range is.Destinations {
				add(true, "  wallet %s: NEW DESTINATION %s %q", id, d.Address, d.Label)
			}
		case is == nil:
			add(false, "wallet %s %q removed: it can no longer pay", id, was.Name)
		default:
			out = append(out, diffWallet(id, was, is)...)
		}
	}
	return out
}

func walletBrief(r *policy.WalletRules) string {
	dest := fmt.Sprintf("%d allowlisted destinations", len(r.Destinations))
	if r.AnyDestination {
		dest = "ANY DESTINATION"
	}
	return fmt.Sprintf("%s, at most %s BTC per withdrawal, %s BTC per 24h, %s BTC per 7d, %d approval tiers",
		dest, btc(r.MaxAmountSat), btc(r.DailyCapSat), btc(r.WeeklyCapSat), len(r.ApprovalTiers))
}

func diffWallet(id string, was, is *policy.WalletRules) []change {
	var out []change
	add := func(risky bool, format string, a ...any) {
		out = append(out, change{risky: risky, text: fmt.Sprintf("wallet %s: ", id) + fmt.Sprintf(format, a...)})
	}
	if was.Name != is.Name {
		add(false, "renamed %q -> %q", was.Name, is.Name)
	}
	if was.Network != is.Network {
		add(true, "NETWORK CHANGED %s -> %s", was.Network, is.Network)
	}
	if was.Role != is.Role {
		add(roleRank(is.Role) > roleRank(was.Role), "role %s -> %s", was.Role, is.Role)
	}
	if was.AnyDestination != is.AnyDestination {
		if is.AnyDestination {
			add(true, "ANY DESTINATION ALLOWED: the allowlist no longer applies")
		} else {
			add(false, "any_destination off: only the allowlist is paid")
		}
	}
	labels := map[string]string{}
	for _, d := range was.Destinations {
		labels[d.Address] = d.Label
	}
	now := map[string]bool{}
	for _, d := range is.Destinations {
		now[d.Address] = true
		old, ok := labels[d.Address]
		switch {
		case !ok:
			add(true, "NEW DESTINATION %s %q", d.Address, d.Label)
		case old != d.Label:
			add(true, "DESTINATION RELABELLED %s: %q -> %q", d.Address, old, d.Label)
		}
	}
	for _, d := range was.Destinations {
		if !now[d.Address] {
			add(false, "destination removed: %s %q", d.Address, d.Label)
		}
	}
	limit := func(name string, a, b int64) {
		switch {
		case b > a:
			add(true, "%s RAISED %s -> %s BTC", name, btc(a), btc(b))
		case b < a:
			add(false, "%s lowered %s -> %s BTC", name, btc(a), btc(b))
		}
	}
	limit("per-withdrawal cap", was.MaxAmountSat, is.MaxAmountSat)
	limit("24h cap", was.DailyCapSat, is.DailyCapSat)
	limit("7d cap", was.WeeklyCapSat, is.WeeklyCapSat)
	limit("fee cap", was.MaxFeeSat, is.MaxFeeSat)
	if was.AllowRBF != is.AllowRBF {
		add(is.AllowRBF, "RBF %s", yesNo(is.AllowRBF, "ALLOWED", "no longer allowed"))
	}
	if was.MaxLockTime != is.MaxLockTime {
		add(is.MaxLockTime > was.MaxLockTime, "lock time %s -> %s", lockTime(was.MaxLockTime), lockTime(is.MaxLockTime))
	}
	out = append(out, diffTiers(id, was.ApprovalTiers, is.ApprovalTiers)...)
	if hoursText(was.Hours) != hoursText(is.Hours) {
		add(is.Hours == nil, "hours %s -> %s", hoursText(was.Hours), hoursText(is.Hours))
	}
	origs := map[string]policy.Originator{}
	for _, o := range was.Originators {
		origs[o.Name] = o
	}
	for _, o := range is.Originators {
		old, ok := origs[o.Name]
		switch {
		case !ok:
			add(true, "NEW ORIGINATOR %s (%s): it may originate withdrawals", o.Name, o.Key.Fingerprint())
		case !old.Key.Equal(o.Key):
			add(true, "ORIGINATOR KEY CHANGED: %s %s -> %s", o.Name, old.Key.Fingerprint(), o.Key.Fingerprint())
		}
		delete(origs, o.Name)
	}
	for _, name := range sortedKeys(origs) {
		add(false, "originator removed: %s", name)
	}
	rules := map[string]policy.Rule{}
	for _, r := range was.Rules {
		rules[r.Name] = r
	}
	for _, r := range is.Rules {
		old, ok := rules[r.Name]
		switch {
		case !ok:
			add(false, "new rule %s: %s", r.Name, r.Expr)
		case old.Expr != r.Expr:
			add(true, "RULE CHANGED %s: %s -> %s", r.Name, old.Expr, r.Expr)
		}
		delete(rules, r.Name)
	}
	for _, name := range sortedKeys(rules) {
		add(true, "RULE REMOVED %s: %s", name, rules[name].Expr)
	}
	return out
}

// diffTiers compares approval tiers. A tier is weaker if an amount needs
// fewer approvals, or approvals from another group.
func diffTiers(id string, was, is []policy.Tier) []change {
	if slices.Equal(was, is) {
		return nil
	}
	text := func(ts []policy.Tier) string {
		if len(ts) == 0 {
			return "none"
		}
		var parts []string
		for _, t := range ts {
			parts = append(parts, fmt.Sprintf("from %s BTC %d of %s", btc(t.MinAmountSat), t.Approvals, t.Group))
		}
		return strings.Join(parts, "; ")
	}
	// Weaker if some amount at which the old tiers required approvals now
	// needs fewer, or another group's: check at every threshold.
	risky := false
	for _, t := range slices.Concat(was, is) {
		a, b := tierAt(was, t.MinAmountSat), tierAt(is, t.MinAmountSat)
		if a != nil && (b == nil || b.Approvals < a.Approvals || b.Group != a.Group) {
			risky = true
		}
	}
	label := "approval tiers changed"
	if risky {
		label = "APPROVAL TIERS WEAKENED"
	}
	return []change{{risky: risky, text: fmt.Sprintf("wallet %s: %s: %s -> %s", id, label, text(was), text(is))}}
}

// tierAt is the tier that applies to amount, nil if none.
func tierAt(ts []policy.Tier, amount int64) *policy.Tier {
	for i := len(ts) - 1; i >= 0; i-- {
		if amount >= ts[i].MinAmountSat {
			return &ts[i]
		}
	}
	return nil
}

func roleRank(role string) int {
	switch role {
	case policy.RoleCold:
		return 0
	case policy.RoleWarm:
		return 1
	}
	return 2
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// writeDiff writes changes for people, risky ones loudly, and returns how
// many are risky.
func writeDiff(w io.Writer, changes []change) int {
	risky := 0
	for _, ch := range changes {
		if ch.risky {
			risky++
			fmt.Fprintf(w, "  !! RISK  %s\n", ch.text)
		} else {
			fmt.Fprintf(w, "           %s\n", ch.text)
		}
	}
	if risky > 0 {
		fmt.Fprintf(w, "\n!! %d risky change(s): each line marked !! widens what can be paid, to whom, or who decides. Check each with its owner before signing.\n", risky)
	} else {
		fmt.Fprintln(w, "\nno risky change found.")
	}
	return risky
}
