package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/keys"
)

// Rules of the policy itself, beside the transaction rules of package
// bitcoin. Stable: never renamed or reused. An expression rule refuses
// with RuleExprPrefix followed by its name.
const (
	RuleWalletUnknown         = "policy.wallet_unknown"
	RuleNetworkMismatch       = "policy.network_mismatch"
	RuleIntentUnsigned        = "policy.intent_unsigned"
	RuleIntentSignature       = "policy.intent_signature_invalid"
	RuleDestinationNotAllowed = "policy.destination_not_allowed"
	RuleOutsideHours          = "policy.outside_hours"
	RuleAmountOverCap         = "policy.amount_over_cap"
	RuleDailyCapExceeded      = "policy.daily_cap_exceeded"
	RuleWeeklyCapExceeded     = "policy.weekly_cap_exceeded"
	RuleExprPrefix            = "policy.rule."
	RuleApprovalRejected      = "approval.rejected"
	RuleNoBundle              = "policy.no_bundle"
	RuleRequesterUnknown      = "policy.requested_by_unknown"
)

// MaxInputs is the most inputs a withdrawal may spend: what one signing
// session signs at once.
const MaxInputs = 64

// Velocity windows.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// Request is everything a decision depends on. Decide reads nothing
// else: the same Request always gets the same Decision.
type Request struct {
	Intent bitcoin.Intent
	// IntentSignature is the originating system's SSH signature over
	// Intent.Canonical(), in namespace keys.NamespaceIntent.
	IntentSignature []byte
	PSBT            []byte
	Wallet          bitcoin.Key
	// Spent is what left the wallet in the windows before Now by the
	// node's committed history, this withdrawal excluded.
	Spent Velocity
	Now   time.Time
}

// Velocity is a wallet's outflow (amounts and fees) over the rolling
// windows.
type Velocity struct {
	Day  int64 `json:"day_sat"`
	Week int64 `json:"week_sat"`
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
	// Withdrawal is the re-derived transaction: what to sign when allowed,
	// and for display. Nil when the transaction itself was refused.
	Withdrawal *bitcoin.Withdrawal
	// PolicyHash and PolicyVersion name the bundle the decision used.
	PolicyHash    [32]byte
	PolicyVersion int64
	// Outflow is what the withdrawal takes from the wallet: amount and fee.
	Outflow int64
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
	w, err := bitcoin.Rederive(in, r.PSBT, r.Wallet, bitcoin.Limits{
		MaxFee: rules.MaxFeeSat, MaxInputs: MaxInputs, MaxOutputs: bitcoin.MaxOutputs,
		MaxLockTime: rules.MaxLockTime, AllowRBF: rules.AllowRBF, ChangeIndexMax: bitcoin.MaxChangeIndex,
	})
	if err != nil {
		var rf *bitcoin.Refusal
		if errors.As(err, &rf) {
			return refuse(string(rf.Rule), "%s", rf.Error())
		}
		return refuse(string(bitcoin.RulePSBTMalformed), "%v", err)
	}
	d.Withdrawal = w
	label, listed := allowed(rules.Destinations, in)
	d.DestinationLabel = label
	if !rules.AnyDestination && !listed {
		return refuse(RuleDestinationNotAllowed, "destination %s is not on wallet %s's allowlist", in.Destination, in.WalletID)
	}
	if rules.Hours != nil && !rules.Hours.open(r.Now) {
		return refuse(RuleOutsideHours, "wallet %s pays only from %s to %s UTC%s; it is %s", in.WalletID, rules.Hours.From, rules.Hours.To,
			onDays(rules.Hours), r.Now.UTC().Format("Mon 15:04"))
	}
	if in.Amount > rules.MaxAmountSat {
		return refuse(RuleAmountOverCap, "amount %d sat is over the per-withdrawal cap of %d sat", in.Amount, rules.MaxAmountSat)
	}
	d.Outflow = in.Amount + w.Fee
	if r.Spent.Day+d.Outflow > rules.DailyCapSat {
		return refuse(RuleDailyCapExceeded, "%d sat would leave the wallet within 24 hours (%d already), over the cap of %d sat", r.Spent.Day+d.Outflow, r.Spent.Day, rules.DailyCapSat)
	}
	if r.Spent.Week+d.Outflow > rules.WeeklyCapSat {
		return refuse(RuleWeeklyCapExceeded, "%d sat would leave the wallet within 7 days (%d already), over the cap of %d sat", r.Spent.Week+d.Outflow, r.Spent.Week, rules.WeeklyCapSat)
	}
	if progs := b.programs[in.WalletID]; len(progs) > 0 {
		vars := map[string]any{
			"amount_sat": in.Amount, "fee_sat": w.Fee, "outflow_sat": d.Outflow,
			"destination": in.Destination, "destination_label": label, "allowlisted": listed,
			"wallet_id": in.WalletID, "wallet_role": rules.Role, "network": string(in.Network),
			"inputs": int64(len(w.Inputs)), "change_sat": changeOf(w),
			"spent_24h_sat": r.Spent.Day, "spent_7d_sat": r.Spent.Week,
			"hour": int64(r.Now.UTC().Hour()), "weekday": weekdays[r.Now.UTC().Weekday()],
			"requested_by": in.RequestedBy, "originator": d.Originator,
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
	for i := len(rules.ApprovalTiers) - 1; i >= 0; i-- {
		if t := rules.ApprovalTiers[i]; in.Amount >= t.MinAmountSat {
			d.Approval = &t
			break
		}
	}
	d.Allowed = true
	return d
}

func changeOf(w *bitcoin.Withdrawal) int64 {
	var sum int64
	for _, c := range w.Change {
		sum += c.Value
	}
	return sum
}

func onDays(h *Hours) string {
	if len(h.Weekdays) == 0 {
		return ""
	}
	return fmt.Sprintf(" on %v", h.Weekdays)
}

// allowed finds the destination in the allowlist by script, so that two
// spellings of one address match and lookalikes do not.
func allowed(list []Destination, in bitcoin.Intent) (string, bool) {
	params, err := bitcoin.ParamsFor(in.Network)
	if err != nil {
		return "", false
	}
	want, err := script(in.Destination, params)
	if err != nil {
		return "", false
	}
	for _, d := range list {
		if got, err := script(d.Address, params); err == nil && string(got) == string(want) {
			return d.Label, true
		}
	}
	return "", false
}

func script(addr string, params *chaincfg.Params) ([]byte, error) {
	a, err := btcutil.DecodeAddress(addr, params)
	if err != nil {
		return nil, err
	}
	if !a.IsForNet(params) {
		return nil, fmt.Errorf("%s is not an address of %s", addr, params.Name)
	}
	return txscript.PayToAddrScript(a)
}
