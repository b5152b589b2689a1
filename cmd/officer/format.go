package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
)

// grouped writes a decimal number with thousands separators: "25,000,000".
func grouped(digits string) string {
	var b strings.Builder
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// show writes an amount of one of a wallet's assets in whole units, as
// the policy does in its reasons ("0.25 BTC"); without the wallet's rules,
// or for an asset whose decimals the wallet does not know, in base units.
func show(r *policy.WalletRules, a chain.Amount, asset string) string {
	if knows(r, asset) {
		return r.Show(a, asset)
	}
	return a.String() + " base units of " + printable(asset)
}

// amountText is an amount in whole units and in base units:
// "0.25 BTC (25,000,000 base units)".
func amountText(r *policy.WalletRules, a chain.Amount, asset string) string {
	if knows(r, asset) {
		return r.Show(a, asset) + " (" + grouped(a.String()) + " base units)"
	}
	return show(r, a, asset)
}

// knows reports whether the wallet's chain parameters give the asset's
// decimals.
func knows(r *policy.WalletRules, asset string) bool {
	if r == nil {
		return false
	}
	_, p := r.ChainOf()
	if p == nil {
		return false
	}
	_, ok := p.Decimals(asset)
	return ok
}

// feeAsset is the asset a wallet pays fees in.
func feeAsset(r *policy.WalletRules) string {
	if r != nil {
		if _, p := r.ChainOf(); p != nil {
			return p.FeeAsset()
		}
	}
	return "?"
}

// printable returns s as it is if a terminal shows it as it is, and
// quoted otherwise: a node's or a bundle's text cannot move the cursor or
// hide what follows.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// age is a short duration for people: "45s", "12m", "3h05m", "2d04h".
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// writeSummary writes a bundle for people: officers, groups, quorum, and
// each wallet's rules.
func writeSummary(w io.Writer, b *policy.Bundle) {
	fmt.Fprintf(w, "cluster        %s\nversion        %d\n", b.Cluster, b.Version)
	if b.Description != "" {
		fmt.Fprintf(w, "description    %s\n", b.Description)
	}
	fmt.Fprintf(w, "change quorum  %d of the %d officers below sign the next bundle\n\nofficers\n", b.ChangeQuorum, len(b.Officers))
	for _, o := range b.Officers {
		fmt.Fprintf(w, "  %-12s %s %s  groups: %s\n", o.Name, o.Key.Type(), o.Key.Fingerprint(), orNone(strings.Join(groupsOf(b, o.Name), ", ")))
	}
	fmt.Fprintln(w, "\ngroups")
	if len(b.Groups) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, g := range sortedKeys(b.Groups) {
		fmt.Fprintf(w, "  %-12s %s\n", g, strings.Join(b.Groups[g], ", "))
	}
	if len(b.Wallets) == 0 {
		fmt.Fprintln(w, "\nwallets: none (no withdrawal is allowed)")
	}
	for _, id := range sortedKeys(b.Wallets) {
		fmt.Fprintln(w)
		writeWallet(w, id, b.Wallets[id])
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func writeWallet(w io.Writer, id string, r *policy.WalletRules) {
	fmt.Fprintf(w, "wallet %s %q: %s, %s %s\n", id, r.Name, r.Role, r.ChainName(), r.Network)
	switch {
	case r.AnyDestination:
		fmt.Fprintf(w, "  destinations   ANY ADDRESS (any_destination); %d labelled\n", len(r.Destinations))
	default:
		fmt.Fprintf(w, "  destinations   only these %d:\n", len(r.Destinations))
	}
	for _, d := range r.Destinations {
		fmt.Fprintf(w, "    %-62s %s\n", d.Address, d.Label)
	}
	fmt.Fprintln(w, "  assets         caps per withdrawal, per 24h and per 7d (what leaves: amounts and fees)")
	for _, l := range r.AssetLimits() {
		fmt.Fprintf(w, "    %-12s %s; %s per 24h; %s per 7d\n", l.Asset, amountText(r, l.MaxAmount, l.Asset),
			show(r, l.DailyCap, l.Asset), show(r, l.WeeklyCap, l.Asset))
	}
	fmt.Fprintf(w, "  fee            at most %s per withdrawal\n", amountText(r, r.FeeCap(), feeAsset(r)))
	for i, p := range paramLines(r) {
		k := ""
		if i == 0 {
			k = "params"
		}
		fmt.Fprintf(w, "  %-14s %s\n", k, p)
	}
	if tiers := r.Tiers(); len(tiers) == 0 {
		fmt.Fprintln(w, "  approval       none: allowed withdrawals are signed without officers")
	} else {
		fmt.Fprintln(w, "  approval tiers")
		for _, t := range tiers {
			fmt.Fprintf(w, "    from %s: %d of group %s\n", show(r, t.MinAmount, t.Asset), t.Approvals, t.Group)
		}
	}
	fmt.Fprintf(w, "  hours          %s\n", hoursText(r.Hours))
	var origs []string
	for _, o := range r.Originators {
		origs = append(origs, o.Name+" ("+o.Key.Fingerprint()+")")
	}
	fmt.Fprintf(w, "  originators    %s\n", strings.Join(origs, ", "))
	for _, rule := range r.Rules {
		fmt.Fprintf(w, "  rule %s: %s\n", rule.Name, rule.Expr)
		if rule.Message != "" {
			fmt.Fprintf(w, "    (%s)\n", rule.Message)
		}
	}
}

// paramLines describes a wallet's chain parameters: Bitcoin's in words,
// another chain's as the bundle spells them, one leaf per line.
func paramLines(r *policy.WalletRules) []string {
	if bp, ok := bitcoinParams(r); ok {
		return []string{fmt.Sprintf("RBF %s; lock time %s", yesNo(bp.AllowRBF, "allowed", "not allowed"), lockTime(bp.MaxLockTime))}
	}
	leaves, err := flattenJSON(r.Params)
	if err != nil {
		return []string{"!! UNREADABLE: " + err.Error()}
	}
	if len(leaves) == 0 {
		return []string{"(none: the chain's defaults)"}
	}
	var out []string
	for _, k := range sortedKeys(leaves) {
		out = append(out, k+" = "+leaves[k])
	}
	return out
}

// bitcoinParams returns a Bitcoin wallet's parameters, of either format.
func bitcoinParams(r *policy.WalletRules) (bitcoin.Params, bool) {
	_, p := r.ChainOf()
	bp, ok := p.(bitcoin.Params)
	return bp, ok
}

// flattenJSON reads a chain's parameters as leaves keyed by their path
// ("tokens.USDC.address", "safe.owners[2]"), each value compact JSON; an
// empty raw is no leaf.
func flattenJSON(raw json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(bytes.TrimSpace(raw)) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				out[path] = "{}"
			}
			for k, e := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, e)
			}
		case []any:
			if len(v) == 0 {
				out[path] = "[]"
			}
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		default:
			b, _ := json.Marshal(v) // strings, json.Number, bools, nil: cannot fail
			out[path] = printable(string(b))
		}
	}
	walk("", v)
	return out, nil
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func lockTime(max uint32) string {
	if max == 0 {
		return "0 only"
	}
	return fmt.Sprintf("up to block %d", max)
}

func hoursText(h *policy.Hours) string {
	if h == nil {
		return "any time"
	}
	days := "every day"
	if len(h.Weekdays) > 0 {
		days = strings.Join(h.Weekdays, ",")
	}
	return fmt.Sprintf("%s to %s UTC, %s", h.From, h.To, days)
}
