package policy

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/countersign/countersign/policy/bitcoin"
)

// Rules of the policy itself, beside the transaction rules of package
// bitcoin. Stable: never renamed or reused.
const (
	RuleWalletUnknown         = "policy.wallet_unknown"
	RuleDestinationNotAllowed = "policy.destination_not_allowed"
	RuleAmountOverCap         = "policy.amount_over_cap"
	RuleDailyCapExceeded      = "policy.daily_cap_exceeded"
)

// MaxInputs is the most inputs a withdrawal may spend: what one signing
// session signs at once.
const MaxInputs = 64

// Decision is a node's verdict on a withdrawal.
type Decision struct {
	Allowed bool
	// Rule is the refusal's stable code; empty when allowed.
	Rule   string
	Reason string
	// DestinationLabel is the allowlist label of the destination, if any.
	DestinationLabel string
	// Withdrawal is the re-derived transaction: what to sign when allowed,
	// and for display. Nil when the transaction itself was refused.
	Withdrawal *bitcoin.Withdrawal
	// PolicyHash names the policy file the decision used.
	PolicyHash [32]byte
	// Outflow is what the withdrawal takes from the wallet: amount and fee.
	Outflow int64
}

// Decide re-derives a withdrawal from its intent and unsigned transaction
// and checks it against the policy. spent is what left the wallet in the
// last 24 hours by this node's own record, this withdrawal excluded.
func Decide(f *File, in bitcoin.Intent, psbt []byte, wallet bitcoin.Key, spent int64) Decision {
	d := Decision{PolicyHash: f.Hash()}
	refuse := func(rule, format string, a ...any) Decision {
		d.Allowed, d.Rule, d.Reason = false, rule, fmt.Sprintf(format, a...)
		return d
	}
	rules, ok := f.Wallets[in.WalletID]
	if !ok {
		return refuse(RuleWalletUnknown, "the policy has no rules for wallet %s", in.WalletID)
	}
	w, err := bitcoin.Rederive(in, psbt, wallet, bitcoin.Limits{
		MaxFee: rules.MaxFeeSat, MaxInputs: MaxInputs, MaxOutputs: bitcoin.MaxOutputs,
		MaxLockTime: rules.MaxLockTime, AllowRBF: rules.AllowRBF, ChangeIndexMax: bitcoin.MaxChangeIndex,
	})
	if err != nil {
		var r *bitcoin.Refusal
		if errors.As(err, &r) {
			return refuse(string(r.Rule), "%s", r.Error())
		}
		return refuse("psbt.malformed", "%v", err)
	}
	d.Withdrawal = w
	if !rules.AnyDestination {
		label, ok := allowed(rules.Destinations, in)
		if !ok {
			return refuse(RuleDestinationNotAllowed, "destination %s is not on wallet %s's allowlist", in.Destination, in.WalletID)
		}
		d.DestinationLabel = label
	} else {
		d.DestinationLabel, _ = allowed(rules.Destinations, in)
	}
	if in.Amount > rules.MaxAmountSat {
		return refuse(RuleAmountOverCap, "amount %d sat is over the per-withdrawal cap of %d sat", in.Amount, rules.MaxAmountSat)
	}
	d.Outflow = in.Amount + w.Fee
	if spent+d.Outflow > rules.DailyCapSat {
		return refuse(RuleDailyCapExceeded, "%d sat would leave the wallet within 24 hours (%d already), over the cap of %d sat", spent+d.Outflow, spent, rules.DailyCapSat)
	}
	d.Allowed = true
	return d
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
		return nil, fmt.Errorf("policy: %s is not an address of %s", addr, params.Name)
	}
	return txscript.PayToAddrScript(a)
}
