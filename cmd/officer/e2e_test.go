package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Test-only fixtures of package signer: tss-lib pre-parameters.
const fixturePreParams = "../../signer/testdata/preparams"

const (
	allowedDest = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	otherDest   = "bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m"
)

// result is one in-process run of the CLI.
type result struct {
	stdout, stderr string
	err            error
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	err := c.run(t.Context(), args)
	c.report(err)
	return result{out.String(), errb.String(), err}
}

func mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := runCLI(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("officer %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

func wantIn(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, out)
		}
	}
}

// TestEndToEnd runs a real 2-of-3 cluster on 127.0.0.1 with real mutual
// TLS, whose genesis bundle two officers signed with this CLI. Then, all
// through the CLI: two officers sign and submit a policy giving a wallet
// an allowlist and an approval tier; a withdrawal above the tier waits;
// officer show re-derives it; two officers approve it; the cluster signs.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a key generation")
	}
	work := t.TempDir()
	f := func(name string) string { return filepath.Join(work, name) }
	var officers []policy.Officer
	for _, name := range []string{"alice", "bob", "carol"} {
		mustRun(t, "", "keygen", "-name", name, "-o", f(name+".key"), "-officer", f(name+".json"))
		line, err := os.ReadFile(f(name + ".key.pub"))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.ParsePublicKey(strings.TrimSpace(string(line)))
		if err != nil {
			t.Fatal(err)
		}
		officers = append(officers, policy.Officer{Name: name, Key: pub})
	}
	as := func(name string) []string { return []string{"-officer", f(name + ".json")} }

	genesis := policy.Bundle{Format: policy.BundleFormat, Cluster: "lab", Version: 1, Description: "genesis", Officers: officers,
		Groups: map[string][]string{"treasury": {"alice", "bob", "carol"}}, ChangeQuorum: 2, Wallets: map[string]*policy.WalletRules{}}
	if err := os.WriteFile(f("genesis.json"), policytest.Marshal(t, genesis), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		r := mustRun(t, "", append(as(name), "policy", "sign", f("genesis.json"), "-yes")...)
		wantIn(t, "policy sign of genesis", r.stdout, "not compared with a bundle in force", "signed as "+name)
	}

	cluster := f("cluster")
	nodes := startCluster(t, cluster, f("genesis.json"))
	backend := dialBackend(t, cluster, nodes[0])
	wallet := createWallet(t, backend)
	inCluster := func(name string, args ...string) []string {
		return append(append(as(name), "-cluster", cluster), args...)
	}

	r := mustRun(t, "", inCluster("carol", "whoami")...)
	wantIn(t, "whoami", r.stdout, "officer      yes: carol, in policy version 1", "groups       treasury")
	r = mustRun(t, "", "-cluster", cluster, "policy", "show")
	wantIn(t, "policy show", r.stdout, "policy version 1", "alice, bob: 2 of its own officers", "matches your copy", "wallets: none")

	// Version 2: the wallet pays cold storage only, and amounts from
	// 0.1 BTC wait for two of treasury.
	next := genesis
	next.Version, next.Description = 2, "hot wallet"
	next.Wallets = map[string]*policy.WalletRules{wallet.WalletId: {
		Name: "hot-1", Chain: bitcoin.Name, Network: string(bitcoin.Regtest), Role: policy.RoleWarm,
		Destinations: []policy.Destination{{Address: allowedDest, Label: "cold storage"}},
		Assets: []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: chain.AmountOf(50_000_000),
			DailyCap: chain.AmountOf(100_000_000), WeeklyCap: chain.AmountOf(200_000_000)}},
		MaxFee:        chain.AmountOf(20_000),
		ApprovalTiers: []policy.Tier{{Asset: bitcoin.Asset, MinAmount: chain.AmountOf(10_000_000), Approvals: 2, Group: "treasury"}},
		Originators:   []policy.Originator{policytest.Ledger.Originator()},
	}}
	proposed := f("v2.json")
	if err := os.WriteFile(proposed, policytest.Marshal(t, next), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "", inCluster("alice", "policy", "diff", proposed)...)
	wantIn(t, "policy diff", r.stdout, "!! RISK  NEW WALLET "+wallet.WalletId, "(warm, bitcoin regtest)", "BTC at most 0.5 BTC per withdrawal",
		"NEW DESTINATION "+allowedDest)
	r = runCLI(t, "", inCluster("alice", "policy", "submit", proposed, "-yes")...)
	if r.err == nil || !strings.Contains(r.stderr, "has no signatures") {
		t.Errorf("submit before signing: %v\n%s", r.err, r.stderr)
	}
	r = mustRun(t, "yes\n", inCluster("alice", "policy", "sign", proposed)...)
	wantIn(t, "policy sign (alice)", r.stdout, "signed as alice", "not yet accepted")
	r = runCLI(t, "", inCluster("alice", "policy", "submit", proposed, "-yes")...)
	if r.err == nil || !strings.Contains(r.stderr, "nodes would refuse") || !strings.Contains(r.stderr, "signed by 1 officers (alice)") {
		t.Errorf("submit with one signature: %v\n%s", r.err, r.stderr)
	}
	r = mustRun(t, "", inCluster("bob", "policy", "sign", proposed, "-yes")...)
	wantIn(t, "policy sign (bob)", r.stdout, "quorum reached (alice, bob; 2 needed)")
	r = mustRun(t, "", inCluster("bob", "policy", "submit", proposed, "-yes")...)
	t.Logf("policy submit:\n%s", r.stdout)
	wantIn(t, "policy submit", r.stdout, "node-1   accepted version 2", "node-2   accepted version 2", "node-3   accepted version 2", "in force on all 3 nodes")

	// A rollback to version 1, signed by a quorum as it is, is refused
	// for its version, not for want of signatures.
	r = runCLI(t, "", inCluster("alice", "policy", "submit", f("genesis.json"), "-yes")...)
	if r.err == nil || !strings.Contains(r.stderr, "not above the version in force (2)") ||
		!strings.Contains(r.stderr, "hint: a new bundle's version must be above 2, the version in force") || strings.Contains(r.stderr, "collect signatures") {
		t.Errorf("submit of version 1 under version 2: %v\n%s", r.err, r.stderr)
	}

	// A withdrawal of 0.25 BTC to cold storage waits for approval.
	sub := submitWithdrawal(t, backend, wallet, "wd-1", 25_000_000)
	if sub.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL {
		t.Fatalf("withdrawal: %v (%s); want AWAITING_APPROVAL", sub.Status, sub.Reason)
	}
	r = mustRun(t, "", "-cluster", cluster, "pending")
	t.Logf("pending:\n%s", r.stdout)
	wantIn(t, "pending", r.stdout, "wd-1", "bitcoin regtest", "0.25 BTC", "cold storage", "0/2")
	r = mustRun(t, "", "-cluster", cluster, "show", "wd-1")
	t.Logf("show:\n%s", r.stdout)
	wantIn(t, "show", r.stdout, "AWAITING_APPROVAL", "chain         bitcoin", "network       regtest", "allowlisted as \"cold storage\"",
		"amount        0.25 BTC (25,000,000 base units)", "the transaction, as the bitcoin chain re-derives it here", "sat/vB", "input 0",
		"what the wallet signs, recomputed here", "signs         0: ", "tx id         "+sub.GetTx().GetId(), "fee           0.0000",
		"2 of group treasury", "required for amounts from 0.1 BTC", "matches node-1", "ledger (its signature over the intent verified here)", "[0 of 2]")
	if strings.Contains(r.stdout, "PROBLEM") || strings.Contains(r.stdout, "!!") {
		t.Errorf("show of a regtest withdrawal the nodes report truly: a problem or risk marked\n%s", r.stdout)
	}

	// Approvals: alice with -yes, bob by typing yes; carol is not asked.
	r = runCLI(t, "no\n", inCluster("alice", "approve", "wd-1")...)
	if r.err == nil || !strings.Contains(r.stderr, "not confirmed") {
		t.Errorf("approve answered no: %v\n%s", r.err, r.stderr)
	}
	r = mustRun(t, "", inCluster("alice", "approve", "wd-1", "-yes", "-expires", "2h")...)
	t.Logf("approve:\n%s", r.stdout)
	wantIn(t, "approve (alice)", r.stdout, "recorded", "approvals 1/2")
	r = mustRun(t, "", "-cluster", cluster, "show", "wd-1")
	wantIn(t, "show after one approval", r.stdout, "approved by (verified here): alice  [1 of 2]", "still needed: 1 more, from bob, carol")
	r = mustRun(t, "yes\n", inCluster("bob", "approve", "wd-1")...)
	wantIn(t, "approve (bob)", r.stdout, "recorded")

	w := waitFor(t, backend, "wd-1", pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED)
	if len(w.SignedTx) == 0 {
		t.Errorf("signed withdrawal without a transaction: %+v", w)
	}
	r = runCLI(t, "", inCluster("carol", "approve", "wd-1", "-yes")...)
	if r.err == nil || !strings.Contains(r.stderr, "not awaiting approval") {
		t.Errorf("approving a signed withdrawal: %v\n%s", r.err, r.stderr)
	}

	// A second withdrawal, rejected by carol.
	submitWithdrawal(t, backend, wallet, "wd-2", 12_000_000)
	mustRun(t, "", inCluster("carol", "reject", "wd-2", "-reason", "not expected today", "-yes")...)
	w = waitFor(t, backend, "wd-2", pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED)
	if !strings.Contains(w.Reason, "not expected today") {
		t.Errorf("rejected withdrawal: reason %q", w.Reason)
	}
}

