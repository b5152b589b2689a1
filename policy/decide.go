package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
)

// Rules of the policy itself, beside the transaction rules of the chain
// packages. Stable: never renamed or reused. An expression rule refuses
// with RuleExprPrefix followed by its name.
const (
	RuleWalletUnknown         = "policy.wallet_unknown"
	RuleNetworkMismatch       = "policy.network_mismatch"
	RuleChainMismatch         = "policy.chain_mismatch"
	RuleIntentUnsigned        = "policy.intent_unsigned"
	RuleIntentSignature       = "policy.intent_signature_invalid"
	RuleDestinationNotAllowed = "policy.destination_not_allowed"
	RuleOutsideHours          = "policy.outside_hours"
	RuleAssetNotAllowed       = "policy.asset_not_allowed"
	RuleAmountOverCap         = "policy.amount_over_cap"
	RuleDailyCapExceeded      = "policy.daily_cap_exceeded"
	RuleWeeklyCapExceeded     = "policy.weekly_cap_exceeded"
	RuleExprPrefix            = "policy.rule."
	RuleApprovalRejected      = "approval.rejected"
	RuleNoBundle              = "policy.no_bundle"
	RuleRequesterUnknown      = "policy.requested_by_unknown"
	RuleTxMalformed           = "tx.malformed"

	// Account nonces (account chains): one transaction per nonce, none
	// ahead of the next unsigned one, replacement only where allowed.
	RuleNonceReused             = "nonce.reused"
	RuleNonceGap                = "nonce.gap"
	RuleNonceReplacement        = "nonce.replacement_not_allowed"
	RuleNonceReplacementInvalid = "nonce.replacement_mismatch"
)

// MaxInputs is the most messages a withdrawal may sign: what one signing
// session signs at once.
const MaxInputs = chain.MaxSignItems

// Velocity windows.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// Request is everything a decision depends on. Decide reads nothing
// else: the same Request always gets the same Decision.
type Request struct {
	Intent chain.Intent
	// IntentSignature is the originating system's SSH signature over
	// Intent.Canonical(), in namespace keys.NamespaceIntent.
	IntentSignature []byte
	// UnsignedTx is the transaction to re-derive (a PSBT for Bitcoin).
	UnsignedTx []byte
	Wallet     chain.Key
	// Spent is what left the wallet per asset in the windows before Now by
	// the node's committed history, this withdrawal excluded.
	Spent Velocity
	// Nonces is the node's record of the account nonces it has bound;
	// nil is a node that has bound none.
	Nonces NonceBook
	Now    time.Time
}

// Velocity is a wallet's outflow per asset (amounts and fees) over the
// rolling windows.
type Velocity struct {
	Day  chain.Amounts
	Week chain.Amounts
}

// NonceBook is what a node knows of the account nonces it has bound to
// withdrawals: implemented by the node's store and by the auditor's
// replay of a log.
type NonceBook interface {
	Nonce(account string, nonce uint64) NonceState
}

// NonceState is one account's nonces as far as a decision needs them.
type NonceState struct {
	// Next is one above the highest nonce bound; meaningful if Known.
	Next  uint64
	Known bool
	// Holder is the withdrawal the asked nonce is bound to, "" if none;
	// HolderIntent and HolderFee are its intent and fee.
	Holder       string
	HolderIntent chain.Intent
	HolderFee    chain.Amount
}

// Decision is a node's verdict on a withdrawal.
type Decision struct {
	Allowed bool
	// Rule is the refusal's stable code; empty when allowed.
	Rule   string
	Reason string
	// DestinationLabel is the allowlist label of the destination, if any.
	DestinationLabel string
	// Originator names the system whose signature the intent carries.
	Originator string
	// Tx is the re-derived transaction: what to sign when allowed, and
	// for display. Nil when the transaction itself was refused.
	Tx *chain.Tx
	// PolicyHash and PolicyVersion name the bundle the decision used.
	PolicyHash    [32]byte
	PolicyVersion int64
	// Outflow is what the withdrawal takes from the wallet per asset:
	// amount and fee.
	Outflow chain.Amounts
	// Nonce is the account nonce an allowed withdrawal binds; nil on
	// chains without. Replaces is set when it takes the nonce over from
	// the withdrawal it replaces.
	Nonce    *chain.NonceUse
	Replaces string
	// Approval is what an allowed withdrawal still needs before it is
	// signed: nil if nothing.
	Approval *Tier
}

