package auditlog

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/signer/audit"
)

// TestCheckDecisionAmounts: two nodes' decisions on one withdrawal agree
// on its transaction's fee and its outflow per asset whatever the format
// of their records (a node not yet upgraded writes the satoshi fields),
// and a difference is a finding.
func TestCheckDecisionAmounts(t *testing.T) {
	txid := strings.Repeat("cc", 32)
	old := &audit.WithdrawalDecided{WithdrawalID: "wd-1", RequestHash: "aa", Allowed: true, Digests: []string{"d7"}, TxID: txid,
		FeeSat: 705, OutflowSat: 20_000_705}
	newer := func(edit func(d *audit.WithdrawalDecided)) *audit.WithdrawalDecided {
		d := &audit.WithdrawalDecided{WithdrawalID: "wd-1", RequestHash: "aa", Allowed: true, Digests: []string{"d7"}, TxID: txid,
			Fee: chain.AmountOf(705), FeeAsset: "BTC", Outflow: chain.Amounts{"BTC": chain.AmountOf(20_000_705)}}
		if edit != nil {
			edit(d)
		}
		return d
	}
	tests := []struct {
		name  string
		other *audit.WithdrawalDecided
		want  string // "" for no finding
	}{
		{"old and new fields", newer(nil), ""},
		{"another fee", newer(func(d *audit.WithdrawalDecided) { d.Fee = chain.AmountOf(900) }), "fee 705 BTC here, 900 BTC there"},
		{"another outflow", newer(func(d *audit.WithdrawalDecided) { d.Outflow["ETH"] = chain.AmountOf(1) }), "outflow 20000705 BTC here, 20000705 BTC, 1 ETH there"},
		{"another txid", newer(func(d *audit.WithdrawalDecided) { d.TxID = strings.Repeat("dd", 32) }), "txid cccccccccccc… here, dddddddddddd… there"},
		{"refused there", newer(func(d *audit.WithdrawalDecided) {
			d.Allowed, d.Rule, d.Outflow = false, "policy.daily_cap_exceeded", nil
		}),
			"allowed here, refused (policy.daily_cap_exceeded) there (node-2 record 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := map[string]*nodeFacts{
				"node-1": {node: "node-1", decided: map[string]decidedView{"wd-1": {at{"node-1", 3}, old}}},
				"node-2": {node: "node-2", decided: map[string]decidedView{"wd-1": {at{"node-2", 5}, tt.other}}},
			}
			res := &CrossResult{Absent: map[string]int{}}
			checkDecision(res, facts, []string{"node-1", "node-2"}, facts["node-1"], "wd-1")
			switch {
			case tt.want == "" && len(res.Findings) > 0:
				t.Fatalf("findings: %v", res.Findings)
			case tt.want != "" && (len(res.Findings) != 1 || !strings.Contains(res.Findings[0].Detail, tt.want)):
				t.Fatalf("findings %v, want one saying %q", res.Findings, tt.want)
			}
		})
	}
}
