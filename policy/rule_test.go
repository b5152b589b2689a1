package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
)

// TestRuleVariables: each variable a rule may read has the value the
// documentation gives it. One rule per variable, so that a failure names
// the variable.
func TestRuleVariables(t *testing.T) {
	const amount = 400_000
	b := parse(t, testBundle(coldWallet()))
	r := request(t, allowed, amount)
	r.Intent.RequestedBy = "alice"
	resign(t, &r)
	r.Spent = vel(123, 4567)
	// Hour and weekday are of UTC: in this zone it is Monday, 23:00.
	r.Now = tuesdayNoon.In(time.FixedZone("UTC-13", -13*3600))
	d := b.Decide(r)
	if !d.Allowed {
		t.Fatalf("%s: %s", d.Rule, d.Reason)
	}
	fee, _ := d.Tx.Fee.Int64()
	vars := map[string]string{
		"amount_sat":        fmt.Sprintf("amount_sat == %d", amount),
		"fee_sat":           fmt.Sprintf("fee_sat == %d", fee),
		"outflow_sat":       fmt.Sprintf("outflow_sat == %d", amount+fee),
		"destination":       fmt.Sprintf("destination == %q", allowed),
		"destination_label": fmt.Sprintf("destination_label == %q", allowedLabel),
		"allowlisted":       "allowlisted",
		"wallet_id":         fmt.Sprintf("wallet_id == %q", walletID),
		"wallet_role":       `wallet_role == "cold"`,
		"network":           `network == "regtest"`,
		"inputs":            "inputs == 1",
		"change_sat":        fmt.Sprintf("change_sat == %d", coinValue-amount-fee),
		"spent_24h_sat":     "spent_24h_sat == 123",
		"spent_7d_sat":      "spent_7d_sat == 4567",
		"hour":              "hour == 12",
		"weekday":           `weekday == "tue"`,
		"requested_by":      `requested_by == "alice"`,
		"originator":        `originator == "ledger"`,
	}
	for name, expr := range vars {
		t.Run(name, func(t *testing.T) {
			// The rule and its negation: exactly one holds.
			for _, c := range []struct {
				expr string
				hold bool
			}{{expr, true}, {"!(" + expr + ")", false}} {
				w := coldWallet()
				w.Rules = []policy.Rule{{Name: "var", Expr: c.expr}}
				b := parse(t, testBundle(w))
				d := b.Decide(r)
				if d.Allowed != c.hold {
					t.Fatalf("%s: allowed %t (%s %s), want %t", c.expr, d.Allowed, d.Rule, d.Reason, c.hold)
				}
			}
		})
	}
	// A destination off the allowlist, on a hot wallet.
	w := hotWallet()
	w.Rules = []policy.Rule{
		{Name: "unlisted", Expr: `!allowlisted && destination_label == ""`},
		{Name: "role", Expr: `wallet_role == "hot"`},
		{Name: "requested-by", Expr: `requested_by == ""`},
	}
	hb := parse(t, testBundle(w))
	hr := request(t, other, amount)
	checkDecision(t, hb, hr, hb.Decide(hr), "", "")
}

