package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixturePreParams are test-only pre-parameters (see signer/testdata).
const fixturePreParams = "../../signer/testdata/preparams"

// TestDevCluster runs a 2-of-3 dev cluster in-process, seeded with fixture
// pre-parameters, and drives it with the client commands over real mTLS:
// status, wallet create, addresses from every node, wallet list and show.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a key generation")
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	addrs := freeAddresses(t, 3)

	// A port taken: dev refuses, closes what it opened, and says why.
	l, err := net.Listen("tcp", addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "dev", "-dir", dir, "-addresses", strings.Join(addrs, ","), "-pool", "1", "-preparams", fixturePreParams)
	l.Close()
	if r.code != 1 || !strings.Contains(r.stderr, "address already in use") || !strings.Contains(r.stderr, "already running") {
		t.Fatalf("dev with a port taken: exit code %d, stderr:\n%s", r.code, r.stderr)
	}

	// The cluster exists now; its nodes have no data, so they take the fixtures.
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() {
		done <- runCLICtx(t, ctx, nil, "dev", "-dir", dir, "-preparams", fixturePreParams, "-log-level", "warn")
	}()
	defer func() {
		stop()
		select {
		case r := <-done:
			if r.code != 0 {
				t.Errorf("dev: exit code %d\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "imported a pre-parameter set") || !strings.Contains(r.stdout, "stopped;") {
				t.Errorf("dev's output:\n%s", r.stdout)
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30s of its context ending")
		}
	}()

	var statuses []statusJSON
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := runCLI(t, nil, "status", "-cluster", dir, "-all", "-json", "-role", "auditor")
		if r.code == 0 {
			if err := json.Unmarshal([]byte(r.stdout), &statuses); err != nil {
				t.Fatalf("status -json: %v\n%s", err, r.stdout)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dev cluster did not answer within 30s:\n%s", r.stderr)
		}
	}
	for _, s := range statuses {
		if s.Pool.Ready != 1 || s.Pool.Target != 1 || len(s.Peers) != 2 || !s.Peers[0].Reachable || !s.Peers[1].Reachable {
			t.Errorf("%s: %+v; want its pool 1/1 and both peers reachable", s.NodeID, s)
		}
	}

	r = runCLI(t, nil, "wallet", "create", "-cluster", dir, "-node", "node-2", "-label", "hot-1", "-json")
	if r.code != 0 {
		t.Fatalf("wallet create: exit code %d\n%s", r.code, r.stderr)
	}
	var w walletJSON
	if err := json.Unmarshal([]byte(r.stdout), &w); err != nil {
		t.Fatalf("wallet create -json: %v\n%s", err, r.stdout)
	}
	if w.Label != "hot-1" || w.Threshold != 2 || len(w.Nodes) != 3 || len(w.PublicKey) != 66 || !strings.Contains(r.stderr, "running") {
		t.Errorf("wallet %+v\nprogress:\n%s", w, r.stderr)
	}

	var first string
	for _, node := range []string{"node-1", "node-2", "node-3"} {
		r := runCLI(t, nil, "address", "-cluster", dir, "-node", node, "-wallet", w.WalletID, "-network", "regtest", "-change", "-index", "7", "-json")
		if r.code != 0 {
			t.Fatalf("address on %s: %s", node, r.stderr)
		}
		var a addressJSON
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
			t.Fatal(err)
		}
		if a.Path != "m/1/7" || !strings.HasPrefix(a.Address, "bcrt1q") || a.Node != node {
			t.Errorf("address on %s: %+v", node, a)
		}
		if first == "" {
			first = a.Address
		} else if a.Address != first {
			t.Errorf("%s derives %s, node-1 %s", node, a.Address, first)
		}
	}

	r = runCLI(t, nil, "wallet", "list", "-cluster", dir, "-node", "node-3", "-role", "officer")
	if r.code != 0 || !strings.Contains(r.stdout, w.WalletID) || !strings.Contains(r.stdout, "2 of 3") {
		t.Errorf("wallet list: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "wallet", "show", w.WalletID, "-cluster", dir)
	if r.code != 0 || !strings.Contains(r.stdout, w.PublicKey) {
		t.Errorf("wallet show: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Errors carry the gRPC code and a hint.
	r = runCLI(t, nil, "address", "-cluster", dir, "-wallet", w.WalletID, "-role", "auditor")
	if r.code != 1 || !strings.Contains(r.stderr, "code: PermissionDenied") || !strings.Contains(r.stderr, "-role backend") {
		t.Errorf("address as auditor: exit code %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "wallet", "show", "w-0000000000000000", "-cluster", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "code: NotFound") {
		t.Errorf("wallet show of an unknown wallet: exit code %d\n%s", r.code, r.stderr)
	}
}
