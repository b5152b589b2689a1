package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
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
	if next.Format != cur.Format {
		add(false, "bundle format %d -> %d (the same rules read the same way in either; the lines below compare them)", cur.Format, next.Format)
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
			add(true, "NEW WALLET %s %q (%s, %s %s): %s", id, is.Name, is.Role, is.ChainName(), is.Network, walletBrief(is))
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
	var assets []string
	for _, l := range r.AssetLimits() {
		assets = append(assets, fmt.Sprintf("%s at most %s per withdrawal, %s per 24h, %s per 7d", l.Asset,
			show(r, l.MaxAmount, l.Asset), show(r, l.DailyCap, l.Asset), show(r, l.WeeklyCap, l.Asset)))
	}
	return fmt.Sprintf("%s; %s; fee at most %s; %d approval tiers", dest, strings.Join(assets, "; "), show(r, r.FeeCap(), feeAsset(r)), len(r.Tiers()))
}

func diffWallet(id string, was, is *policy.WalletRules) []change {
	var out []change
	add := func(risky bool, format string, a ...any) {
		out = append(out, change{risky: risky, text: fmt.Sprintf("wallet %s: ", id) + fmt.Sprintf(format, a...)})
	}
	if was.Name != is.Name {
		add(false, "renamed %q -> %q", was.Name, is.Name)
	}
	if was.ChainName() != is.ChainName() {
		add(true, "CHAIN CHANGED %s -> %s", was.ChainName(), is.ChainName())
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
	// Destinations are matched by the chain's address key, as decisions
	// match them: another spelling of a listed address is not new.
	labels := map[string]policy.Destination{}
	for _, d := range was.Destinations {
		labels[destKey(was, d.Address)] = d
	}
	now := map[string]bool{}
	for _, d := range is.Destinations {
		k := destKey(is, d.Address)
		now[k] = true
		old, ok := labels[k]
		switch {
		case !ok:
			add(true, "NEW DESTINATION %s %q", d.Address, d.Label)
		case old.Label != d.Label:
			add(true, "DESTINATION RELABELLED %s: %q -> %q", d.Address, old.Label, d.Label)
		}
	}
	for _, d := range was.Destinations {
		if !now[destKey(was, d.Address)] {
			add(false, "destination removed: %s %q", d.Address, d.Label)
		}
	}
	for _, l := range is.AssetLimits() {
		old := was.Limits(l.Asset)
		if old == nil {
			add(true, "NEW ASSET %s: at most %s per withdrawal, %s per 24h, %s per 7d", l.Asset,
				show(is, l.MaxAmount, l.Asset), show(is, l.DailyCap, l.Asset), show(is, l.WeeklyCap, l.Asset))
			continue
		}
		limit := func(name string, a, b chain.Amount) {
			switch b.Cmp(a) {
			case 1:
				add(true, "%s %s RAISED %s -> %s", l.Asset, name, show(was, a, l.Asset), show(is, b, l.Asset))
			case -1:
				add(false, "%s %s lowered %s -> %s", l.Asset, name, show(was, a, l.Asset), show(is, b, l.Asset))
			}
		}
		limit("per-withdrawal cap", old.MaxAmount, l.MaxAmount)
		limit("24h cap", old.DailyCap, l.DailyCap)
		limit("7d cap", old.WeeklyCap, l.WeeklyCap)
	}
	for _, l := range was.AssetLimits() {
		if is.Limits(l.Asset) == nil {
			add(false, "asset %s removed: the wallet can no longer pay it", l.Asset)
		}
	}
	wasFee, isFee := feeAsset(was), feeAsset(is)
	switch {
	case wasFee != isFee:
		add(true, "FEE CAP CHANGED %s -> %s", show(was, was.FeeCap(), wasFee), show(is, is.FeeCap(), isFee))
	case is.FeeCap().Cmp(was.FeeCap()) > 0:
		add(true, "fee cap RAISED %s -> %s", show(was, was.FeeCap(), wasFee), show(is, is.FeeCap(), isFee))
	case is.FeeCap().Cmp(was.FeeCap()) < 0:
		add(false, "fee cap lowered %s -> %s", show(was, was.FeeCap(), wasFee), show(is, is.FeeCap(), isFee))
	}
	out = append(out, diffParams(id, was, is)...)
	out = append(out, diffTiers(id, was, is)...)
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

// destKey is how the wallet's chain identifies a destination (Bitcoin:
// its output script), or the address as written if the chain does not
// read it.
func destKey(r *policy.WalletRules, address string) string {
	if c, _ := r.ChainOf(); c != nil {
		if k, err := c.AddressKey(r.Network, address); err == nil {
			return r.ChainName() + "\x00" + r.Network + "\x00" + k
		}
	}
	return "address\x00" + address
}

// diffParams compares the wallets' chain parameters. Bitcoin's are known:
// allowing RBF or a higher lock time is risky, the reverse is not. Any
// change to another chain's parameters (a chain id, a token's address or
// decimals, a Safe, a gas cap) is risky: this CLI does not judge which
// way each one widens.
func diffParams(id string, was, is *policy.WalletRules) []change {
	var out []change
	add := func(risky bool, format string, a ...any) {
		out = append(out, change{risky: risky, text: fmt.Sprintf("wallet %s: ", id) + fmt.Sprintf(format, a...)})
	}
	wb, wok := bitcoinParams(was)
	ib, iok := bitcoinParams(is)
	if wok && iok {
		if wb.AllowRBF != ib.AllowRBF {
			add(ib.AllowRBF, "RBF %s", yesNo(ib.AllowRBF, "ALLOWED", "no longer allowed"))
		}
		if wb.MaxLockTime != ib.MaxLockTime {
			add(ib.MaxLockTime > wb.MaxLockTime, "lock time %s -> %s", lockTime(wb.MaxLockTime), lockTime(ib.MaxLockTime))
		}
		return out
	}
	a, aerr := flattenJSON(paramsJSON(was))
	b, berr := flattenJSON(paramsJSON(is))
	if aerr != nil || berr != nil {
		add(true, "PARAMS CHANGED: cannot compare them here (%v)", errors.Join(aerr, berr))
		return out
	}
	for _, k := range union(sortedKeys(a), sortedKeys(b)) {
		name := "params"
		if k != "" {
			name += "." + k
		}
		old, had := a[k]
		v, has := b[k]
		switch {
		case !had:
			add(true, "PARAMS CHANGED %s set to %s", name, v)
		case !has:
			add(true, "PARAMS CHANGED %s removed (was %s)", name, old)
		case old != v:
			add(true, "PARAMS CHANGED %s %s -> %s", name, old, v)
		}
	}
	return out
}

// paramsJSON is a wallet's chain parameters as JSON: as the bundle spells
// them, or Bitcoin's of a format 1 bundle.
func paramsJSON(r *policy.WalletRules) json.RawMessage {
	if len(r.Params) > 0 {
		return r.Params
	}
	if bp, ok := bitcoinParams(r); ok {
		raw, _ := json.Marshal(bp) // bools and integers: cannot fail
		return raw
	}
	return nil
}

// diffTiers compares approval tiers, of every asset. A tier is weaker if
// an amount needs fewer approvals, or approvals from another group.
func diffTiers(id string, wasRules, isRules *policy.WalletRules) []change {
	was, is := wasRules.Tiers(), isRules.Tiers()
	if slices.EqualFunc(was, is, sameTier) {
		return nil
	}
	text := func(r *policy.WalletRules, ts []policy.Tier) string {
		if len(ts) == 0 {
			return "none"
		}
		var parts []string
		for _, t := range ts {
			parts = append(parts, fmt.Sprintf("from %s %d of %s", show(r, t.MinAmount, t.Asset), t.Approvals, t.Group))
		}
		return strings.Join(parts, "; ")
	}
	// Weaker if some amount at which the old tiers required approvals now
	// needs fewer, or another group's: check at every threshold.
	risky := false
	for _, t := range slices.Concat(was, is) {
		a, b := tierAt(was, t.Asset, t.MinAmount), tierAt(is, t.Asset, t.MinAmount)
		if a != nil && (b == nil || b.Approvals < a.Approvals || b.Group != a.Group) {
			risky = true
		}
	}
	label := "approval tiers changed"
	if risky {
		label = "APPROVAL TIERS WEAKENED"
	}
	return []change{{risky: risky, text: fmt.Sprintf("wallet %s: %s: %s -> %s", id, label, text(wasRules, was), text(isRules, is))}}
}

// sameTier compares tiers as decisions read them, whatever the format.
func sameTier(a, b policy.Tier) bool {
	return a.Asset == b.Asset && a.MinAmount.Equal(b.MinAmount) && a.Approvals == b.Approvals && a.Group == b.Group
}

// tierAt is the tier that applies to amount of asset, nil if none: the
// highest of the asset's tiers at or below it, as decisions pick it.
func tierAt(ts []policy.Tier, asset string, amount chain.Amount) *policy.Tier {
	var best *policy.Tier
	for i := range ts {
		t := &ts[i]
		if t.Asset == asset && amount.Cmp(t.MinAmount) >= 0 && (best == nil || t.MinAmount.Cmp(best.MinAmount) > 0) {
			best = t
		}
	}
	return best
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
