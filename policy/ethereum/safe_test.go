package ethereum_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"golang.org/x/crypto/sha3"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

func keccakString(s string) string {
	d := sha3.NewLegacyKeccak256()
	d.Write([]byte(s))
	return hex.EncodeToString(d.Sum(nil))
}

// TestSelectors checks the ERC-20 selectors that refusals name against
// the digests of their signatures.
func TestSelectors(t *testing.T) {
	if got := keccakString("transfer(address,uint256)")[:8]; got != "a9059cbb" {
		t.Errorf("transfer selector %s", got)
	}
	for sig, want := range map[string]string{
		"approve(address,uint256)":                                      "095ea7b3",
		"increaseAllowance(address,uint256)":                            "39509351",
		"transferFrom(address,address,uint256)":                         "23b872dd",
		"permit(address,address,uint256,uint256,uint8,bytes32,bytes32)": "d505accf",
	} {
		if got := keccakString(sig)[:8]; got != want {
			t.Errorf("selector of %s is %s, want %s", sig, got, want)
		}
	}
}

// TestMultiSend checks the MultiSend deployments of the three versions
// named in the docs.
func TestMultiSend(t *testing.T) {
	for _, s := range []string{"0x8D29bE29923b68abfDD21e541b9374737B49cdAD", "0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761",
		"0x40A2aCCbd92BCA938b02010E17A5b8929b49130D", "0x38869bf66a61cF6bDB996A6aE40D5853Fd43B526", "0x9641d764fc13c8B624c04430C7356C1C7C8102e2"} {
		if name, ok := ethereum.MultiSend(mustAddress(t, s)); !ok || name == "" {
			t.Errorf("%s is not a known MultiSend", s)
		}
	}
	if _, ok := ethereum.MultiSend(mustAddress(t, testDest)); ok {
		t.Error("the destination is a MultiSend")
	}
	if v := ethereum.SafeVersions(); len(v) != 5 || v[0] != "1.1.1" || v[4] != "1.5.0" {
		t.Errorf("SafeVersions = %v", v)
	}
}

// bybitSafeTx is the SafeTx three Bybit owners signed on 21 February 2025:
// a DELEGATECALL of a contract whose transfer(address,uint256) replaced the
// Safe's singleton.
func bybitSafeTx(t testing.TB) *ethereum.SafeTx {
	return &ethereum.SafeTx{
		Safe:      mustAddress(t, "0x1Db92e2EeBC8E0c075a02BeA49a2935BcD2dFCF4"),
		ChainID:   chain.AmountOf(1),
		To:        mustAddress(t, "0x96221423681A6d52E184D440a8eFCEbB105C7242"),
		Data:      ethereum.TransferCalldata(mustAddress(t, "0xbDd077f651EBe7f7b3cE16fe5F2b025BE2969516"), chain.Amount{}),
		Operation: chain.AmountOf(1),
		SafeTxGas: chain.AmountOf(45746),
		Nonce:     chain.AmountOf(71),
	}
}

const bybitSafeTxHash = "b3476d061aeb8fc1d605a873c483a2402d88a68a9cdd1a8b47655dd55ba004f8"

// TestSafeTxHashKnownAnswers reproduces published SafeTx hashes: Bybit's
// under the v1.1.1 domain, and morpho-org/safe-tx-hash's test vector
// under the chain id domain of v1.3.0 and later.
func TestSafeTxHashKnownAnswers(t *testing.T) {
	h, err := bybitSafeTx(t).Hash("1.1.1")
	if err != nil || h.String() != bybitSafeTxHash {
		t.Errorf("Bybit SafeTx hash %s (%v), want %s", h, err, bybitSafeTxHash)
	}
	// v1.2.0 has the same domain; v1.3.0 adds the chain id.
	if h2, _ := bybitSafeTx(t).Hash("1.2.0"); h2 != h {
		t.Errorf("v1.2.0 hash %s differs from v1.1.1's", h2)
	}
	if h3, _ := bybitSafeTx(t).Hash("1.3.0"); h3 == h {
		t.Error("v1.3.0 hash equals v1.1.1's: the domain has no chain id")
	}
	if _, err := bybitSafeTx(t).Hash("1.0.0"); err == nil {
		t.Error("Hash accepted version 1.0.0")
	}

	base := &ethereum.SafeTx{
		Safe:    mustAddress(t, "0xcBa28b38103307Ec8dA98377ffF9816C164f9AFa"),
		ChainID: chain.AmountOf(8453),
		To:      mustAddress(t, "0xBAa5CC21fd487B8Fcc2F632f3F4E8D37262a0842"),
		Data:    mustHex(t, "a9059cbb000000000000000000000000f057afeec22e220f47ad4220871364e9e828b2e900000000000000000000000000000000000000000001a784379d99db42000000"),
		Nonce:   chain.AmountOf(11),
	}
	for _, v := range []string{"1.3.0", "1.4.1", "1.5.0"} {
		d, err := ethereum.SafeDomainSeparator(v, base.ChainID, base.Safe)
		if err != nil || d.String() != "837b1eb3bcc66a4b6bd9f0d8c876e31648b46ac2e66e4080ee93e97e51074cb9" {
			t.Errorf("v%s domain separator %s (%v)", v, d, err)
		}
		h, err := base.Hash(v)
		if err != nil || h.String() != "1bf99e3cf2d2272960c8a02ca4163459ad240de7995bec237a886b84968a077c" {
			t.Errorf("v%s SafeTx hash %s (%v)", v, h, err)
		}
	}
	if s := base.StructHash(); s.String() != "18100568166f32d42c2c1d01c907dabc9bec58334a125da2a2a43742764183cd" {
		t.Errorf("struct hash %s", s)
	}
}

