package signer

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Test destinations on regtest: one on the allowlist (the key G), one an
// attacker's (the key 2G).
var (
	allowedDest  = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	attackerDest = func() string {
		k, _ := hex.DecodeString("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
		a, err := bitcoin.P2WPKHAddress([33]byte(k), bitcoin.Regtest)
		if err != nil {
			panic(err)
		}
		return a
	}()
)

// writePolicy makes the next policy version, with rules for a wallet,
// signed by officers Alice and Bob, and submits it to every node, as
// officers do.
func (c *testCluster) writePolicy(t testing.TB, walletID string, rules policy.WalletRules) *policy.Bundle {
	t.Helper()
	raw := c.nextPolicy(t, func(b *policy.Bundle) { b.Wallets[walletID] = &rules })
	sigs := policytest.SignBundle(t, raw, policytest.Alice, policytest.Bob)
	for _, id := range c.ids {
		if _, err := c.submitPolicy(id, raw, sigs); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	b, err := policy.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nextPolicy is the bundle in force on the first node, version one up,
// changed by edit.
func (c *testCluster) nextPolicy(t testing.TB, edit func(b *policy.Bundle)) []byte {
	t.Helper()
	cur, err := c.nodes[c.ids[0]].node.policyInForce()
	if err != nil {
		t.Fatal(err)
	}
	var b policy.Bundle
	if err := json.Unmarshal(cur.Raw(), &b); err != nil {
		t.Fatal(err)
	}
	b.Version++
	if b.Wallets == nil {
		b.Wallets = map[string]*policy.WalletRules{}
	}
	edit(&b)
	return policytest.Marshal(t, b)
}

func (c *testCluster) submitPolicy(node string, raw []byte, sigs []policy.Signature) (*pb.SubmitPolicyResponse, error) {
	req := &pb.SubmitPolicyRequest{Bundle: raw}
	for _, s := range sigs {
		req.Signatures = append(req.Signatures, &pb.BundleSignature{Officer: s.Officer, Signature: s.Signature})
	}
	return pb.NewOfficerServiceClient(c.dial(node, pki.RoleOfficer)).SubmitPolicy(context.Background(), req)
}

func coldRules() policy.WalletRules {
	return policy.WalletRules{
		Name: "cold", Chain: bitcoin.Name, Network: string(bitcoin.Regtest), Role: policy.RoleCold,
		Destinations: []policy.Destination{{Address: allowedDest, Label: "exchange cold storage"}},
		Assets:       btcLimits(100_000_000, 250_000_000, 500_000_000), MaxFee: chain.AmountOf(100_000),
		Originators: []policy.Originator{policytest.Ledger.Originator()},
	}
}

// btcLimits are BTC caps in satoshis, as a format 2 bundle gives them.
func btcLimits(maxAmount, daily, weekly uint64) []policy.AssetLimits {
	return []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: chain.AmountOf(maxAmount), DailyCap: chain.AmountOf(daily), WeeklyCap: chain.AmountOf(weekly)}}
}

// btcTier is an approval tier from min satoshis.
func btcTier(min uint64, approvals int, group string) policy.Tier {
	return policy.Tier{Asset: bitcoin.Asset, MinAmount: chain.AmountOf(min), Approvals: approvals, Group: group}
}

// funding fabricates a transaction paying the wallet's addresses at paths,
// each amount in satoshis, and returns the UTXOs to spend.
func funding(t *testing.T, root bitcoin.Key, amounts map[string]int64) []bitcoin.UTXO {
	return fundingFor(t, root, amounts)
}

func fundingFor(t testing.TB, root bitcoin.Key, amounts map[string]int64) []bitcoin.UTXO {
	t.Helper()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{7}, 0), nil, nil))
	var paths []bitcoin.Path
	for p, amount := range amounts {
		path, err := bitcoin.ParsePath(p)
		if err != nil {
			t.Fatal(err)
		}
		child, err := root.Derive(path)
		if err != nil {
			t.Fatal(err)
		}
		tx.AddTxOut(wire.NewTxOut(amount, bitcoin.P2WPKHScript(child.PublicKey)))
		paths = append(paths, path)
	}
	var utxos []bitcoin.UTXO
	for i, p := range paths {
		utxos = append(utxos, bitcoin.UTXO{PrevTx: tx, Index: uint32(i), Path: p})
	}
	return utxos
}

