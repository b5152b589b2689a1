package signer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/store"
)

// TestCreateWalletWaitsForPreParams starts node-3 with an empty pool:
// CreateWallet reports that it waits for node-3, and goes on once node-3
// has a set, instead of failing on a timeout.
func TestCreateWalletWaitsForPreParams(t *testing.T) {
	c := newTestClusterWith(t, 3, 2, []string{"node-3"})
	type result struct {
		w        *pb.Wallet
		progress []*pb.Progress
		err      error
	}
	done := make(chan result, 1)
	go func() {
		w, p, err := c.createWallet("node-1", "patient")
		done <- result{w, p, err}
	}()
	time.Sleep(3 * time.Second) // a couple of progress reports
	fixture, err := os.ReadFile(filepath.Join("testdata", "preparams", "node-3.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nodes["node-3"].node.AddPreParams(fixture); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	waited := false
	for _, p := range r.progress {
		if p.Stage == pb.Stage_STAGE_WAITING_FOR_PREPARAMS && strings.Contains(p.Message, "node-3") && len(p.Pools) == 3 {
			waited = true
		}
	}
	if !waited {
		t.Fatalf("no progress report named node-3's empty pool: %v", r.progress)
	}
}

// TestPendingWalletRecovery restarts a node that holds a pending share:
// it asks the key generation's coordinator and follows its state.
func TestPendingWalletRecovery(t *testing.T) {
	c := newTestCluster(t, 3, 2)
	id := c.importFixtureWallet(t) // active on all three, coordinator node-1
	n2 := c.nodes["node-2"].node
	w, _ := n2.store.Wallet(id)

	// node-2 as if it had crashed between finishing the key generation and
	// the coordinator's commit: its copy is pending
	c.stop("node-2")
	tn := c.nodes["node-2"]
	reopen := func() *store.Store {
		_, _, keyPEM, _ := readTLSFiles(tn.cfg.TLS)
		st, err := openStoreForTest(tn.cfg, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := reopen()
	forcePending(t, st, w)
	st.Close()
	c.start("node-2")
	waitFor(t, func() bool {
		got, err := c.nodes["node-2"].node.store.Wallet(id)
		return err == nil && got.State == store.WalletActive
	}, "node-2 to activate the wallet the coordinator committed")

	// and a pending wallet the coordinator never committed is discarded
	c.stop("node-2")
	st = reopen()
	orphan := *w
	orphan.ID, orphan.State = "w-0123456789abcdef", store.WalletPending
	if err := st.PutPendingWallet(&orphan, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	c.start("node-2")
	waitFor(t, func() bool {
		got, err := c.nodes["node-2"].node.store.Wallet(orphan.ID)
		return err == nil && got.State == store.WalletDiscarded
	}, "node-2 to discard the wallet the coordinator does not have")
	if _, err := c.nodes["node-2"].node.store.SealedShare(orphan.ID); err == nil {
		t.Fatal("the discarded wallet's share is still stored")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
