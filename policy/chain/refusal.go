package chain

import (
	"errors"
	"fmt"
	"strconv"
)

// Rule is the stable code of a check. Codes are written in audit logs and
// read by programs: a code is never renamed, never reused for another check
// and never removed; new checks get new codes. Each chain package lists
// its own, in the order its Rederive applies them.
type Rule string

// Rules of the chain-neutral intent fields, checked by [Intent.Check]
// before any chain's own checks.
const (
	RuleIntentWithdrawalID       Rule = "intent.withdrawal_id"
	RuleIntentWalletID           Rule = "intent.wallet_id"
	RuleIntentChain              Rule = "intent.chain"
	RuleIntentNetwork            Rule = "intent.network"
	RuleIntentRequestedBy        Rule = "intent.requested_by"
	RuleIntentReplaces           Rule = "intent.replaces"
	RuleIntentAsset              Rule = "intent.asset"
	RuleIntentAmount             Rule = "intent.amount"
	RuleIntentFeeCap             Rule = "intent.fee_cap"
	RuleIntentDestinationInvalid Rule = "intent.destination_invalid"
)

// ErrRefused is matched by every [*Refusal] with errors.Is.
var ErrRefused = errors.New("chain: refused")

// Refusal is the error a chain returns for a request it will not sign:
// the chain, the rule that failed, a sentence for people, and the input
// or output the rule is about (-1 if none, and for chains without
// inputs and outputs). Detail is for logs and officers' screens;
// programs read Rule.
type Refusal struct {
	Chain  string
	Rule   Rule
	Detail string
	Input  int // index of the input concerned, or -1
	Output int // index of the output concerned, or -1
}

// Error returns "<chain>: refused (rule): detail".
func (r *Refusal) Error() string {
	name := r.Chain
	if name == "" {
		name = "chain"
	}
	return name + ": refused (" + string(r.Rule) + "): " + r.Detail
}

// Is reports whether target is [ErrRefused].
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// Refuse returns a chain-neutral Refusal concerning neither an input nor
// an output. Chain packages make their own with their name in Chain.
func Refuse(rule Rule, format string, args ...any) *Refusal {
	return &Refusal{Rule: rule, Detail: fmt.Sprintf(format, args...), Input: -1, Output: -1}
}

// Quote returns s quoted for an error message, cut to 80 bytes.
func Quote(s string) string {
	const maxQuoted = 64
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