// Decide re-derives a withdrawal from its intent and unsigned transaction
// and checks it against the bundle.
func (b *Bundle) Decide(r Request) Decision {
	in := r.Intent
	if b == nil || b.raw == nil {
		return Decision{Rule: RuleNoBundle, Reason: "no policy bundle read by ParseBundle: nothing is allowed"}
	}
	d := Decision{PolicyHash: b.Hash(), PolicyVersion: b.Version}
	refuse := func(rule, format string, a ...any) Decision {
		d.Allowed, d.Rule, d.Reason = false, rule, fmt.Sprintf(format, a...)
		return d
	}
	rules, ok := b.Wallets[in.WalletID]
	if !ok {
		return refuse(RuleWalletUnknown, "policy version %d has no rules for wallet %s", b.Version, in.WalletID)
	}
	if in.Chain != rules.chain.Name() {
		return refuse(RuleChainMismatch, "wallet %s is on chain %s, the intent names %s", in.WalletID, rules.chain.Name(), in.Chain)
	}
	if in.Network != rules.Network {
		return refuse(RuleNetworkMismatch, "wallet %s is on %s, the intent names %s", in.WalletID, rules.Network, in.Network)
	}
	if _, ok := b.Officer(in.RequestedBy); in.RequestedBy != "" && !ok {
		return refuse(RuleRequesterUnknown, "requested_by %q is not an officer of policy version %d", in.RequestedBy, b.Version)
	}
	if len(r.IntentSignature) == 0 {
		return refuse(RuleIntentUnsigned, "the intent carries no signature; wallet %s takes intents signed by its originators only", in.WalletID)
	}
	canonical := in.Canonical()
	for _, o := range rules.Originators {
		if keys.Verify(o.Key, keys.NamespaceIntent, canonical, r.IntentSignature) == nil {
			d.Originator = o.Name
			break
		}
	}
	if d.Originator == "" {
		return refuse(RuleIntentSignature, "the intent's signature is not by an originator of wallet %s over this intent: altered after signing, or signed by another key", in.WalletID)
	}
	tx, err := rules.chain.Rederive(in, r.UnsignedTx, r.Wallet, rules.params, chain.Limits{MaxFee: rules.maxFee})
	if err != nil {
		var rf *chain.Refusal
		if errors.As(err, &rf) {
			return refuse(string(rf.Rule), "%s", rf.Error())
		}
		return refuse(RuleTxMalformed, "%v", err)
	}
	d.Tx = tx
	label, listed := allowed(rules, in)
	d.DestinationLabel = label
	if !rules.AnyDestination && !listed {
		return refuse(RuleDestinationNotAllowed, "destination %s is not on wallet %s's allowlist", in.Destination, in.WalletID)
	}
	if rules.Hours != nil && !rules.Hours.open(r.Now) {
		return refuse(RuleOutsideHours, "wallet %s pays only from %s to %s UTC%s; it is %s", in.WalletID, rules.Hours.From, rules.Hours.To,
			onDays(rules.Hours), r.Now.UTC().Format("Mon 15:04"))
	}
	show := func(a chain.Amount, asset string) string { return rules.Show(a, asset) }
	lim := rules.Limits(in.Asset)
	if lim == nil {
		return refuse(RuleAssetNotAllowed, "wallet %s may not pay %s", in.WalletID, in.Asset)
	}
	if in.Amount.Cmp(lim.MaxAmount) > 0 {
		return refuse(RuleAmountOverCap, "amount %s is over the per-withdrawal cap of %s", show(in.Amount, in.Asset), show(lim.MaxAmount, in.Asset))
	}
	d.Outflow = tx.Outflow
	for _, asset := range slices.Sorted(maps.Keys(tx.Outflow)) {
		out := tx.Outflow[asset]
		if out.IsZero() {
			continue
		}
		l := rules.Limits(asset)
		if l == nil {
			return refuse(RuleAssetNotAllowed, "wallet %s may not pay %s (%s would leave it)", in.WalletID, asset, show(out, asset))
		}
		day, _ := r.Spent.Day[asset].Add(out)
		if day.Cmp(l.DailyCap) > 0 {
			return refuse(RuleDailyCapExceeded, "%s would leave the wallet within 24 hours (%s already), over the cap of %s",
				show(day, asset), show(r.Spent.Day[asset], asset), show(l.DailyCap, asset))
		}
		week, _ := r.Spent.Week[asset].Add(out)
		if week.Cmp(l.WeeklyCap) > 0 {
			return refuse(RuleWeeklyCapExceeded, "%s would leave the wallet within 7 days (%s already), over the cap of %s",
				show(week, asset), show(r.Spent.Week[asset], asset), show(l.WeeklyCap, asset))
		}
	}
	if in.Replaces != "" && tx.Nonce == nil {
		return refuse(RuleNonceReplacementInvalid, "withdrawal %s names %s to replace, but chain %s has no account nonces", in.WithdrawalID, in.Replaces, in.Chain)
	}
	if n := tx.Nonce; n != nil {
		if rule, reason := checkNonce(in, n, r.Nonces); rule != "" {
			return refuse(rule, "%s", reason)
		}
		d.Nonce, d.Replaces = n, in.Replaces
	}
	if progs := b.programs[in.WalletID]; len(progs) > 0 {
		vars := map[string]any{
			"destination": in.Destination, "destination_label": label, "allowlisted": listed,
			"wallet_id": in.WalletID, "wallet_role": rules.Role, "network": in.Network, "chain": in.Chain,
			"asset": in.Asset, "amount": in.Amount.String(),
			"hour": int64(r.Now.UTC().Hour()), "weekday": weekdays[r.Now.UTC().Weekday()],
			"requested_by": in.RequestedBy, "originator": d.Originator,
		}
		for k, v := range tx.Vars {
			vars[k] = v
		}
		if in.Chain == "bitcoin" {
			day, _ := r.Spent.Day["BTC"].Int64()
			week, _ := r.Spent.Week["BTC"].Int64()
			vars["spent_24h_sat"], vars["spent_7d_sat"] = day, week
		}
		for _, p := range progs {
			ok, err := p.eval(vars)
			if err != nil {
				return refuse(RuleExprPrefix+p.rule.Name, "rule %s could not be evaluated: %v", p.rule.Name, err)
			}
			if !ok {
				msg := p.rule.Message
				if msg == "" {
					msg = "rule " + p.rule.Name + " does not hold: " + p.rule.Expr
				}
				return refuse(RuleExprPrefix+p.rule.Name, "%s", msg)
			}
		}
	}
	d.Approval = rules.TierFor(in.Asset, in.Amount)
	d.Allowed = true
	return d
}