// bybitParams are params under which the Bybit Safe's owners could have
// co-signed withdrawals: mainnet, the Safe at v1.1.1 with the officers'
// consent to its domain, safeTxGas up to the attack's, USDT registered.
func bybitParams(t testing.TB) *ethereum.Params {
	raw, _ := json.Marshal(map[string]any{
		"chain_id": 1,
		"tokens":   []any{map[string]any{"symbol": "USDT", "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6}},
		"safe": map[string]any{"address": "0x1Db92e2EeBC8E0c075a02BeA49a2935BcD2dFCF4", "version": "1.1.1", "first_nonce": 71,
			"max_safe_tx_gas": 100000, "accept_legacy_domain": true},
	})
	p, err := ethereum.ParseParams("mainnet", raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBybit checks that the Bybit SafeTx is refused for what it does,
// whatever the intent says, and that with its DELEGATECALL turned into a
// CALL it is still refused: it calls neither the destination nor a token
// contract.
func TestBybit(t *testing.T) {
	w := newTestWallet(t)
	p := bybitParams(t)
	intents := map[string]chain.Intent{
		"ETH to the hot wallet":  {Version: 2, WithdrawalID: "cold-71", WalletID: "cold", Chain: "ethereum", Network: "mainnet", Asset: "ETH", Destination: "0xbDd077f651EBe7f7b3cE16fe5F2b025BE2969516", Amount: chain.AmountOf(1), FeeCap: chain.AmountOf(1)},
		"USDT to the hot wallet": {Version: 2, WithdrawalID: "cold-71", WalletID: "cold", Chain: "ethereum", Network: "mainnet", Asset: "USDT", Destination: "0xbDd077f651EBe7f7b3cE16fe5F2b025BE2969516", Amount: chain.AmountOf(1), FeeCap: chain.AmountOf(1)},
	}
	for name, in := range intents {
		t.Run(name, func(t *testing.T) {
			c := ethereum.Chain{}
			lim := testLimits()
			s := bybitSafeTx(t)
			_, err := c.Rederive(in, s.Encode(), w.key, p, lim)
			if got := refusalRule(err); got != ethereum.RuleSafeOperation {
				t.Fatalf("Bybit SafeTx refused by %q (%v), want %s", got, err, ethereum.RuleSafeOperation)
			}
			s.Operation = chain.Amount{}
			_, err = c.Rederive(in, s.Encode(), w.key, p, lim)
			if got := refusalRule(err); got != ethereum.RuleTxTo {
				t.Fatalf("Bybit SafeTx as a CALL refused by %q (%v), want %s", got, err, ethereum.RuleTxTo)
			}
			// What the owners should have signed for the same intent is
			// accepted, under the hash the node computes itself.
			good, err := ethereum.BuildSafeTx(p, in, 71, 0)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := c.Rederive(in, good, w.key, p, lim)
			if err != nil {
				t.Fatalf("the honest SafeTx: %v", err)
			}
			gs, _ := ethereum.ParseSafeTx(good)
			h, _ := gs.Hash("1.1.1")
			if tx.ID != h.String() || tx.Nonce.Account != "safe:1:0x1db92e2eebc8e0c075a02bea49a2935bcd2dfcf4" || tx.Nonce.First != 71 {
				t.Fatalf("tx %+v", tx)
			}
			var legacy bool
			for _, f := range tx.Facts {
				legacy = legacy || (f.Label == "Signature domain" && f.Risk)
			}
			if !legacy {
				t.Errorf("facts do not warn of the domain without a chain id: %+v", tx.Facts)
			}
		})
	}
}

// TestParseSafeTx checks that a SafeTx decodes to its fields and that
// Describe flags what Rederive refuses.
func TestParseSafeTx(t *testing.T) {
	s := bybitSafeTx(t)
	back, err := ethereum.ParseSafeTx(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.Safe != s.Safe || back.To != s.To || !back.Operation.Equal(s.Operation) || !back.Nonce.Equal(s.Nonce) ||
		!back.SafeTxGas.Equal(s.SafeTxGas) || hex.EncodeToString(back.Data) != hex.EncodeToString(s.Data) {
		t.Fatalf("ParseSafeTx = %+v, want %+v", back, s)
	}
	facts, err := ethereum.Describe(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range facts {
		if f.Label == "Operation" && (f.Value != "1 (DELEGATECALL)" || !f.Risk) {
			t.Errorf("Describe: %+v", f)
		}
		if f.Label == "Data" && f.Value != "transfer(0xbDd077f651EBe7f7b3cE16fe5F2b025BE2969516, 0)" {
			t.Errorf("Describe: %+v", f)
		}
	}
}