func TestRules(t *testing.T) {
	// tenThousand is a rule that costs more than ten thousand steps.
	digits := "[0,1,2,3,4,5,6,7,8,9]"
	tenThousand := fmt.Sprintf("%[1]s.all(a, %[1]s.all(b, %[1]s.all(c, %[1]s.all(d, %[1]s.all(e, true)))))", digits)
	cases := []struct {
		name   string
		rules  []policy.Rule
		amount int64
		rule   string
		reason string // in the refusal's reason
	}{
		{name: "a rule that holds", rules: []policy.Rule{{Name: "small", Expr: "amount_sat <= 600000"}}, amount: 600_000},
		{
			name:   "a rule that does not hold, with its message",
			rules:  []policy.Rule{{Name: "small", Expr: "amount_sat <= 600000", Message: "cold wallet pays at most 0.006 BTC at once"}},
			amount: 600_001, rule: policy.RuleExprPrefix + "small", reason: "cold wallet pays at most 0.006 BTC at once",
		},
		{
			name:   "a rule that does not hold, without a message",
			rules:  []policy.Rule{{Name: "small", Expr: "amount_sat <= 600000"}},
			amount: 700_000, rule: "policy.rule.small", reason: "amount_sat <= 600000",
		},
		{
			name: "the first rule that does not hold is reported",
			rules: []policy.Rule{
				{Name: "holds", Expr: "true"},
				{Name: "first", Expr: "amount_sat < 100", Message: "first"},
				{Name: "second", Expr: "false", Message: "second"},
			},
			amount: 500_000, rule: "policy.rule.first", reason: "first",
		},
		{
			name: "all rules must hold",
			rules: []policy.Rule{
				{Name: "one", Expr: "amount_sat > 1000"},
				{Name: "two", Expr: `weekday != "sun"`},
				{Name: "three", Expr: "fee_sat < 1000", Message: "fee"},
			},
			amount: 500_000,
		},
		{
			name:   "a rule over the cost limit",
			rules:  []policy.Rule{{Name: "costly", Expr: tenThousand, Message: "never shown"}},
			amount: 500_000, rule: "policy.rule.costly", reason: "could not be evaluated",
		},
		{
			name:   "a rule that divides by zero",
			rules:  []policy.Rule{{Name: "divide", Expr: "amount_sat / (inputs - 1) > 0", Message: "never shown"}},
			amount: 500_000, rule: "policy.rule.divide", reason: "could not be evaluated",
		},
		{
			name:   "a rule that overflows",
			rules:  []policy.Rule{{Name: "overflow", Expr: "amount_sat * 9223372036854775807 > 0"}},
			amount: 500_000, rule: "policy.rule.overflow", reason: "could not be evaluated",
		},
		{
			name:   "a rule that reads a missing key",
			rules:  []policy.Rule{{Name: "missing", Expr: `{"a": true}[destination]`}},
			amount: 500_000, rule: "policy.rule.missing", reason: "could not be evaluated",
		},
		{
			name:   "a rule within the cost limit",
			rules:  []policy.Rule{{Name: "cheap", Expr: fmt.Sprintf("%[1]s.all(a, %[1]s.all(b, true))", digits)}},
			amount: 500_000,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := coldWallet()
			w.Rules = tc.rules
			b := parse(t, testBundle(w))
			r := request(t, allowed, tc.amount)
			d := b.Decide(r)
			checkDecision(t, b, r, d, tc.rule, allowedLabel)
			if !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("reason %q does not say %q", d.Reason, tc.reason)
			}
			if tc.rule != "" {
				t.Logf("refused: %s", d.Reason)
			}
		})
	}
}

// TestRulesAfterPolicy: rules come after the policy's own checks and
// apply to their own wallet only.
func TestRulesAfterPolicy(t *testing.T) {
	w := coldWallet()
	w.Rules = []policy.Rule{{Name: "never", Expr: "false"}}
	b := testBundle(w)
	b.Wallets[hotID] = hotWallet()
	pb := parse(t, b)

	// The allowlist refuses first: a rule cannot make it allow.
	r := request(t, other, 500_000)
	checkDecision(t, pb, r, pb.Decide(r), policy.RuleDestinationNotAllowed, "")
	r = request(t, allowed, 500_000)
	checkDecision(t, pb, r, pb.Decide(r), "policy.rule.never", allowedLabel)

	// The other wallet has no rule.
	r.Intent.WalletID = hotID
	resign(t, &r)
	checkDecision(t, pb, r, pb.Decide(r), "", "")

	// A rule that always holds allows nothing the policy refuses.
	w = coldWallet()
	w.Rules = []policy.Rule{{Name: "always", Expr: "true"}}
	pb = parse(t, testBundle(w))
	r = request(t, allowed, 1_000_001)
	checkDecision(t, pb, r, pb.Decide(r), policy.RuleAmountOverCap, allowedLabel)
}
