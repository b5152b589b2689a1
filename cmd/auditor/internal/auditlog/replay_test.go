package auditlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/signer/audit"
)

var decidedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// btcDecision is an allowed Bitcoin decision needing two approvals, as
// Decide makes it under a format 1 bundle.
func btcDecision() policy.Decision {
	return policy.Decision{Allowed: true, Originator: "ledger", PolicyHash: [32]byte{7}, PolicyVersion: 3,
		Tx: &chain.Tx{ID: strings.Repeat("cc", 32), Fee: chain.AmountOf(705), FeeAsset: "BTC",
			Outflow: chain.Amounts{"BTC": chain.AmountOf(20_000_705)}, Sign: []chain.SignItem{{Message: []byte{0xd7, 0x55}}}},
		Outflow:  chain.Amounts{"BTC": chain.AmountOf(20_000_705)},
		Approval: &policy.Tier{Asset: "BTC", MinAmount: chain.AmountOf(20_000_000), Approvals: 2, Group: "treasury"}}
}

// ethDecision is an allowed decision of an account chain, holding a nonce
// and replacing another withdrawal.
func ethDecision() policy.Decision {
	fee := chain.MustAmount("2100000000000000")
	nonce := &chain.NonceUse{Account: "ethereum:1:0x52908400098527886e0f7030069857d2e4169ee7", Nonce: 7, Fee: fee}
	return policy.Decision{Allowed: true, Originator: "ledger", PolicyHash: [32]byte{8}, PolicyVersion: 4,
		Tx:      &chain.Tx{ID: strings.Repeat("ee", 32), Fee: fee, FeeAsset: "ETH", Nonce: nonce, Sign: []chain.SignItem{{Message: make([]byte, 32)}}},
		Outflow: chain.Amounts{"ETH": chain.MustAmount("1502100000000000000"), "USDC": chain.AmountOf(0)},
		Nonce:   nonce, Replaces: "wd-0"}
}

// TestCompareDecision: a record of the old satoshi fields and one of the
// fields of any chain both agree with the record Decided makes of the same
// decision; each field that differs is named.
func TestCompareDecision(t *testing.T) {
	hash, policyHash := [32]byte{1}, [32]byte{7}
	old := &audit.WithdrawalDecided{WithdrawalID: "wd-1", RequestHash: hex.EncodeToString(hash[:]), Allowed: true,
		PolicyHash:    hex.EncodeToString(policyHash[:]),
		PolicyVersion: 3, Originator: "ledger", Digests: []string{"d755"}, TxID: strings.Repeat("cc", 32), FeeSat: 705, OutflowSat: 20_000_705,
		DecidedAt: decidedAt, Approvals: 2, ApprovalGroup: "treasury", TierMinAmountSat: 20_000_000}
	if got := compareDecision(old, audit.Decided("wd-1", hash, btcDecision(), policy.Velocity{}, decidedAt)); len(got) > 0 {
		t.Errorf("an old record of the same decision: %v", got)
	}
	// A new record as the node stores it: through its JSON.
	raw, err := json.Marshal(audit.Decided("wd-2", hash, ethDecision(), policy.Velocity{}, decidedAt))
	if err != nil {
		t.Fatal(err)
	}
	var stored audit.WithdrawalDecided
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if got := compareDecision(&stored, audit.Decided("wd-2", hash, ethDecision(), policy.Velocity{}, decidedAt)); len(got) > 0 {
		t.Errorf("a new record of the same decision: %v", got)
	}

	tests := []struct {
		name   string
		edit   func(d *policy.Decision)
		differ string
	}{
		{"refused", func(d *policy.Decision) { d.Allowed, d.Rule = false, "nonce.reused" }, "allowed: log true, replay false (nonce.reused); rule: log (none), replay nonce.reused"},
		{"another fee", func(d *policy.Decision) { d.Tx.Fee = chain.AmountOf(1) }, "fee: log 2100000000000000 ETH, replay 1 ETH"},
		{"another outflow", func(d *policy.Decision) {
			d.Outflow = chain.Amounts{"ETH": chain.AmountOf(1), "USDC": chain.AmountOf(5)}
		},
			"outflow: log 1502100000000000000 ETH, replay 1 ETH, 5 USDC"},
		{"another nonce", func(d *policy.Decision) { d.Nonce = &chain.NonceUse{Account: d.Nonce.Account, Nonce: 8} },
			"nonce: log 7 of ethereum:1:0x52908400098527886e0f7030069857d2e4169ee7, replacing wd-0, replay 8 of ethereum:1:0x52908400098527886e0f7030069857d2e4169ee7, replacing wd-0"},
		{"no replacement", func(d *policy.Decision) { d.Replaces = "" }, "nonce: log 7 of ethereum:1:0x52908400098527886e0f7030069857d2e4169ee7, replacing wd-0, replay 7 of"},
		{"a tier", func(d *policy.Decision) {
			d.Approval = &policy.Tier{Asset: "ETH", MinAmount: chain.MustAmount("1000000000000000000"), Approvals: 1, Group: "security"}
		}, `approval tier: log 0 of "" from 0, replay 1 of "security" from 1000000000000000000 ETH`},
		{"another digest", func(d *policy.Decision) { d.Tx.Sign = []chain.SignItem{{Message: []byte{1}}} }, "digests: log ["},
		{"another txid", func(d *policy.Decision) { d.Tx.ID = strings.Repeat("ab", 32) }, "txid: log eeee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ethDecision()
			tt.edit(&d)
			got := strings.Join(compareDecision(&stored, audit.Decided("wd-2", hash, d, policy.Velocity{}, decidedAt)), "; ")
			if !strings.Contains(got, tt.differ) {
				t.Fatalf("got %q, want it to say %q", got, tt.differ)
			}
		})
	}
}

