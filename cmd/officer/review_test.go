package main

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testKey is a wallet root for tests only, from a fixed private key.
func testKey() bitcoin.Key {
	seed := sha256.Sum256([]byte("countersign officer test wallet"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	return bitcoin.Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: sha256.Sum256(seed[:])}
}

// honest is a withdrawal of amount to dest as an honest node reports it:
// decided under b with the node's own figures, awaiting approval if it
// needs any.
func honest(t *testing.T, b *policy.Bundle, network bitcoin.Network, dest string, amount int64) *pb.Withdrawal {
	t.Helper()
	root := testKey()
	var prev chainhash.Hash
	rand.Read(prev[:])
	fund := wire.NewMsgTx(2)
	fund.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, nil))
	child, err := root.Derive(bitcoin.ReceivePath(0))
	if err != nil {
		t.Fatal(err)
	}
	fund.AddTxOut(wire.NewTxOut(40_000_000, bitcoin.P2WPKHScript(child.PublicKey)))
	bin := bitcoin.Intent{WithdrawalID: "wd-1", WalletID: testWallet, Network: network, Asset: bitcoin.Asset, Destination: dest, Amount: amount, FeeCap: 10_000}
	psbt, err := bitcoin.BuildWithdrawal(bin, root, []bitcoin.UTXO{{PrevTx: fund, Index: 0, Path: bitcoin.ReceivePath(0)}}, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	in := bitcoin.NeutralIntent(bin)
	sig := policytest.SignIntent(t, in, policytest.Ledger)
	created := time.Now().Add(-time.Minute)
	d := b.Decide(policy.Request{Intent: in, IntentSignature: sig, UnsignedTx: psbt, Wallet: bitcoin.NeutralKey(root), Now: created})
	if !d.Allowed {
		t.Fatalf("test withdrawal refused: %s: %s", d.Rule, d.Reason)
	}
	h, ph := policy.RequestHash(in, psbt), b.Hash()
	w := &pb.Withdrawal{
		WithdrawalId: in.WithdrawalID, WalletId: in.WalletID, Chain: in.Chain, Network: in.Network, Intent: in.Canonical(),
		IntentSignature: sig, UnsignedTx: psbt, Status: pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNING, RequestHash: h[:],
		Tx:        &pb.TxRef{Id: d.Tx.ID, Fee: d.Tx.Fee.String(), FeeAsset: d.Tx.FeeAsset},
		CreatedAt: timestamppb.New(created), UpdatedAt: timestamppb.New(created), DestinationLabel: d.DestinationLabel,
		PolicyHash: ph[:], PolicyVersion: b.Version, Originator: d.Originator,
	}
	if a := d.Approval; a != nil {
		w.Status = pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL
		w.Approval = &pb.ApprovalState{Required: uint32(a.Approvals), Group: a.Group, TierAsset: a.Asset, TierMinAmount: a.MinAmount.String()}
	}
	return w
}

func reviewOf(t *testing.T, b *policy.Bundle, w *pb.Withdrawal) (*review, string) {
	t.Helper()
	in, err := intentOf(w)
	if err != nil {
		t.Fatal(err)
	}
	v := &verified{bundle: b, signers: b, signedBy: []string{"alice", "bob"}}
	now := time.Now()
	r := newReview(w, "node-1", in, v, bitcoin.NeutralKey(testKey()), now)
	var out strings.Builder
	writeReview(&out, r, now)
	return r, out.String()
}

