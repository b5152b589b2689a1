package ethereum_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

func TestParseParams(t *testing.T) {
	p := parseTestParams(t, "sepolia", testParams(true))
	if p.Network() != "sepolia" || p.ChainID() != 11155111 || p.FeeAsset() != "ETH" || p.FirstNonce() != 5 ||
		p.MaxGasLimit() != 100000 || p.AllowReplacement() || !slices.Equal(p.AccountPath(), bip32.ReceivePath(0)) {
		t.Errorf("params %+v", p)
	}
	if d, ok := p.Decimals("ETH"); !ok || d != 18 {
		t.Errorf("Decimals(ETH) = %d, %v", d, ok)
	}
	if d, ok := p.Decimals("USDC"); !ok || d != 6 {
		t.Errorf("Decimals(USDC) = %d, %v", d, ok)
	}
	if _, ok := p.Decimals("USDT"); ok {
		t.Error("Decimals(USDT) of an unregistered token")
	}
	if tok, ok := p.Token("DAI"); !ok || tok.Contract.String() != testDAI || tok.Decimals != 18 {
		t.Errorf("Token(DAI) = %+v", tok)
	}
	if ts := p.Tokens(); len(ts) != 2 || ts[0].Symbol != "DAI" || ts[1].Symbol != "USDC" {
		t.Errorf("Tokens = %+v", ts)
	}
	s, ok := p.Safe()
	if !ok || s.Address.String() != testSafe || s.Version != "1.3.0" || s.FirstNonce != 3 || s.MaxSafeTxGas != 50000 || s.LegacyDomain() {
		t.Errorf("Safe = %+v", s)
	}

	// Defaults.
	for network, id := range map[string]uint64{"mainnet": 1, "sepolia": 11155111, "holesky": 17000} {
		p, err := ethereum.ParseParams(network, nil)
		if err != nil || p.ChainID() != id || p.MaxGasLimit() != ethereum.DefaultMaxGasLimit ||
			!slices.Equal(p.AccountPath(), bip32.ReceivePath(0)) {
			t.Errorf("%s defaults: %+v, %v", network, p, err)
		}
		if _, ok := p.Safe(); ok {
			t.Errorf("%s defaults have a Safe", network)
		}
	}
	dev, err := ethereum.ParseParams("dev", json.RawMessage(`{"chain_id": 31337, "account_path": "m/1/2/3"}`))
	if err != nil || dev.ChainID() != 31337 || !slices.Equal(dev.AccountPath(), bip32.Path{1, 2, 3}) {
		t.Errorf("dev params: %+v, %v", dev, err)
	}
	c := ethereum.Chain{}
	if cp, err := c.ParseParams("holesky", nil); err != nil || cp.Network() != "holesky" {
		t.Errorf("Chain.ParseParams: %v, %v", cp, err)
	}
	if cp, err := c.ParseParams("ropsten", nil); cp != nil || err == nil {
		t.Errorf("Chain.ParseParams of an unknown network: %v, %v", cp, err)
	}
	legacy := testParams(true)
	legacy["safe"] = map[string]any{"address": testSafe, "version": "1.1.1", "accept_legacy_domain": true}
	if s, _ := parseTestParams(t, "sepolia", legacy).Safe(); !s.LegacyDomain() || !s.AcceptLegacyDomain {
		t.Errorf("legacy Safe %+v", s)
	}
}