// startCluster creates a 2-of-3 cluster in dir with the genesis bundle at
// genesisPath (and its .sigs) and starts its nodes in this process, with
// fixture pre-parameters. It returns the node ids.
func startCluster(t *testing.T, dir, genesisPath string) []string {
	t.Helper()
	raw, err := os.ReadFile(genesisPath)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := os.ReadFile(genesisPath + ".sigs")
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	var ls []net.Listener
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls, addrs = append(ls, l), append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	m, err := signer.CreateCluster(dir, signer.ClusterOptions{Nodes: 3, Threshold: 2, Addresses: addrs, Genesis: raw, GenesisSignatures: sigs})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, mn := range m.Nodes {
		cfg, err := signer.LoadConfig(filepath.Join(dir, mn.Config))
		if err != nil {
			t.Fatal(err)
		}
		cfg.PreParams.Target = 0
		sealer, err := hsm.OpenSoftware(cfg.Sealer.KeyFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		n, err := signer.New(cfg, signer.Options{Sealer: sealer, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		fixture, err := os.ReadFile(filepath.Join(fixturePreParams, mn.ID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.AddPreParams(fixture); err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.ServeListener(ctx, lis) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s stopped with %v", mn.ID, err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("%s did not stop", mn.ID)
			}
		})
		ids = append(ids, mn.ID)
	}
	return ids
}

func dialBackend(t *testing.T, dir, id string) *grpc.ClientConn {
	t.Helper()
	m, err := roster.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	caPath, certPath, keyPath := roster.ClientFiles(dir, pki.RoleBackend)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tlsCfg, err := pki.ClientTLS(read(caPath), read(certPath), read(keyPath), id, "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(m.Nodes[0].Address, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func createWallet(t *testing.T, conn *grpc.ClientConn) *pb.Wallet {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	var stream grpc.ServerStreamingClient[pb.CreateWalletResponse]
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		stream, err = pb.NewWalletServiceClient(conn).CreateWallet(ctx, &pb.CreateWalletRequest{Label: "hot-1", Scheme: pb.Scheme_SCHEME_ECDSA_SECP256K1})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("wallet create: %v", err)
		}
		if w := resp.GetWallet(); w != nil {
			return w
		}
	}
}

// submitWithdrawal funds the wallet with a fabricated coin, builds a
// withdrawal of amount to allowedDest, has the ledger sign its intent and
// submits it as the backend.
func submitWithdrawal(t *testing.T, conn *grpc.ClientConn, w *pb.Wallet, id string, amount int64) *pb.Withdrawal {
	t.Helper()
	root := bitcoin.Key{PublicKey: [33]byte(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}
	var prev chainhash.Hash
	rand.Read(prev[:])
	fund := wire.NewMsgTx(2)
	fund.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, nil))
	child, err := root.Derive(bitcoin.ReceivePath(0))
	if err != nil {
		t.Fatal(err)
	}
	fund.AddTxOut(wire.NewTxOut(40_000_000, bitcoin.P2WPKHScript(child.PublicKey)))
	bin := bitcoin.Intent{WithdrawalID: id, WalletID: w.WalletId, Network: bitcoin.Regtest, Asset: bitcoin.Asset,
		Destination: allowedDest, Amount: amount, FeeCap: 10_000}
	psbt, err := bitcoin.BuildWithdrawal(bin, root, []bitcoin.UTXO{{PrevTx: fund, Index: 0, Path: bitcoin.ReceivePath(0)}}, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	in := bitcoin.NeutralIntent(bin)
	resp, err := pb.NewWithdrawalServiceClient(conn).SubmitWithdrawal(t.Context(), &pb.SubmitWithdrawalRequest{
		Intent: in.Canonical(), UnsignedTx: psbt, IntentSignature: policytest.SignIntent(t, in, policytest.Ledger),
	})
	if err != nil {
		t.Fatalf("submit %s: %v", id, err)
	}
	return resp.Withdrawal
}

func waitFor(t *testing.T, conn *grpc.ClientConn, id string, want pb.WithdrawalStatus) *pb.Withdrawal {
	t.Helper()
	c := pb.NewWithdrawalServiceClient(conn)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := c.GetWithdrawal(t.Context(), &pb.GetWithdrawalRequest{WithdrawalId: id})
		if err == nil && resp.Withdrawal.Status == want {
			return resp.Withdrawal
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %v within 30s: %v %v", id, want, resp.GetWithdrawal().GetStatus(), err)
		}
	}
}