// TestVerifySignature: a signature verifies for the sign item's message
// and key, on each scheme, and not for another message.
func TestVerifySignature(t *testing.T) {
	digest := sha256.Sum256([]byte("tx"))
	priv, _ := btcec.NewPrivateKey()
	compact := btcecdsa.SignCompact(priv, digest[:], true)
	ecdsaSig := hex.EncodeToString(compact[1:])
	ecdsaItem := chain.SignItem{Message: digest[:], PublicKey: priv.PubKey().SerializeCompressed()}
	pub, edPriv, _ := ed25519.GenerateKey(nil)
	msg := []byte("a solana message, signed as it is")
	edSig := hex.EncodeToString(ed25519.Sign(edPriv, msg))
	edItem := chain.SignItem{Message: msg, PublicKey: pub}
	other := sha256.Sum256([]byte("another tx"))

	tests := []struct {
		name   string
		scheme chain.Scheme
		item   chain.SignItem
		sig    string
		want   string // "" if it verifies
	}{
		{"ecdsa", chain.ECDSASecp256k1, ecdsaItem, ecdsaSig, ""},
		{"ecdsa, another digest", chain.ECDSASecp256k1, chain.SignItem{Message: other[:], PublicKey: ecdsaItem.PublicKey}, ecdsaSig, "not by the input's key"},
		{"ecdsa, not a digest", chain.ECDSASecp256k1, chain.SignItem{Message: msg, PublicKey: ecdsaItem.PublicKey}, ecdsaSig, "not a 32-byte digest"},
		{"ecdsa, r zero", chain.ECDSASecp256k1, ecdsaItem, strings.Repeat("00", 32) + ecdsaSig[64:], "out of range"},
		{"ed25519", chain.EdDSAEd25519, edItem, edSig, ""},
		{"ed25519, another message", chain.EdDSAEd25519, chain.SignItem{Message: []byte("other"), PublicKey: pub}, edSig, "not by the input's key"},
		{"short", chain.ECDSASecp256k1, ecdsaItem, "0101", "not 64 bytes of hex"},
		{"unknown scheme", "rsa", ecdsaItem, ecdsaSig, "signature scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifySignature(tt.scheme, tt.item, tt.sig)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
