package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/policy"
)

// btc writes satoshis as bitcoin with all eight decimals.
func btc(sat int64) string {
	sign := ""
	if sat < 0 {
		sign, sat = "-", -sat
	}
	return fmt.Sprintf("%s%d.%08d", sign, sat/1e8, sat%1e8)
}

// sats writes satoshis with thousands separators: "25,000,000 sat".
func sats(sat int64) string {
	s := strconv.FormatInt(sat, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String() + " sat"
	}
	return b.String() + " sat"
}

// amount is "0.25000000 BTC (25,000,000 sat)".
func amount(sat int64) string { return btc(sat) + " BTC (" + sats(sat) + ")" }

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
	fmt.Fprintf(w, "wallet %s %q: %s, %s\n", id, r.Name, r.Role, r.Network)
	switch {
	case r.AnyDestination:
		fmt.Fprintf(w, "  destinations   ANY ADDRESS (any_destination); %d labelled\n", len(r.Destinations))
	default:
		fmt.Fprintf(w, "  destinations   only these %d:\n", len(r.Destinations))
	}
	for _, d := range r.Destinations {
		fmt.Fprintf(w, "    %-62s %s\n", d.Address, d.Label)
	}
	fmt.Fprintf(w, "  per withdrawal at most %s\n", amount(r.MaxAmountSat))
	fmt.Fprintf(w, "  caps           %s BTC per 24h, %s BTC per 7d (amounts and fees)\n", btc(r.DailyCapSat), btc(r.WeeklyCapSat))
	fmt.Fprintf(w, "  fee            at most %s per withdrawal; RBF %s; lock time %s\n", sats(r.MaxFeeSat), yesNo(r.AllowRBF, "allowed", "not allowed"), lockTime(r.MaxLockTime))
	if len(r.ApprovalTiers) == 0 {
		fmt.Fprintln(w, "  approval       none: allowed withdrawals are signed without officers")
	} else {
		fmt.Fprintln(w, "  approval tiers")
		for _, t := range r.ApprovalTiers {
			fmt.Fprintf(w, "    from %s BTC: %d of group %s\n", btc(t.MinAmountSat), t.Approvals, t.Group)
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