// TestParseParamsRefuses checks that each malformed params object is
// refused, by the rule expected.
func TestParseParamsRefuses(t *testing.T) {
	base, _ := json.Marshal(testParams(true))
	edit := func(f func(p map[string]any)) string {
		p := testParams(true)
		f(p)
		b, _ := json.Marshal(p)
		return string(b)
	}
	addToken := func(p map[string]any, symbol string, t map[string]any) {
		t["symbol"] = symbol
		p["tokens"] = append(p["tokens"].([]any), t)
	}
	safe := func(p map[string]any) map[string]any { return p["safe"].(map[string]any) }
	tests := []struct {
		name, network, raw string
		want               chain.Rule
	}{
		{"unknown network", "ropsten", string(base), ethereum.RuleParamsInvalid},
		{"network of another chain id", "mainnet", string(base), ethereum.RuleParamsInvalid},
		{"dev without params", "dev", "", ethereum.RuleParamsInvalid},
		{"dev with mainnet's chain id", "dev", `{"chain_id": 1}`, ethereum.RuleParamsInvalid},
		{"dev with sepolia's chain id", "dev", `{"chain_id": 11155111}`, ethereum.RuleParamsInvalid},
		{"dev with chain id 0", "dev", `{"chain_id": 0}`, ethereum.RuleParamsInvalid},
		{"dev with a chain id over EIP-2294's bound", "dev", `{"chain_id": 9223372036854775772}`, ethereum.RuleParamsInvalid},
		{"no chain id", "sepolia", `{"first_nonce": 1}`, ethereum.RuleParamsInvalid},
		{"chain id as a string", "sepolia", `{"chain_id": "11155111"}`, ethereum.RuleParamsInvalid},
		{"chain id as a float", "sepolia", `{"chain_id": 11155111.0}`, ethereum.RuleParamsInvalid},
		{"chain id in exponent form", "mainnet", `{"chain_id": 1e0}`, ethereum.RuleParamsInvalid},
		{"negative first nonce", "mainnet", `{"chain_id": 1, "first_nonce": -1}`, ethereum.RuleParamsInvalid},
		{"first nonce over MaxNonce", "mainnet", `{"chain_id": 1, "first_nonce": 9223372036854775808}`, ethereum.RuleParamsInvalid},
		{"unknown field", "sepolia", edit(func(p map[string]any) { p["gas_price"] = 1 }), ethereum.RuleParamsInvalid},
		{"unknown token field", "sepolia", edit(func(p map[string]any) { p["tokens"].([]any)[0].(map[string]any)["name"] = "USD Coin" }), ethereum.RuleParamsInvalid},
		{"unknown Safe field", "sepolia", edit(func(p map[string]any) { safe(p)["threshold"] = 2 }), ethereum.RuleParamsInvalid},
		{"duplicate key", "mainnet", `{"chain_id": 1, "chain_id": 1}`, ethereum.RuleParamsInvalid},
		{"duplicate token", "mainnet", `{"chain_id": 1, "tokens": [{"symbol": "USDC", "contract": "` + testUSDC + `", "decimals": 6}, {"symbol": "USDC", "contract": "` + testDAI + `", "decimals": 6}]}`, ethereum.RuleParamsInvalid},
		{"null", "mainnet", `null`, ethereum.RuleParamsInvalid},
		{"null field", "mainnet", `{"chain_id": 1, "safe": null}`, ethereum.RuleParamsInvalid},
		{"an array", "mainnet", `[1]`, ethereum.RuleParamsInvalid},
		{"trailing bytes", "mainnet", `{"chain_id": 1} {}`, ethereum.RuleParamsInvalid},
		{"trailing garbage", "mainnet", `{"chain_id": 1}x`, ethereum.RuleParamsInvalid},
		{"not JSON", "mainnet", `chain_id=1`, ethereum.RuleParamsInvalid},
		{"oversize", "mainnet", `{"chain_id": 1}` + strings.Repeat(" ", ethereum.MaxParamsSize), ethereum.RuleParamsInvalid},
		{"hardened account path", "mainnet", `{"chain_id": 1, "account_path": "m/44'/60'/0'/0/0"}`, ethereum.RuleParamsInvalid},
		{"account path without m", "mainnet", `{"chain_id": 1, "account_path": "0/0"}`, ethereum.RuleParamsInvalid},
		{"gas cap below 21000", "mainnet", `{"chain_id": 1, "max_gas_limit": 20999}`, ethereum.RuleParamsInvalid},
		{"gas cap 0", "mainnet", `{"chain_id": 1, "max_gas_limit": 0}`, ethereum.RuleParamsInvalid},
		{"gas cap over 2^24", "mainnet", `{"chain_id": 1, "max_gas_limit": 16777217}`, ethereum.RuleParamsInvalid},
		{"token ETH", "sepolia", edit(func(p map[string]any) { addToken(p, "ETH", map[string]any{"contract": testAttacker, "decimals": 18}) }), ethereum.RuleParamsInvalid},
		{"token symbol in lower case", "sepolia", edit(func(p map[string]any) { addToken(p, "usdt", map[string]any{"contract": testAttacker, "decimals": 6}) }), ethereum.RuleParamsInvalid},
		{"token symbol of 17 letters", "sepolia", edit(func(p map[string]any) {
			addToken(p, "ABCDEFGHIJKLMNOPQ", map[string]any{"contract": testAttacker, "decimals": 6})
		}), ethereum.RuleParamsInvalid},
		{"empty token symbol", "sepolia", edit(func(p map[string]any) { addToken(p, "", map[string]any{"contract": testAttacker, "decimals": 6}) }), ethereum.RuleParamsInvalid},
		{"token without decimals", "sepolia", edit(func(p map[string]any) { addToken(p, "USDT", map[string]any{"contract": testAttacker}) }), ethereum.RuleParamsInvalid},
		{"token with 37 decimals", "sepolia", edit(func(p map[string]any) { addToken(p, "USDT", map[string]any{"contract": testAttacker, "decimals": 37}) }), ethereum.RuleParamsInvalid},
		{"token with negative decimals", "sepolia", edit(func(p map[string]any) { addToken(p, "USDT", map[string]any{"contract": testAttacker, "decimals": -1}) }), ethereum.RuleParamsInvalid},
		{"token contract in lower case", "sepolia", edit(func(p map[string]any) {
			addToken(p, "USDT", map[string]any{"contract": strings.ToLower(testAttacker), "decimals": 6})
		}), ethereum.RuleParamsInvalid},
		{"token contract the zero address", "sepolia", edit(func(p map[string]any) {
			addToken(p, "USDT", map[string]any{"contract": "0x" + strings.Repeat("0", 40), "decimals": 6})
		}), ethereum.RuleParamsInvalid},
		{"two tokens of one contract", "sepolia", edit(func(p map[string]any) { addToken(p, "USDT", map[string]any{"contract": testUSDC, "decimals": 6}) }), ethereum.RuleParamsInvalid},
		{"token contract the Safe", "sepolia", edit(func(p map[string]any) { addToken(p, "USDT", map[string]any{"contract": testSafe, "decimals": 6}) }), ethereum.RuleParamsInvalid},
		{"token contract a MultiSend", "sepolia", edit(func(p map[string]any) {
			addToken(p, "USDT", map[string]any{"contract": "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D", "decimals": 6})
		}), ethereum.RuleParamsInvalid},
		{"Safe address in lower case", "sepolia", edit(func(p map[string]any) { safe(p)["address"] = strings.ToLower(testSafe) }), ethereum.RuleParamsInvalid},
		{"Safe the zero address", "sepolia", edit(func(p map[string]any) { safe(p)["address"] = "0x" + strings.Repeat("0", 40) }), ethereum.RuleParamsInvalid},
		{"Safe version 1.0.0", "sepolia", edit(func(p map[string]any) { safe(p)["version"] = "1.0.0" }), ethereum.RuleParamsInvalid},
		{"Safe version 1.4.0", "sepolia", edit(func(p map[string]any) { safe(p)["version"] = "1.4.0" }), ethereum.RuleParamsInvalid},
		{"Safe version v1.3.0", "sepolia", edit(func(p map[string]any) { safe(p)["version"] = "v1.3.0" }), ethereum.RuleParamsInvalid},
		{"Safe version missing", "sepolia", edit(func(p map[string]any) { delete(safe(p), "version") }), ethereum.RuleParamsInvalid},
		{"Safe v1.1.1 without consent", "sepolia", edit(func(p map[string]any) { safe(p)["version"] = "1.1.1" }), ethereum.RuleSafeLegacyDomain},
		{"Safe v1.2.0 without consent", "sepolia", edit(func(p map[string]any) { safe(p)["version"] = "1.2.0" }), ethereum.RuleSafeLegacyDomain},
		{"consent to a legacy domain for v1.3.0", "sepolia", edit(func(p map[string]any) { safe(p)["accept_legacy_domain"] = true }), ethereum.RuleParamsInvalid},
		{"Safe nonce over MaxNonce", "sepolia", edit(func(p map[string]any) { safe(p)["first_nonce"] = uint64(1 << 63) }), ethereum.RuleParamsInvalid},
		{"safeTxGas cap over 2^24", "sepolia", edit(func(p map[string]any) { safe(p)["max_safe_tx_gas"] = 1<<24 + 1 }), ethereum.RuleParamsInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ethereum.ParseParams(tc.network, json.RawMessage(tc.raw))
			if p != nil {
				t.Fatalf("ParseParams accepted %s", tc.raw)
			}
			if got := refusalRule(err); got != tc.want {
				t.Fatalf("refused by %q (%v), want %s", got, err, tc.want)
			}
		})
	}
}