func intent(id, walletID, dest string, amount int64) bitcoin.Intent {
	return bitcoin.Intent{WithdrawalID: id, WalletID: walletID, Network: bitcoin.Regtest, Asset: "BTC", Destination: dest, Amount: amount, FeeCap: 50_000}
}

// neutral is a Bitcoin intent as it travels: version 2 canonical bytes.
func neutral(in bitcoin.Intent) chain.Intent { return bitcoin.NeutralIntent(in) }

func (c *testCluster) build(t *testing.T, in bitcoin.Intent, utxos []bitcoin.UTXO) []byte {
	t.Helper()
	root, err := c.nodes[c.ids[0]].node.WalletRoot(in.WalletID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bitcoin.BuildWithdrawal(in, root, utxos, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// submit submits a withdrawal whose intent the ledger signed.
func (c *testCluster) submit(node string, in bitcoin.Intent, psbt []byte) (*pb.Withdrawal, error) {
	return c.submitSigned(node, in, psbt, policytest.SignIntent(c.t, neutral(in), policytest.Ledger))
}

func (c *testCluster) submitSigned(node string, in bitcoin.Intent, psbt, sig []byte) (*pb.Withdrawal, error) {
	return c.submitNeutral(node, neutral(in), psbt, sig)
}

// submitNeutral submits an intent of any chain with its unsigned
// transaction and signature.
func (c *testCluster) submitNeutral(node string, in chain.Intent, unsignedTx, sig []byte) (*pb.Withdrawal, error) {
	resp, err := pb.NewWithdrawalServiceClient(c.dial(node, pki.RoleBackend)).SubmitWithdrawal(context.Background(),
		&pb.SubmitWithdrawalRequest{Intent: in.Canonical(), UnsignedTx: unsignedTx, IntentSignature: sig})
	if err != nil {
		return nil, err
	}
	return resp.Withdrawal, nil
}

// await watches a withdrawal on a node until it is final.
func (c *testCluster) await(t testing.TB, node, id string) *pb.Withdrawal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := pb.NewWithdrawalServiceClient(c.dial(node, pki.RoleBackend)).WatchWithdrawal(ctx, &pb.WatchWithdrawalRequest{WithdrawalId: id})
	if err != nil {
		t.Fatal(err)
	}
	var last *pb.Withdrawal
	for {
		resp, err := stream.Recv()
		if err != nil {
			if last == nil {
				t.Fatal(err)
			}
			return last
		}
		last = resp.Withdrawal
	}
}

// checkSigned runs btcd's script engine on every input of a signed
// transaction, independently of the node's own check.
func checkSigned(t *testing.T, signedTx []byte, utxos []bitcoin.UTXO) {
	t.Helper()
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(signedTx)); err != nil {
		t.Fatal(err)
	}
	prev := txscript.NewMultiPrevOutFetcher(nil)
	for _, u := range utxos {
		prev.AddPrevOut(wire.OutPoint{Hash: u.PrevTx.TxHash(), Index: u.Index}, u.PrevTx.TxOut[u.Index])
	}
	hashes := txscript.NewTxSigHashes(&tx, prev)
	for i, in := range tx.TxIn {
		out := prev.FetchPrevOutput(in.PreviousOutPoint)
		vm, err := txscript.NewEngine(out.PkScript, &tx, i, txscript.StandardVerifyFlags, nil, hashes, out.Value, prev)
		if err != nil {
			t.Fatal(err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
}

func TestWithdrawals(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)

	utxos := funding(t, root, map[string]int64{"m/0/0": 40_000_000, "m/0/7": 30_000_000, "m/1/3": 50_000_000})
	in := intent("wd-1", wid, allowedDest, 100_000_000)
	psbt := c.build(t, in, utxos)

	first, err := c.submit("node-1", in, psbt)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNING || first.DestinationLabel != "exchange cold storage" {
		t.Fatalf("%v", first)
	}
	done := c.await(t, "node-1", "wd-1")
	if done.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("got %v: %s", done.Status, done.Reason)
	}
	checkSigned(t, done.SignedTx, utxos)

	t.Run("same id, same request: same result, nothing signed twice", func(t *testing.T) {
		again, err := c.submit("node-1", in, psbt)
		if err != nil || again.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED || !bytes.Equal(again.SignedTx, done.SignedTx) {
			t.Fatalf("%v %v", again, err)
		}
		for _, node := range c.ids {
			signed := 0
			c.nodes[node].node.store.ForEachAudit(func(_ uint64, raw []byte) error {
				r, _ := audit.Decode(raw)
				if r.Kind == audit.KindWithdrawalSigned && strings.Contains(string(r.Body), `"withdrawal_id":"wd-1"`) {
					signed++
				}
				return nil
			})
			if signed > 1 {
				t.Fatalf("%s signed wd-1 %d times", node, signed)
			}
		}
	})

	t.Run("same id, other bytes: refused on every node and raised", func(t *testing.T) {
		swapped := in
		swapped.Destination = attackerDest
		other := c.build(t, swapped, utxos)
		for _, node := range c.ids {
			_, err := c.submit(node, swapped, other)
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "withdrawal.id_reused") {
				t.Fatalf("%s: got %v", node, err)
			}
			if !auditHas(t, c.nodes[node].node, audit.KindWithdrawalConflict, `"withdrawal_id":"wd-1"`) {
				t.Fatalf("%s has no conflict alert", node)
			}
		}
	})

	t.Run("DMM: the destination swapped to one off the allowlist is refused", func(t *testing.T) {
		dmm := intent("wd-dmm", wid, attackerDest, 10_000_000)
		_, err := c.submit("node-2", dmm, c.build(t, dmm, utxos))
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "(policy.destination_not_allowed)") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("a PSBT that does not do what the intent says is refused with its rule", func(t *testing.T) {
		asked := intent("wd-mismatch", wid, allowedDest, 10_000_000)
		built := intent("wd-mismatch", wid, allowedDest, 9_000_000) // builder pays less than asked
		_, err := c.submit("node-3", asked, c.build(t, built, utxos))
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "refused (output.") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("the daily cap counts what was signed", func(t *testing.T) {
		// 1 BTC + fee already left today; the cap is 2.5 BTC
		ok := intent("wd-cap-1", wid, allowedDest, 100_000_000)
		if _, err := c.submit("node-2", ok, c.build(t, ok, utxos)); err != nil {
			t.Fatal(err)
		}
		if w := c.await(t, "node-2", "wd-cap-1"); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%v %s", w.Status, w.Reason)
		}
		over := intent("wd-cap-2", wid, allowedDest, 60_000_000)
		_, err := c.submit("node-3", over, c.build(t, over, utxos))
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "policy.daily_cap_exceeded") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("bad requests name the field", func(t *testing.T) {
		for _, tc := range []struct {
			edit func(i *bitcoin.Intent)
			want string
		}{
			{func(i *bitcoin.Intent) { i.WithdrawalID = "" }, "intent.withdrawal_id"},
			{func(i *bitcoin.Intent) { i.Asset = "ETH" }, "intent.asset"},
			{func(i *bitcoin.Intent) { i.Amount = 0 }, "intent.amount"},
		} {
			bad := intent("wd-bad", wid, allowedDest, 1000)
			tc.edit(&bad)
			_, err := c.submit("node-1", bad, psbt)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		}
		_, err := c.submit("node-1", intent("wd-nopsbt", wid, allowedDest, 1000), nil)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "unsigned_tx") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestWithdrawalCommitteeNodeDies stops a committee member during signing:
// the withdrawal completes with the remaining nodes, once.
func TestWithdrawalCommitteeNodeDies(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 12 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	utxos := funding(t, root, map[string]int64{"m/0/1": 20_000_000})
	in := intent("wd-crash", wid, allowedDest, 10_000_000)
	if _, err := c.submit("node-1", in, c.build(t, in, utxos)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.nodes["node-2"].node.sessions.active() > 0 }, "node-2 to join the signing")
	c.stop("node-2")
	w := c.await(t, "node-1", "wd-crash")
	if w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("got %v: %s", w.Status, w.Reason)
	}
	checkSigned(t, w.SignedTx, utxos)
	if fmt.Sprint(w.Committee) != "[node-1 node-3]" {
		t.Fatalf("signed by %v", w.Committee)
	}
}

// TestConflictingSubmissionsNeverBothSign submits, at the same time, two
// different transactions under one withdrawal id to two nodes of a 2-of-4
// cluster, where two signing committees need not share a node. At most one
// may ever be signed.
func TestConflictingSubmissionsNeverBothSign(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4-node key generation takes seconds")
	}
	c := newTestCluster(t, 4, 2, Options{SigningTimeout: 30 * time.Second})
	w, _, err := c.createWallet("node-1", "2-of-4")
	if err != nil {
		t.Fatal(err)
	}
	rules := coldRules()
	rules.Destinations = append(rules.Destinations, policy.Destination{Address: attackerDest, Label: "also allowed"})
	c.writePolicy(t, w.WalletId, rules)
	root, _ := c.nodes["node-1"].node.WalletRoot(w.WalletId)
	utxos := funding(t, root, map[string]int64{"m/0/2": 20_000_000})
	for round := range 3 {
		id := fmt.Sprintf("wd-race-%d", round)
		a, b := intent(id, w.WalletId, allowedDest, 1_000_000), intent(id, w.WalletId, attackerDest, 1_000_000)
		pa, pbytes := c.build(t, a, utxos), c.build(t, b, utxos)
		var wg sync.WaitGroup
		for _, s := range []struct {
			node string
			in   bitcoin.Intent
			psbt []byte
		}{{"node-1", a, pa}, {"node-4", b, pbytes}} {
			wg.Add(1)
			go func() { defer wg.Done(); c.submit(s.node, s.in, s.psbt) }()
		}
		wg.Wait()
		signed := map[string]bool{}
		for _, node := range []string{"node-1", "node-4"} {
			if _, err := pb.NewWithdrawalServiceClient(c.dial(node, pki.RoleBackend)).GetWithdrawal(context.Background(), &pb.GetWithdrawalRequest{WithdrawalId: id}); err != nil {
				continue // refused before binding
			}
			final := c.await(t, node, id)
			if final.Status == pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
				signed[string(final.SignedTx)] = true
			}
		}
		if len(signed) > 1 {
			t.Fatalf("round %d: two different transactions signed for one id", round)
		}
	}
}

// TestWithdrawalSurvivesCoordinatorRestart stops the coordinator right
// after it accepted a withdrawal: after a restart it finishes it, once.
func TestWithdrawalSurvivesCoordinatorRestart(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	utxos := funding(t, root, map[string]int64{"m/0/4": 20_000_000})
	in := intent("wd-restart", wid, allowedDest, 10_000_000)
	accepted, err := c.submit("node-1", in, c.build(t, in, utxos))
	if err != nil {
		t.Fatal(err)
	}
	if accepted.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNING {
		t.Fatalf("%v", accepted.Status)
	}
	c.stop("node-1")
	rec, err := openStoreForTestStatus(t, c, "node-1", "wd-restart")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("at the stop the withdrawal was %s", rec)
	c.start("node-1")
	w := c.await(t, "node-1", "wd-restart")
	if w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("after the restart: %v %s", w.Status, w.Reason)
	}
	checkSigned(t, w.SignedTx, utxos)
	signed := 0
	c.nodes["node-1"].node.store.ForEachAudit(func(_ uint64, raw []byte) error {
		r, _ := audit.Decode(raw)
		if r.Kind == audit.KindWithdrawalSigned && strings.Contains(string(r.Body), `"withdrawal_id":"wd-restart"`) {
			signed++
		}
		return nil
	})
	if signed != 1 {
		t.Fatalf("signed %d times", signed)
	}
}

func openStoreForTestStatus(t *testing.T, c *testCluster, node, id string) (string, error) {
	_, _, keyPEM, err := readTLSFiles(c.nodes[node].cfg.TLS)
	if err != nil {
		return "", err
	}
	st, err := openStoreForTest(c.nodes[node].cfg, keyPEM)
	if err != nil {
		return "", err
	}
	defer st.Close()
	w, err := st.Withdrawal(id)
	if err != nil {
		return "", err
	}
	return string(w.Status), nil
}
