package policy_test

import (
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
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
	nin := bitcoin.NeutralIntent(in)
	r := policy.Request{Intent: nin, IntentSignature: policytest.SignIntent(b, nin, policytest.Ledger), UnsignedTx: raw, Wallet: bitcoin.NeutralKey(key), Now: tuesdayNoon}
	if d := bundle.Decide(r); !d.Allowed || d.Approval == nil || len(d.Tx.Sign) != 10 {
		b.Fatal(fmt.Sprintf("%+v", d))
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := bundle.Decide(r); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkDecideERC20 is a node's whole decision on an ERC-20 withdrawal
// of a format 2 Ethereum wallet: the originator's signature, the strict
// decoding of the EIP-1559 transaction and its 68-byte calldata, the
// sending account's derivation, the allowlist, per-asset caps, the account
// nonce, a CEL rule and the tiers.
func BenchmarkDecideERC20(b *testing.B) {
	priv, _ := btcec.PrivKeyFromBytes([]byte("policy test wallet key, 32 bytes"))
	key := bitcoin.NeutralKey(bitcoin.Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: [32]byte{9}})
	const usdc, dest = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238", "0x52908400098527886E0F7030069857D2E4169EE7"
	w := &policy.WalletRules{
		Name: "eth hot", Chain: "ethereum", Network: "sepolia", Role: policy.RoleHot,
		Destinations: []policy.Destination{{Address: dest, Label: "exchange cold storage"}},
		Assets: []policy.AssetLimits{
			{Asset: "ETH", MaxAmount: chain.MustAmount("5000000000000000000"), DailyCap: chain.MustAmount("10000000000000000000"), WeeklyCap: chain.MustAmount("20000000000000000000")},
			{Asset: "USDC", MaxAmount: chain.AmountOf(1_000_000_000), DailyCap: chain.AmountOf(2_000_000_000), WeeklyCap: chain.AmountOf(5_000_000_000)},
		},
		MaxFee:        chain.MustAmount("10000000000000000"),
		Params:        []byte(`{"chain_id":11155111,"first_nonce":7,"tokens":[{"symbol":"USDC","contract":"` + usdc + `","decimals":6}]}`),
		ApprovalTiers: []policy.Tier{{Asset: "USDC", MinAmount: chain.AmountOf(100_000_000), Approvals: 2, Group: "treasury"}},
		Originators:   []policy.Originator{policytest.Ledger.Originator()},
		Rules:         []policy.Rule{{Name: "labelled", Expr: `destination_label != "" && gas_limit <= 100000`}},
	}
	bundle := policytest.Genesis(cluster)
	bundle.Wallets[walletID] = w
	pb := parse(b, bundle)
	_, params := pb.Wallets[walletID].ChainOf()
	in := chain.Intent{Version: chain.IntentV2, WithdrawalID: "wd-bench", WalletID: walletID, Chain: "ethereum", Network: "sepolia",
		Asset: "USDC", Destination: dest, Amount: chain.AmountOf(150_000_000), FeeCap: chain.MustAmount("5000000000000000")}
	raw, err := ethereum.BuildTransfer(params.(*ethereum.Params), in, 7, chain.AmountOf(1_000_000_000), chain.AmountOf(30_000_000_000), 60_000)
	if err != nil {
		b.Fatal(err)
	}
	r := policy.Request{Intent: in, IntentSignature: policytest.SignIntent(b, in, policytest.Ledger), UnsignedTx: raw, Wallet: key, Now: tuesdayNoon}
	if d := pb.Decide(r); !d.Allowed || d.Approval == nil || d.Nonce == nil || d.Nonce.Nonce != 7 {
		b.Fatal(fmt.Sprintf("%+v", d))
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := pb.Decide(r); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}
