package signer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
)

// importFixtureWallet installs the test-only 2-of-3 fixture wallet
// (testdata/keygen-2of3) on nodes node-1..node-3, sealed like a real one.
func (c *testCluster) importFixtureWallet(t testing.TB) string {
	t.Helper()
	return c.importFixtureWalletAs(t, "w-f1f1f1f1f1f1f1f1")
}

// importFixtureWalletAs installs the fixture wallet's key under wallet id
// id: tests that need two wallets share the one key.
func (c *testCluster) importFixtureWalletAs(t testing.TB, id string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "keygen-2of3", "wallet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		PublicKey string `json:"public_key"`
		ChainCode string `json:"chain_code"`
		Threshold int    `json:"threshold"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	pub, _ := hex.DecodeString(f.PublicKey)
	cc, _ := hex.DecodeString(f.ChainCode)
	for _, node := range []string{"node-1", "node-2", "node-3"} {
		n := c.nodes[node].node
		share, err := os.ReadFile(filepath.Join("testdata", "keygen-2of3", node+".json"))
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := n.sealer.Seal(shareLabel(id), share)
		if err != nil {
			t.Fatal(err)
		}
		w := &store.Wallet{ID: id, Label: "fixture", PublicKey: pub, ChainCode: cc, Threshold: f.Threshold,
			Nodes: []string{"node-1", "node-2", "node-3"}, State: store.WalletPending, Coordinator: "node-1", CreatedAt: time.Now()}
		if err := n.store.PutPendingWallet(w, sealed); err != nil {
			t.Fatal(err)
		}
		if err := n.store.SetWalletState(id, store.WalletPending, store.WalletActive, storeEvent(audit.KindWalletCreated, walletCreatedBody(w))); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// BenchmarkSign2of3/grpc signs one digest with two of three real nodes
// through the whole stack: Prepare and Run over mutual TLS, every protocol
// message through Deliver, the message checks, the audit log. Compare with
// package mpc's BenchmarkSign2of3/raw, the same shares in bare tss-lib.
func BenchmarkSign2of3(b *testing.B) {
	c := newTestCluster(b, 3, 2)
	id := c.importFixtureWallet(b)
	req := &pb.SigningRequest{Kind: &pb.SigningRequest_SelfTest{SelfTest: &pb.SelfTest{Challenge: make([]byte, 32)}}}
	b.Run("grpc", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.nodes["node-1"].node.Sign(context.Background(), id, req, []string{"node-1", "node-2"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// openStoreForTest opens a stopped node's store directly.
func openStoreForTest(cfg *Config, keyPEM []byte) (*store.Store, error) {
	key, err := pki.SignerFromKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return store.Open(filepath.Join(cfg.DataDir, "node.db"), key, audit.Genesis{}, time.Now)
}

// forcePending puts an active wallet back into the pending state, as if
// the node had never heard the coordinator's commit.
func forcePending(t *testing.T, st *store.Store, w *store.Wallet) {
	t.Helper()
	if err := st.SetWalletState(w.ID, store.WalletActive, store.WalletPending); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWithdrawal/inputs-N is a whole withdrawal of N inputs: submit
// over gRPC, re-derivation and policy on the coordinator, binding on every
// node, a signing session where each member re-derives again, finalization
// through btcd's script engine, and the watch stream seeing it signed.
// Compare with package mpc's BenchmarkSignDigests/raw-N.
//
// BenchmarkWithdrawal/eth is a whole Ethereum withdrawal the same way: an
// EIP-1559 ETH transfer at the account's next nonce, the signed
// transaction's sender recovered before release. Compare with
// BenchmarkSignDigests/raw-1.
func BenchmarkWithdrawal(b *testing.B) {
	c := newTestCluster(b, 3, 2)
	wid := c.importFixtureWallet(b)
	c.importFixtureWalletAs(b, ethWallet)
	rules := coldRules()
	rules.Assets = btcLimits(1e15, 2e15, 2e15)
	eth := ethRules(b, false)
	eth.Assets[0].DailyCap, eth.Assets[0].WeeklyCap = chain.MustAmount("1000000000000000000000"), chain.MustAmount("1000000000000000000000")
	raw := c.nextPolicy(b, func(bn *policy.Bundle) { bn.Wallets[wid], bn.Wallets[ethWallet] = &rules, &eth })
	sigs := policytest.SignBundle(b, raw, policytest.Alice, policytest.Bob)
	for _, id := range c.ids {
		if _, err := c.submitPolicy(id, raw, sigs); err != nil {
			b.Fatal(err)
		}
	}
	bundle, err := policy.ParseBundle(raw)
	if err != nil {
		b.Fatal(err)
	}
	_, ep := bundle.Wallets[ethWallet].ChainOf()
	b.Run("eth", func(b *testing.B) {
		nonce := uint64(0)
		for b.Loop() {
			in := ethIntent(fmt.Sprintf("bench-eth-%d-%s", nonce, randomHex(4)), ethWallet, "ETH", ethDest, chain.AmountOf(1_000_000_000_000_000))
			unsigned := ethTransfer(b, ep.(*ethereum.Params), in, nonce, 30_000_000_000)
			nonce++
			if _, err := c.submitNeutral("node-1", in, unsigned, policytest.SignIntent(b, in, policytest.Ledger)); err != nil {
				b.Fatal(err)
			}
			if w := c.await(b, "node-1", in.WithdrawalID); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
				b.Fatalf("%v: %s", w.Status, w.Reason)
			}
		}
	})
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	for _, n := range []int{1, 3} {
		amounts := map[string]int64{}
		for i := range n {
			amounts[fmt.Sprintf("m/0/%d", i)] = 10_000_000
		}
		utxos := fundingFor(b, root, amounts)
		b.Run(fmt.Sprintf("inputs-%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				in := intent(fmt.Sprintf("bench-%d-%d-%s", n, i, randomHex(4)), wid, allowedDest, 5_000_000) // unique across -count runs
				psbt, err := bitcoin.BuildWithdrawal(in, root, utxos, 0, 5)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.submit("node-1", in, psbt); err != nil {
					b.Fatal(err)
				}
				if w := c.await(b, "node-1", in.WithdrawalID); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
					b.Fatalf("%v: %s", w.Status, w.Reason)
				}
			}
		})
	}
}