// checkNonce applies the account-nonce rules: a nonce is bound to one
// withdrawal; the next unsigned nonce is one above the highest bound (the
// policy's first nonce before any); nothing ahead of it is signed; a
// bound nonce is taken over only by a replacement the policy allows, of
// the very withdrawal holding it, paying the same, for a higher fee.
func checkNonce(in chain.Intent, n *chain.NonceUse, book NonceBook) (rule, reason string) {
	var st NonceState
	if book != nil {
		st = book.Nonce(n.Account, n.Nonce)
	}
	next := n.First
	if st.Known {
		next = max(st.Next, n.First)
	}
	switch {
	case n.Nonce > next:
		return RuleNonceGap, fmt.Sprintf("nonce %d of %s is beyond the next unsigned one (%d): a transaction signed ahead could be released after the withdrawals before it were cancelled", n.Nonce, n.Account, next)
	case n.Nonce < n.First:
		return RuleNonceReused, fmt.Sprintf("nonce %d of %s is below the policy's first nonce %d: used before countersign", n.Nonce, n.Account, n.First)
	case st.Holder == "" && in.Replaces == "":
		return "", ""
	case st.Holder == "":
		return RuleNonceReplacementInvalid, fmt.Sprintf("withdrawal %s replaces %s, but nonce %d of %s is bound to no withdrawal", in.WithdrawalID, in.Replaces, n.Nonce, n.Account)
	case in.Replaces == "":
		return RuleNonceReused, fmt.Sprintf("nonce %d of %s is bound to withdrawal %s: one nonce, one transaction", n.Nonce, n.Account, st.Holder)
	case in.Replaces != st.Holder:
		return RuleNonceReplacementInvalid, fmt.Sprintf("withdrawal %s replaces %s, but nonce %d of %s is bound to %s", in.WithdrawalID, in.Replaces, n.Nonce, n.Account, st.Holder)
	case !n.Replaceable:
		return RuleNonceReplacement, fmt.Sprintf("the policy does not allow replacing a transaction of %s", n.Account)
	}
	h := st.HolderIntent
	if h.WalletID != in.WalletID || h.Asset != in.Asset || h.Destination != in.Destination || !h.Amount.Equal(in.Amount) {
		return RuleNonceReplacementInvalid, fmt.Sprintf("a replacement pays exactly what %s pays; this one differs in wallet, asset, destination or amount", st.Holder)
	}
	if n.Fee.Cmp(st.HolderFee) <= 0 {
		return RuleNonceReplacementInvalid, fmt.Sprintf("a replacement pays a higher fee than %s (%s); this one %s", st.Holder, st.HolderFee, n.Fee)
	}
	return "", ""
}

// TierFor returns the highest approval tier of asset at or below amount,
// nil if none.
func (w *WalletRules) TierFor(asset string, amount chain.Amount) *Tier {
	var best *Tier
	for i := range w.tiers {
		t := &w.tiers[i]
		if t.Asset == asset && amount.Cmp(t.MinAmount) >= 0 && (best == nil || t.MinAmount.Cmp(best.MinAmount) > 0) {
			best = t
		}
	}
	if best == nil {
		return nil
	}
	out := *best
	return &out
}

// Show writes an amount of one of the wallet's assets for people: in
// whole units when the asset's decimals are known ("0.45 BTC"), else in
// base units.
func (w *WalletRules) Show(a chain.Amount, asset string) string {
	if w.params != nil {
		if dec, ok := w.params.Decimals(asset); ok {
			return a.Decimal(dec) + " " + asset
		}
	}
	return a.String() + " base units of " + asset
}

func onDays(h *Hours) string {
	if len(h.Weekdays) == 0 {
		return ""
	}
	return fmt.Sprintf(" on %v", h.Weekdays)
}

// allowed finds the destination in the allowlist by the chain's address
// key, so that two spellings of one address match and look-alikes do not.
func allowed(rules *WalletRules, in chain.Intent) (string, bool) {
	want, err := rules.chain.AddressKey(in.Network, in.Destination)
	if err != nil {
		return "", false
	}
	for _, d := range rules.Destinations {
		if got, err := rules.chain.AddressKey(in.Network, d.Address); err == nil && got == want {
			return d.Label, true
		}
	}
	return "", false
}
