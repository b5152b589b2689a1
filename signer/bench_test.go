package signer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
)

// importFixtureWallet installs the test-only 2-of-3 fixture wallet
// (testdata/keygen-2of3) on nodes node-1..node-3, sealed like a real one.
func (c *testCluster) importFixtureWallet(t testing.TB) string {
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
	const id = "w-f1f1f1f1f1f1f1f1"
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
