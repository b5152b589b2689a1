package policy_test

import (
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/policytest"
)

// BenchmarkDecide10Inputs is a whole decision on a withdrawal of ten
// inputs, as a node makes it: the originator's signature over the intent,
// the re-derivation of the transaction (bitcoin.Rederive), the allowlist,
// caps, a CEL rule and the approval tiers.
func BenchmarkDecide10Inputs(b *testing.B) {
	priv, _ := btcec.PrivKeyFromBytes([]byte("policy test wallet key, 32 bytes"))
	key := bitcoin.Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: [32]byte{9}}
	var utxos []bitcoin.UTXO
	for i := range 10 {
		path := bitcoin.ReceivePath(uint32(i))
		child, err := key.Derive(path)
		if err != nil {
			b.Fatal(err)
		}
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{byte(i + 1)}, 0), nil, nil))
		prev.AddTxOut(wire.NewTxOut(150_000, bitcoin.P2WPKHScript(child.PublicKey)))
		utxos = append(utxos, bitcoin.UTXO{PrevTx: prev, Index: 0, Path: path})
	}
	in := bitcoin.Intent{WithdrawalID: "wd-bench", WalletID: walletID, Network: bitcoin.Regtest, Asset: "BTC", Destination: allowed, Amount: 1_000_000, FeeCap: 10_000}
	raw, err := bitcoin.BuildWithdrawal(in, key, utxos, 0, 2)
	if err != nil {
		b.Fatal(err)
	}
	w := coldWallet()
	w.ApprovalTiers = []policy.Tier{{MinAmountSat: 500_000, Approvals: 2, Group: "treasury"}}
	w.Rules = []policy.Rule{{Name: "labelled", Expr: `destination_label != "" || amount_sat <= 100000`}}
	bundle := parse(b, testBundle(w))
	r := policy.Request{Intent: in, IntentSignature: policytest.SignIntent(b, in, policytest.Ledger), PSBT: raw, Wallet: key, Now: tuesdayNoon}
	if d := bundle.Decide(r); !d.Allowed || d.Approval == nil || len(d.Withdrawal.Inputs) != 10 {
		b.Fatal(fmt.Sprintf("%+v", d))
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := bundle.Decide(r); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}