// TestReview re-derives a withdrawal as a node reports it: an honest
// report shows no problem; each thing a node could misreport is a problem,
// which makes show exit 1 and approve refuse.
func TestReview(t *testing.T) {
	b := parsed(t, format2())
	base := honest(t, b, bitcoin.Regtest, allowedDest, 25_000_000)
	r, out := reviewOf(t, b, base)
	if len(r.problems) != 0 || strings.Contains(out, "!!") {
		t.Fatalf("honest report: problems %q\n%s", r.problems, out)
	}
	wantIn(t, "show", out, "chain         bitcoin", "network       regtest", `allowlisted as "cold storage"`,
		"amount        0.25 BTC (25,000,000 base units)", "the transaction, as the bitcoin chain re-derives it here", "sat/vB",
		"signs         0: ", "tx id         "+base.Tx.Id, "fee           0.0000", "base units); the intent's cap 0.0001 BTC",
		"matches node-1", "ledger (its signature over the intent verified here)",
		"approval: 2 of group treasury (alice, bob, carol), required for amounts from 0.1 BTC", "[0 of 2]", "still needed: 2 more")

	for _, tc := range []struct {
		name string
		lie  func(w *pb.Withdrawal)
		want string
	}{
		{"tx id", func(w *pb.Withdrawal) { w.Tx.Id = strings.Repeat("0", 64) }, "TX ID MISMATCH"},
		{"fee", func(w *pb.Withdrawal) { w.Tx.Fee = "1" }, "FEE MISMATCH"},
		{"fee asset", func(w *pb.Withdrawal) { w.Tx.FeeAsset = "ETH" }, "FEE MISMATCH"},
		{"label", func(w *pb.Withdrawal) { w.DestinationLabel = "exchange b" }, "LABEL MISMATCH"},
		{"originator", func(w *pb.Withdrawal) { w.Originator = "mallory" }, "ORIGINATOR MISMATCH"},
		{"tier approvals", func(w *pb.Withdrawal) { w.Approval.Required = 1 }, "TIER MISMATCH"},
		{"tier group", func(w *pb.Withdrawal) { w.Approval.Group = "security" }, "TIER MISMATCH"},
		{"tier threshold", func(w *pb.Withdrawal) { w.Approval.TierMinAmount = "30000000" }, "TIER MISMATCH"},
		{"no tier", func(w *pb.Withdrawal) { w.Approval = nil }, "TIER MISMATCH"},
		{"request hash", func(w *pb.Withdrawal) { w.RequestHash[0] ^= 1 }, "REQUEST HASH MISMATCH"},
		{"policy", func(w *pb.Withdrawal) { w.PolicyHash[0] ^= 1 }, "POLICY MISMATCH"},
		{"wallet", func(w *pb.Withdrawal) { w.WalletId = "w-fedcba9876543210" }, "INTENT MISMATCH"},
		{"network", func(w *pb.Withdrawal) { w.Network = "mainnet" }, "INTENT MISMATCH"},
		{"nonce", func(w *pb.Withdrawal) { w.Nonce = &pb.AccountNonce{Account: "bitcoin", Nonce: 1} }, "NONCE MISMATCH"},
		{"replaces", func(w *pb.Withdrawal) { w.Replaces = "wd-0" }, "REPLACEMENT MISMATCH"},
		{"altered transaction", func(w *pb.Withdrawal) { w.UnsignedTx = w.UnsignedTx[:len(w.UnsignedTx)-1] }, "REFUSED HERE"},
		{"another intent signature", func(w *pb.Withdrawal) {
			in, _ := chain.ParseIntent(w.Intent)
			w.IntentSignature = policytest.SignIntent(t, in, policytest.Mallory)
		}, "REFUSED HERE: policy.intent_signature_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := proto.Clone(base).(*pb.Withdrawal)
			tc.lie(w)
			r, out := reviewOf(t, b, w)
			found := false
			for _, p := range r.problems {
				found = found || strings.HasPrefix(p, tc.want)
			}
			if !found {
				t.Errorf("problems %q, want one starting %q", r.problems, tc.want)
			}
			wantIn(t, "show", out, "!! PROBLEM: "+tc.want, "!! Do NOT approve this withdrawal")
		})
	}
}

// TestReviewRisk marks what the chain flags as a risk: Bitcoin's mainnet.
func TestReviewRisk(t *testing.T) {
	const mainnetDest = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	bb := format2()
	w := bb.Wallets[testWallet]
	w.Network = string(bitcoin.Mainnet)
	w.Destinations = []policy.Destination{{Address: mainnetDest, Label: "cold storage"}}
	w.ApprovalTiers = nil
	b := parsed(t, bb)
	r, out := reviewOf(t, b, honest(t, b, bitcoin.Mainnet, mainnetDest, 1_000_000))
	if len(r.problems) != 0 {
		t.Fatalf("problems %q", r.problems)
	}
	wantIn(t, "show", out, "network       !! mainnet", "approval: none needed")
}

// A node keeps a refused request's transaction by its hash only: the
// review shows the node's refusal and its rule, and raises no PROBLEM
// (there is nothing to disagree about, or to approve).
func TestReviewRefusedByHash(t *testing.T) {
	b := parsed(t, format2())
	w := honest(t, b, bitcoin.Regtest, allowedDest, 25_000_000)
	w.Status, w.UnsignedTx, w.Tx, w.Approval = pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED, nil, nil, nil
	w.Rules, w.Reason = []string{policy.RuleDailyCapExceeded}, "0.3 BTC would leave the wallet within 24 hours"
	r, out := reviewOf(t, b, w)
	if len(r.problems) != 0 || strings.Contains(out, "PROBLEM") {
		t.Fatalf("a refusal reviewed as a problem: %q\n%s", r.problems, out)
	}
	wantIn(t, "show", out, "refused it (policy.daily_cap_exceeded)", "nothing to re-derive or approve")
}
