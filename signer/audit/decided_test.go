package audit_test

import (
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/signer/audit"
)

// TestDecidedReadsOldRecords: a decision recorded before the fields of any
// chain existed (satoshis only) reads as the same decision written now.
func TestDecidedReadsOldRecords(t *testing.T) {
	old := &audit.WithdrawalDecided{WithdrawalID: "wd-1", Allowed: true, TxID: "aa", FeeSat: 1200, OutflowSat: 25_001_200,
		SpentDaySat: 5, SpentWeekSat: 9, Approvals: 2, ApprovalGroup: "treasury", TierMinAmountSat: 20_000_000}
	d := policy.Decision{Allowed: true, Tx: &chain.Tx{ID: "aa", Fee: chain.AmountOf(1200), FeeAsset: "BTC"},
		Outflow:  chain.Amounts{"BTC": chain.AmountOf(25_001_200)},
		Approval: &policy.Tier{Asset: "BTC", MinAmount: chain.AmountOf(20_000_000), Approvals: 2, Group: "treasury"}}
	spent := policy.Velocity{Day: chain.Amounts{"BTC": chain.AmountOf(5)}, Week: chain.Amounts{"BTC": chain.AmountOf(9)}}
	now := audit.Decided("wd-1", [32]byte{}, d, spent, time.Time{})

	for _, b := range []*audit.WithdrawalDecided{old, now} {
		fee, asset := b.FeeOf()
		tierAsset, tierMin := b.TierOf()
		sp := b.SpentOf()
		switch {
		case fee.String() != "1200" || asset != "BTC":
			t.Errorf("fee %s %s", fee, asset)
		case b.OutflowOf()["BTC"].String() != "25001200" || len(b.OutflowOf()) != 1:
			t.Errorf("outflow %v", b.OutflowOf())
		case sp.Day["BTC"].String() != "5" || sp.Week["BTC"].String() != "9":
			t.Errorf("spent %v", sp)
		case tierAsset != "BTC" || tierMin.String() != "20000000":
			t.Errorf("tier %s %s", tierAsset, tierMin)
		}
	}
	if now.FeeSat != 0 || now.OutflowSat != 0 || now.SpentDaySat != 0 {
		t.Errorf("a new record writes the old satoshi fields: %+v", now)
	}
	refused := audit.Decided("wd-2", [32]byte{}, policy.Decision{Rule: "policy.amount_over_cap", Outflow: d.Outflow, Approval: d.Approval}, policy.Velocity{}, time.Time{})
	if refused.Outflow != nil || refused.Approvals != 0 || refused.Nonce != nil {
		t.Errorf("a refusal records what only an allowed withdrawal takes: %+v", refused)
	}
}
