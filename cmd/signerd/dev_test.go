package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
)

// fixturePreParams are test-only pre-parameters (see signer/testdata).
const fixturePreParams = "../../signer/testdata/preparams"

// TestDev runs `signerd dev` twice. The first time a port is taken: dev
// refuses, closes what it opened and says why, but it has created a 2-of-3
// cluster under the lab genesis policy, with the lab keys inside it. The
// second run serves that cluster, seeded with fixture pre-parameters,
// until its context ends: every node answers over real mTLS with its pool
// full and both peers reachable. signerctl's TestLabCluster drives a lab
// cluster with the client commands.
func TestDev(t *testing.T) {
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
	// Without -genesis, dev made lab officers, a ledger and a genesis
	// bundle the nodes accept, and moved the keys into the cluster.
	if !strings.Contains(r.stdout, filepath.Join(dir, "lab-keys")) {
		t.Errorf("dev does not say where the lab keys are:\n%s", r.stdout)
	}
	for _, name := range []string{"alice", "bob", "carol", "ledger"} {
		if _, err := keys.LoadKeyFile(filepath.Join(dir, "lab-keys", name+".key")); err != nil {
			t.Errorf("lab key of %s: %v", name, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".lab-keys-*")); len(left) > 0 {
		t.Errorf("dev left %v behind", left)
	}
	m, err := roster.LoadManifest(dir)
	if err != nil || m.Cluster != "lab" {
		t.Fatalf("the dev cluster's manifest: %+v, %v; want cluster \"lab\"", m, err)
	}

	// The cluster exists now; its nodes have no data, so they take the fixtures.
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan cliResult, 1)
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
			for _, want := range []string{"imported a pre-parameter set", "is serving", "stopped;"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("dev's output does not say %q:\n%s", want, r.stdout)
				}
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30s of its context ending")
		}
	}()

	creds, err := roster.ReadCredentials(dir, pki.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Nodes {
		st := nodeStatus(t, n, creds)
		if p := st.GetPool(); p.GetReady() != 1 || p.GetTarget() != 1 || len(st.GetPeers()) != 2 || !st.GetPeers()[0].GetReachable() || !st.GetPeers()[1].GetReachable() {
			t.Errorf("%s: %v; want its pool 1/1 and both peers reachable", n.ID, st)
		}
	}
}

// nodeStatus asks n for its status until it answers, for 30 seconds.
func nodeStatus(t *testing.T, n roster.Node, creds roster.Credentials) *pb.GetStatusResponse {
	t.Helper()
	conn, err := roster.Dial(n, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		st, err := pb.NewNodeServiceClient(conn).GetStatus(ctx, &pb.GetStatusRequest{})
		cancel()
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 30s: %v", n.ID, err)
		}
	}
}

// A dev cluster that cannot be created leaves no lab keys behind.
func TestDevRefusesANonEmptyDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "cluster")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "dev", "-dir", dir, "-addresses", strings.Join(freeAddresses(t, 3), ","))
	if r.code != 1 || !strings.Contains(r.stderr, "exists and is not empty") {
		t.Errorf("dev into a non-empty directory: exit code %d\n%s", r.code, r.stderr)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("dev left %v beside %s", names, dir)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dev wrote into %s", dir)
	}
}
