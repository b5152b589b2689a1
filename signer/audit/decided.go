package audit

import (
	"encoding/hex"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
)

// Decided returns the withdrawal.decided body of a decision: the one
// mapping from a [policy.Decision] to its record, used by the node that
// writes it and by the auditor's replay that checks it.
func Decided(withdrawalID string, requestHash [32]byte, d policy.Decision, spent policy.Velocity, at time.Time) *WithdrawalDecided {
	b := &WithdrawalDecided{
		WithdrawalID: withdrawalID, RequestHash: hex.EncodeToString(requestHash[:]), Allowed: d.Allowed,
		Rule: d.Rule, Reason: d.Reason, PolicyHash: hex.EncodeToString(d.PolicyHash[:]), PolicyVersion: d.PolicyVersion,
		Originator: d.Originator, DecidedAt: at, SpentDay: nonZero(spent.Day), SpentWeek: nonZero(spent.Week),
	}
	if d.Tx != nil {
		b.TxID, b.Fee, b.FeeAsset = d.Tx.ID, d.Tx.Fee, d.Tx.FeeAsset
		for _, s := range d.Tx.Sign {
			b.Digests = append(b.Digests, hex.EncodeToString(s.Message))
		}
	}
	if d.Allowed {
		b.Outflow = nonZero(d.Outflow)
		if d.Approval != nil {
			b.Approvals, b.ApprovalGroup = d.Approval.Approvals, d.Approval.Group
			b.TierAsset, b.TierMinAmount = d.Approval.Asset, d.Approval.MinAmount
		}
		if d.Nonce != nil {
			nonce := d.Nonce.Nonce
			b.NonceAccount, b.Nonce, b.Replaces = d.Nonce.Account, &nonce, d.Replaces
		}
	}
	return b
}

// nonZero drops the assets of a that are zero, so that one outflow has
// one encoding; nil if none is left.
func nonZero(a chain.Amounts) chain.Amounts {
	var out chain.Amounts
	for k, v := range a {
		if !v.IsZero() {
			if out == nil {
				out = chain.Amounts{}
			}
			out[k] = v
		}
	}
	return out
}

// sat reads the satoshi fields of records written before the fields of
// any chain existed.
func sat(v int64) chain.Amounts {
	if v <= 0 {
		return nil
	}
	return chain.Amounts{"BTC": chain.AmountOf(uint64(v))}
}

// FeeOf returns the fee and its asset, of new and old records.
func (b *WithdrawalDecided) FeeOf() (chain.Amount, string) {
	if b.FeeAsset != "" {
		return b.Fee, b.FeeAsset
	}
	if b.TxID == "" {
		return chain.Amount{}, ""
	}
	return chain.AmountOf(uint64(max(b.FeeSat, 0))), "BTC"
}

// OutflowOf returns the outflow per asset, of new and old records.
func (b *WithdrawalDecided) OutflowOf() chain.Amounts {
	if b.Outflow != nil || b.FeeAsset != "" {
		return b.Outflow
	}
	return sat(b.OutflowSat)
}

// SpentOf returns the velocity the decision used, of new and old records.
func (b *WithdrawalDecided) SpentOf() policy.Velocity {
	if b.FeeAsset != "" || b.SpentDay != nil || b.SpentWeek != nil {
		return policy.Velocity{Day: b.SpentDay, Week: b.SpentWeek}
	}
	return policy.Velocity{Day: sat(b.SpentDaySat), Week: sat(b.SpentWeekSat)}
}

// TierOf returns the approval tier's asset and amount, of new and old
// records ("" if none).
func (b *WithdrawalDecided) TierOf() (string, chain.Amount) {
	if b.Approvals == 0 {
		return "", chain.Amount{}
	}
	if b.TierAsset != "" {
		return b.TierAsset, b.TierMinAmount
	}
	return "BTC", chain.AmountOf(uint64(max(b.TierMinAmountSat, 0)))
}
