package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixturePreParams are test-only pre-parameters (see signer/testdata).
const fixturePreParams = "../../signer/testdata/preparams"

// TestDevCluster runs a 2-of-3 dev cluster in-process, seeded with fixture
// pre-parameters, and drives it with the client commands over real mTLS:
// status, wallet create, addresses from every node, wallet list and show,
// then withdrawals (withdrawEndToEnd).
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

	withdrawEndToEnd(t, dir, w.WalletID, first)
}

// withdrawEndToEnd funds the wallet, allows one destination, and has the
// cluster sign a withdrawal to it; then it submits the same withdrawal to
// another address under a new id (refused by the policy) and under the
// signed one's id (refused as a reused id). changeAddr is the wallet's
// address at m/1/7 as the nodes derived it.
func withdrawEndToEnd(t *testing.T, dir, wallet, changeAddr string) {
	work := t.TempDir()
	f := func(name string) string { return filepath.Join(work, name) }
	ok := func(r result, what string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: exit code %d\n%s%s", what, r.code, r.stdout, r.stderr)
		}
	}
	run := func(args ...string) result {
		t.Helper()
		return runCLI(t, nil, append(args, "-cluster", dir)...)
	}

	r := run("fund", "-wallet", wallet, "-network", "regtest", "-paths", "m/0/0,m/1/7", "-amounts", "40000000,30000000",
		"-out", f("funding.hex"), "-utxos-out", f("utxos.json"))
	ok(r, "fund")
	if !strings.Contains(r.stdout, "m/1/7   "+changeAddr) || !strings.Contains(r.stdout, "broadcast nowhere") {
		t.Errorf("fund does not pay the address the nodes derive at m/1/7 (%s):\n%s", changeAddr, r.stdout)
	}
	ok(run("policy", "allow", "-wallet", wallet, "-to", allowedDest, "-label", "cold storage",
		"-max-amount", "50000000", "-daily-cap", "100000000", "-max-fee", "20000", "-yes"), "policy allow")

	build := func(id, to, name string) {
		t.Helper()
		ok(run("withdraw", "build", "-wallet", wallet, "-id", id, "-to", to, "-amount", "25000000", "-fee-cap", "10000",
			"-utxos", f("utxos.json"), "-out", f(name+".psbt"), "-intent-out", f(name+".json")), "withdraw build "+name)
	}
	build("wd-1", allowedDest, "good")
	r = run("withdraw", "submit", "-intent", f("good.json"), "-psbt", f("good.psbt"), "-follow", "-signed-out", f("signed.hex"), "-yes")
	ok(r, "withdraw submit -follow")
	for _, want := range []string{"SIGNING", "SIGNED", "committee", "verified", "txid"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("withdraw submit -follow does not say %q:\n%s", want, r.stdout)
		}
	}
	signedHex, err := os.ReadFile(f("signed.hex"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := hex.DecodeString(strings.TrimSpace(string(signedHex)))
	if err != nil {
		t.Fatal(err)
	}
	psbtRaw, _ := os.ReadFile(f("good.psbt"))
	if _, _, err := verifySigned(psbtRaw, signed); err != nil {
		t.Errorf("signed.hex: %v", err)
	}

	// DMM Bitcoin: the same withdrawal, paying another address.
	build("wd-2", attackerDest, "swapped")
	r = run("withdraw", "submit", "-intent", f("swapped.json"), "-psbt", f("swapped.psbt"), "-yes")
	if r.code != 1 || !strings.Contains(r.stdout, "rule      policy.destination_not_allowed") || !strings.Contains(r.stderr, "code: FailedPrecondition") {
		t.Errorf("the swapped withdrawal: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// ... and under the id already signed.
	build("wd-1", attackerDest, "reused")
	r = run("withdraw", "submit", "-intent", f("reused.json"), "-psbt", f("reused.psbt"), "-yes", "-node", "node-2", "-json")
	var refused refusalJSON
	if err := json.Unmarshal([]byte(r.stdout), &refused); err != nil || r.code != 1 || !slices.Equal(refused.Rules, []string{"withdrawal.id_reused"}) {
		t.Errorf("the swapped withdrawal under the signed id: exit code %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}

	// The intent untouched and its transaction altered: the client warns,
	// and the nodes find no output paying the intent's destination.
	altered, _ := json.Marshal(intentJSON{WithdrawalID: "wd-3", WalletID: wallet, Network: "regtest", Asset: "BTC",
		Destination: allowedDest, AmountSat: 25_000_000, FeeCapSat: 10_000})
	if err := os.WriteFile(f("altered.json"), altered, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run("withdraw", "submit", "-intent", f("altered.json"), "-psbt", f("swapped.psbt"), "-yes")
	if r.code != 1 || !strings.Contains(r.stdout, "WARNING") || !strings.Contains(r.stdout, "rule      output.destination_missing") {
		t.Errorf("the altered transaction: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = run("withdraw", "show", "wd-1", "-json", "-role", "auditor")
	ok(r, "withdraw show")
	var shown withdrawalJSON
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Status != "SIGNED" || shown.DestinationLabel != "cold storage" || shown.SignedTx != hex.EncodeToString(signed) || len(shown.Committee) != 2 {
		t.Errorf("withdraw show wd-1: %+v", shown)
	}
	r = run("withdraw", "list", "-role", "officer")
	ok(r, "withdraw list")
	if !strings.Contains(r.stdout, "policy.destination_not_allowed") || !strings.Contains(r.stdout, "(cold storage)") {
		t.Errorf("withdraw list:\n%s", r.stdout)
	}
	ok(run("withdraw", "watch", "wd-1"), "withdraw watch of a signed withdrawal")
	r = run("withdraw", "watch", "wd-2")
	if r.code != 1 || !strings.Contains(r.stdout, "policy.destination_not_allowed") {
		t.Errorf("withdraw watch of a refused withdrawal: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
