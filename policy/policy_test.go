package policy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
)

const walletID = "w-00112233aabbccdd"

// G and 2G as regtest P2WPKH addresses.
var (
	allowed = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	other   = func() string {
		_, pub := btcec.PrivKeyFromBytes([]byte{2})
		a, _ := bitcoin.P2WPKHAddress([33]byte(pub.SerializeCompressed()), bitcoin.Regtest)
		return a
	}()
)

func file(t testing.TB, rules policy.WalletRules) *policy.File {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"version": 1, "wallets": map[string]any{walletID: rules}})
	f, err := policy.ParseFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func cold() policy.WalletRules {
	return policy.WalletRules{Destinations: []policy.Destination{{Address: allowed, Label: "cold"}}, MaxAmountSat: 1_000_000, DailyCapSat: 2_000_000, MaxFeeSat: 10_000}
}

// withdrawal builds a real PSBT of a test wallet paying dest.
func withdrawal(t testing.TB, dest string, amount int64) (bitcoin.Intent, []byte, bitcoin.Key) {
	t.Helper()
	priv, _ := btcec.PrivKeyFromBytes([]byte("policy test wallet key, 32 bytes"))
	key := bitcoin.Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: [32]byte{9}}
	child, err := key.Derive(bitcoin.ReceivePath(0))
	if err != nil {
		t.Fatal(err)
	}
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{1}, 0), nil, nil))
	prev.AddTxOut(wire.NewTxOut(5_000_000, bitcoin.P2WPKHScript(child.PublicKey)))
	in := bitcoin.Intent{WithdrawalID: "wd-1", WalletID: walletID, Network: bitcoin.Regtest, Asset: "BTC", Destination: dest, Amount: amount, FeeCap: 5_000}
	raw, err := bitcoin.BuildWithdrawal(in, key, []bitcoin.UTXO{{PrevTx: prev, Index: 0, Path: bitcoin.ReceivePath(0)}}, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	return in, raw, key
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name  string
		rules func() policy.WalletRules
		dest  string
		amt   int64
		spent int64
		rule  string
		label string
	}{
		{"allowed destination", cold, allowed, 500_000, 0, "", "cold"},
		{"destination not on the allowlist", cold, other, 500_000, 0, policy.RuleDestinationNotAllowed, ""},
		{"at the per-withdrawal cap", cold, allowed, 1_000_000, 0, "", "cold"},
		{"over the per-withdrawal cap", cold, allowed, 1_000_001, 0, policy.RuleAmountOverCap, "cold"},
		{"the daily cap counts earlier withdrawals", cold, allowed, 600_000, 1_500_000, policy.RuleDailyCapExceeded, "cold"},
		{"a hot wallet pays anyone", func() policy.WalletRules {
			r := cold()
			r.Destinations, r.AnyDestination = nil, true
			return r
		}, other, 500_000, 0, "", ""},
		{"the fee cap comes from policy", func() policy.WalletRules {
			r := cold()
			r.MaxFeeSat = 1
			return r
		}, allowed, 500_000, 0, string(bitcoin.RuleFeeOverPolicy), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, raw, key := withdrawal(t, tc.dest, tc.amt)
			f := file(t, tc.rules())
			d := policy.Decide(f, in, raw, key, tc.spent)
			if d.Allowed != (tc.rule == "") || d.Rule != tc.rule || d.DestinationLabel != tc.label {
				t.Fatalf("got allowed=%t rule=%q label=%q (%s), want rule %q", d.Allowed, d.Rule, d.DestinationLabel, d.Reason, tc.rule)
			}
			if d.PolicyHash != f.Hash() {
				t.Fatal("the decision does not name its policy")
			}
			if d.Allowed && (d.Withdrawal == nil || d.Outflow != tc.amt+d.Withdrawal.Fee) {
				t.Fatalf("outflow %d", d.Outflow)
			}
		})
	}
	t.Run("a wallet the policy does not name", func(t *testing.T) {
		in, raw, key := withdrawal(t, allowed, 1000)
		in.WalletID = "w-ffffffffffffffff"
		if d := policy.Decide(file(t, cold()), in, raw, key, 0); d.Allowed || d.Rule != policy.RuleWalletUnknown {
			t.Fatalf("%+v", d)
		}
	})
}

func TestParseFile(t *testing.T) {
	good := `{"version":1,"wallets":{"w-00112233aabbccdd":{"destinations":[{"address":"a","label":"l"}],"max_amount_sat":1,"daily_cap_sat":1,"max_fee_sat":1}}}`
	if _, err := policy.ParseFile([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{
		"unknown field":         strings.Replace(good, `"version":1`, `"version":1,"extra":true`, 1),
		"future version":        strings.Replace(good, `"version":1`, `"version":2`, 1),
		"bad wallet id":         strings.Replace(good, "w-00112233aabbccdd", "wallet", 1),
		"both any and a list":   strings.Replace(good, `"destinations"`, `"any_destination":true,"destinations"`, 1),
		"daily cap below max":   strings.Replace(good, `"max_amount_sat":1`, `"max_amount_sat":5`, 1),
		"zero fee cap":          strings.Replace(good, `"max_fee_sat":1`, `"max_fee_sat":0`, 1),
		"lock time as a time":   strings.Replace(good, `"max_fee_sat":1`, `"max_fee_sat":1,"max_lock_time":600000000`, 1),
		"destination w/o label": strings.Replace(good, `"label":"l"`, `"label":""`, 1),
		"trailing data":         good + "{}",
	} {
		if _, err := policy.ParseFile([]byte(raw)); !errors.Is(err, policy.ErrFile) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"wallets":{}}`))
	f.Add([]byte(`{"version":1,"wallets":{"w-00112233aabbccdd":{"any_destination":true,"max_amount_sat":1,"daily_cap_sat":1,"max_fee_sat":1}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		pf, err := policy.ParseFile(raw)
		if err != nil {
			return
		}
		for id, w := range pf.Wallets {
			if w == nil || w.MaxAmountSat <= 0 || w.DailyCapSat < w.MaxAmountSat || w.AnyDestination == (len(w.Destinations) > 0) {
				t.Fatalf("accepted an invalid policy for %s", id)
			}
		}
	})
}
