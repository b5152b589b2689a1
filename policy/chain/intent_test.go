package chain_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/countersign/countersign/policy/chain"
)

// v1 is the Bitcoin intent form of logs written before version 2: its
// bytes, request hashes and signatures must never change.
const v1 = `{"v":1,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`

func TestIntentV1RoundTrip(t *testing.T) {
	in, err := chain.ParseIntent([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if in.Version != chain.IntentV1 || in.Chain != "bitcoin" || in.Network != "regtest" || in.Amount.String() != "25000000" || in.FeeCap.String() != "10000" {
		t.Fatalf("parsed %+v", in)
	}
	if got := in.Canonical(); string(got) != v1 {
		t.Fatalf("re-encodes as %s", got)
	}
	in.RequestedBy = "alice"
	b := in.Canonical()
	if got, err := chain.ParseIntent(b); err != nil || !bytes.Equal(got.Canonical(), b) || got.RequestedBy != "alice" {
		t.Fatalf("with requested_by: %+v, %v", got, err)
	}
	// A v1 intent that cannot be v1 (an amount past int64, a replacement)
	// is written as v2, never as a v1 that would not parse back.
	in.Amount = chain.MustAmount("18446744073709551616")
	if got, err := chain.ParseIntent(in.Canonical()); err != nil || got.Version != chain.IntentV2 || !got.Amount.Equal(in.Amount) {
		t.Fatalf("large v1 amount: %s: %+v, %v", in.Canonical(), got, err)
	}
}

func TestIntentV2RoundTrip(t *testing.T) {
	in := chain.Intent{Version: chain.IntentV2, WithdrawalID: "wd-2", WalletID: "w-0123456789abcdef", Chain: "ethereum", Network: "sepolia",
		Asset: "USDC", Destination: "0x52908400098527886E0F7030069857D2E4169EE7", Amount: chain.MustAmount("123456789012345678901234567890"),
		FeeCap: chain.AmountOf(2_100_000_000_000_000), RequestedBy: "carol", Replaces: "wd-1"}
	want := `{"v":2,"withdrawal_id":"wd-2","wallet_id":"w-0123456789abcdef","chain":"ethereum","network":"sepolia","asset":"USDC","destination":"0x52908400098527886E0F7030069857D2E4169EE7","amount":"123456789012345678901234567890","fee_cap":"2100000000000000","requested_by":"carol","replaces":"wd-1"}`
	if got := in.Canonical(); string(got) != want {
		t.Fatalf("Canonical() = %s\nwant %s", got, want)
	}
	got, err := chain.ParseIntent([]byte(want))
	if err != nil || !bytes.Equal(got.Canonical(), []byte(want)) || got.Replaces != "wd-1" || !got.Amount.Equal(in.Amount) {
		t.Fatalf("ParseIntent = %+v, %v", got, err)
	}
}

func TestParseIntentRefuses(t *testing.T) {
	for name, bad := range map[string]string{
		"spaces":            `{"v":1, "withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`,
		"reordered":         `{"withdrawal_id":"wd-1","v":1,"wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`,
		"unknown field":     `{"v":1,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000,"memo":"x"}`,
		"v1 fields as v2":   `{"v":2,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`,
		"v2 amount number":  `{"v":2,"withdrawal_id":"a","wallet_id":"b","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":1,"fee_cap":"1"}`,
		"v2 leading zero":   `{"v":2,"withdrawal_id":"a","wallet_id":"b","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":"01","fee_cap":"1"}`,
		"v2 sign":           `{"v":2,"withdrawal_id":"a","wallet_id":"b","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":"+1","fee_cap":"1"}`,
		"v2 over 2^256":     `{"v":2,"withdrawal_id":"a","wallet_id":"b","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":"115792089237316195423570985008687907853269984665640564039457584007913129639936","fee_cap":"1"}`,
		"v1 negative":       `{"v":1,"withdrawal_id":"wd-1","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":-1,"fee_cap_sat":1}`,
		"v1 exponent":       `{"v":1,"withdrawal_id":"wd-1","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":1e3,"fee_cap_sat":1}`,
		"version 3":         `{"v":3}`,
		"trailing":          v1 + ` `,
		"two objects":       v1 + v1,
		"empty":             ``,
		"escaped key":       `{"v":2,"withdrawal_id":"a","wallet_id":"b","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":"1","fee_cap":"1","requested_\u0062y":"c"}`,
		"case-folded field": `{"v":2,"withdrawal_id":"a","wallet_id":"b","Chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":"1","fee_cap":"1"}`,
	} {
		if _, err := chain.ParseIntent([]byte(bad)); !errors.Is(err, chain.ErrIntent) {
			t.Errorf("%s: ParseIntent = %v, want ErrIntent", name, err)
		}
	}
}

func TestIntentCheck(t *testing.T) {
	good := func() chain.Intent {
		return chain.Intent{Version: chain.IntentV2, WithdrawalID: "wd-1", WalletID: "w-0123456789abcdef", Chain: "bitcoin", Network: "regtest",
			Asset: "BTC", Destination: "bcrt1qexample", Amount: chain.AmountOf(1), FeeCap: chain.AmountOf(1)}
	}
	if err := good().Check(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func(*chain.Intent)
		rule chain.Rule
	}{
		"empty id":        {func(in *chain.Intent) { in.WithdrawalID = "" }, chain.RuleIntentWithdrawalID},
		"id with a space": {func(in *chain.Intent) { in.WithdrawalID = "wd 1" }, chain.RuleIntentWithdrawalID},
		"long wallet id":  {func(in *chain.Intent) { in.WalletID = string(bytes.Repeat([]byte("w"), 65)) }, chain.RuleIntentWalletID},
		"requested_by":    {func(in *chain.Intent) { in.RequestedBy = "Alice!" }, chain.RuleIntentRequestedBy},
		"replaces itself": {func(in *chain.Intent) { in.Replaces = in.WithdrawalID }, chain.RuleIntentReplaces},
		"zero amount":     {func(in *chain.Intent) { in.Amount = chain.Amount{} }, chain.RuleIntentAmount},
		"zero fee cap":    {func(in *chain.Intent) { in.FeeCap = chain.AmountOf(0) }, chain.RuleIntentFeeCap},
		"no destination":  {func(in *chain.Intent) { in.Destination = "" }, chain.RuleIntentDestinationInvalid},
		"no asset":        {func(in *chain.Intent) { in.Asset = "" }, chain.RuleIntentAsset},
	} {
		in := good()
		tc.edit(&in)
		var rf *chain.Refusal
		if err := in.Check(); !errors.As(err, &rf) || rf.Rule != tc.rule || !errors.Is(err, chain.ErrRefused) {
			t.Errorf("%s: Check = %v, want %s", name, err, tc.rule)
		}
	}
}

func TestAmount(t *testing.T) {
	a := chain.MustAmount("1500000000000000000")
	if a.Decimal(18) != "1.5" || chain.AmountOf(45_000_000).Decimal(8) != "0.45" || chain.AmountOf(7).Decimal(0) != "7" || chain.AmountOf(1).Decimal(6) != "0.000001" {
		t.Fatal("Decimal")
	}
	max := chain.MustAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
	if _, ok := max.Add(chain.AmountOf(1)); ok {
		t.Fatal("2^256 fits")
	}
	if _, ok := chain.AmountOf(1).Sub(chain.AmountOf(2)); ok {
		t.Fatal("a negative amount")
	}
	if v, ok := chain.MustAmount("9223372036854775808").Int64(); ok {
		t.Fatalf("2^63 is int64 %d", v)
	}
	sum, ok := chain.Amounts{"BTC": chain.AmountOf(1)}.Plus(chain.Amounts{"BTC": chain.AmountOf(2), "ETH": chain.AmountOf(3)})
	if !ok || sum["BTC"].String() != "3" || sum["ETH"].String() != "3" {
		t.Fatalf("Plus = %v", sum)
	}
	if (chain.Amount{}).String() != "0" || !(chain.Amount{}).Equal(chain.AmountOf(0)) {
		t.Fatal("the zero Amount is not 0")
	}
}

// FuzzParseIntent: the intent encoding is not malleable: whatever parses
// re-encodes byte for byte, and amounts re-parse to the same values.
func FuzzParseIntent(f *testing.F) {
	f.Add([]byte(v1))
	f.Add([]byte(`{"v":2,"withdrawal_id":"a","wallet_id":"b","chain":"ethereum","network":"sepolia","asset":"ETH","destination":"0x0","amount":"1","fee_cap":"1","requested_by":"c","replaces":"d"}`))
	f.Add([]byte(`{"v":1,"withdrawal_id":"a","wallet_id":"b","network":"","asset":"","destination":"","amount_sat":0,"fee_cap_sat":0,"requested_by":"c"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := chain.ParseIntent(b)
		if err != nil {
			if !errors.Is(err, chain.ErrIntent) {
				t.Fatalf("error %v does not wrap ErrIntent", err)
			}
			return
		}
		if !bytes.Equal(in.Canonical(), b) {
			t.Fatalf("%q parsed but re-encodes as %q", b, in.Canonical())
		}
		if a, err := chain.ParseAmount(in.Amount.String()); err != nil || !a.Equal(in.Amount) {
			t.Fatalf("amount %s does not re-parse: %v", in.Amount, err)
		}
	})
}