// FuzzParseParams checks that ParseParams never panics, refuses with a
// *chain.Refusal, and accepts only params within their limits.
func FuzzParseParams(f *testing.F) {
	for _, safe := range []bool{false, true} {
		raw, _ := json.Marshal(testParams(safe))
		f.Add("sepolia", raw)
	}
	f.Add("dev", []byte(`{"chain_id": 31337, "safe": {"address": "`+testSafe+`", "version": "1.1.1", "accept_legacy_domain": true}}`))
	f.Add("mainnet", []byte(``))
	f.Fuzz(func(t *testing.T, network string, raw []byte) {
		p, err := ethereum.ParseParams(network, raw)
		if err != nil {
			if refusalRule(err) == "" {
				t.Fatalf("ParseParams: %v is not a *chain.Refusal", err)
			}
			return
		}
		if p.Network() != network || p.ChainID() == 0 || p.ChainID() > ethereum.MaxChainID ||
			p.MaxGasLimit() < ethereum.MinGasLimit || p.MaxGasLimit() > ethereum.MaxGasLimit || p.FirstNonce() > ethereum.MaxNonce {
			t.Fatalf("ParseParams accepted %+v", p)
		}
		seen := map[ethereum.Address]bool{}
		for _, tok := range p.Tokens() {
			if tok.Symbol == "ETH" || tok.Decimals < 0 || tok.Decimals > ethereum.MaxDecimals || tok.Contract.IsZero() || seen[tok.Contract] {
				t.Fatalf("ParseParams accepted token %+v", tok)
			}
			seen[tok.Contract] = true
		}
		if s, ok := p.Safe(); ok && (s.Address.IsZero() || seen[s.Address] || s.LegacyDomain() != s.AcceptLegacyDomain) {
			t.Fatalf("ParseParams accepted Safe %+v", s)
		}
	})
}
