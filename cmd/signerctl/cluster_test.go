package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/lab"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fixturePreParams are test-only pre-parameters (see signer/testdata).
const fixturePreParams = "../../signer/testdata/preparams"

// TestLabCluster runs a 2-of-3 lab cluster in this process, under the lab
// genesis policy `signerd dev` makes (package lab) and seeded with fixture
// pre-parameters, and drives it with the client commands over real mTLS:
// status, wallet create, addresses from every node, wallet list and show,
// then a policy change and withdrawals (withdrawEndToEnd). Running the
// nodes from the command line is `signerd dev`'s, tested beside it.
func TestLabCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a key generation")
	}
	t.Parallel() // with TestDevClusterEthereum, whose key generation is its own
	dir := filepath.Join(t.TempDir(), "cluster")
	startLabCluster(t, dir)

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
			t.Fatalf("the lab cluster did not answer within 30s:\n%s", r.stderr)
		}
	}
	for _, s := range statuses {
		if s.Pool.Ready != 1 || s.Pool.Target != 1 || len(s.Peers) != 2 || !s.Peers[0].Reachable || !s.Peers[1].Reachable {
			t.Errorf("%s: %+v; want its pool 1/1 and both peers reachable", s.NodeID, s)
		}
	}

	r := runCLI(t, nil, "wallet", "create", "-cluster", dir, "-node", "node-2", "-label", "hot-1", "-json")
	if r.code != 0 {
		t.Fatalf("wallet create: exit code %d\n%s", r.code, r.stderr)
	}
	var w walletJSON
	if err := json.Unmarshal([]byte(r.stdout), &w); err != nil {
		t.Fatalf("wallet create -json: %v\n%s", err, r.stdout)
	}
	if w.Label != "hot-1" || w.Threshold != 2 || len(w.Nodes) != 3 || len(w.PublicKey) != 66 || len(w.ChainCode) != 64 || !strings.Contains(r.stderr, "running") {
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

// withdrawEndToEnd funds the wallet; has the lab officers put it under a
// policy (policy propose, then two officers' signatures made here with
// their lab key files, submitted to every node as an officer) that allows
// one destination and takes intents signed by the lab ledger; and has the
// cluster sign a withdrawal the ledger signed. Then it submits withdrawals
// every node must refuse: the same one paying another address under a new
// id, and under the signed one's id (a reused id); one unsigned, one
// signed by another key, one carrying the signature of another intent;
// and one whose transaction does not pay its intent. changeAddr is the
// wallet's address at m/1/7 as the nodes derived it.
func withdrawEndToEnd(t *testing.T, dir, wallet, changeAddr string) {
	work := t.TempDir()
	f := func(name string) string { return filepath.Join(work, name) }
	labKey := func(name string) string { return filepath.Join(dir, "lab-keys", name+".key") }
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
	refusedFor := func(r result, what string, rule string) {
		t.Helper()
		var refused refusalJSON
		if err := json.Unmarshal([]byte(r.stdout), &refused); err != nil || r.code != 1 || !slices.Equal(refused.Rules, []string{rule}) {
			t.Errorf("%s: exit code %d, %v; want 1 and rule %s\n%s%s", what, r.code, err, rule, r.stdout, r.stderr)
		}
	}

	r := run("fund", "-wallet", wallet, "-network", "regtest", "-paths", "m/0/0,m/1/7", "-amounts", "40000000,30000000",
		"-out", f("funding.hex"), "-utxos-out", f("utxos.json"))
	ok(r, "fund")
	if !strings.Contains(r.stdout, "m/1/7   "+changeAddr) || !strings.Contains(r.stdout, "broadcast nowhere") {
		t.Errorf("fund does not pay the address the nodes derive at m/1/7 (%s):\n%s", changeAddr, r.stdout)
	}
	build := func(id, to, name string) {
		t.Helper()
		ok(run("withdraw", "build", "-wallet", wallet, "-id", id, "-to", to, "-amount", "25000000", "-fee-cap", "10000",
			"-utxos", f("utxos.json"), "-out", f(name+".psbt"), "-intent-out", f(name+".json")), "withdraw build "+name)
	}
	submit := func(name string, args ...string) result {
		t.Helper()
		return run(append([]string{"withdraw", "submit", "-intent", f(name + ".json"), "-psbt", f(name + ".psbt"), "-yes"}, args...)...)
	}

	// The lab genesis policy has no wallet: the ledger's signature is not enough.
	build("wd-0", allowedDest, "early")
	refusedFor(submit("early", "-originator-key", labKey("ledger"), "-json"), "a withdrawal before the wallet has rules", policy.RuleWalletUnknown)

	proposed := f("proposed.json")
	propose := []string{"policy", "propose", "-wallet", wallet, "-network", "regtest", "-to", allowedDest, "-label", "cold storage",
		"-originator", "ledger=" + labKey("ledger") + ".pub", "-max-amount", "50000000", "-daily-cap", "100000000",
		"-weekly-cap", "300000000", "-max-fee", "20000", "-o", proposed}
	// Drafts the nodes would refuse are not written.
	r = run(slices.DeleteFunc(slices.Clone(propose), func(a string) bool { return a == "-network" || a == "regtest" })...)
	if r.code != 2 || !strings.Contains(r.stderr, "is new to the policy: -network") {
		t.Errorf("policy propose of a new wallet without -network: exit code %d\n%s", r.code, r.stderr)
	}
	r = run(append(slices.Clone(propose), "-weekly-cap", "1000")...)
	if r.code != 1 || !strings.Contains(r.stderr, "assets.BTC.weekly_cap must be at least daily_cap") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("policy propose with a weekly cap below the daily cap: exit code %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(proposed); err == nil {
		t.Fatal("a refused policy propose wrote its draft")
	}
	r = run(propose...)
	ok(r, "policy propose")
	if !strings.Contains(r.stdout, "policy version 2 (in force: 1)") || !strings.Contains(r.stdout, "once 2 officers signed it") {
		t.Errorf("policy propose:\n%s", r.stdout)
	}
	raw, err := os.ReadFile(proposed)
	if err != nil {
		t.Fatal(err)
	}
	next, err := policy.ParseBundle(raw)
	if err != nil {
		t.Fatalf("the draft does not parse: %v", err)
	}
	ledgerPub, err := os.ReadFile(labKey("ledger") + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	ledgerKey, err := keys.ParsePublicKey(strings.TrimSpace(string(ledgerPub)))
	if err != nil {
		t.Fatal(err)
	}
	w := next.Wallets[wallet]
	if next.Version != 2 || next.Cluster != "lab" || len(next.Officers) != 3 || next.ChangeQuorum != 2 || len(next.Wallets) != 1 || w == nil {
		t.Fatalf("the draft: version %d of cluster %q, %d officers, quorum %d, wallets %v", next.Version, next.Cluster, len(next.Officers), next.ChangeQuorum, next.Wallets)
	}
	sat := func(v uint64) chain.Amount { return chain.AmountOf(v) }
	if next.Format != policy.BundleFormat || w.Chain != bitcoin.Name || w.Network != string(bitcoin.Regtest) || w.Role != policy.RoleCold || w.AnyDestination ||
		!slices.Equal(w.Destinations, []policy.Destination{{Address: allowedDest, Label: "cold storage"}}) ||
		!sameLimits(w.AssetLimits(), []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: sat(50_000_000), DailyCap: sat(100_000_000), WeeklyCap: sat(300_000_000)}}) ||
		!w.FeeCap().Equal(sat(20_000)) || w.MaxAmountSat != 0 || w.MaxFeeSat != 0 ||
		len(w.Originators) != 1 || w.Originators[0].Name != "ledger" || !w.Originators[0].Key.Equal(ledgerKey) {
		t.Errorf("the draft's rules of %s: %+v", wallet, w)
	}

	// The officers sign the draft's exact bytes with their key files.
	sign := func(officer string) *pb.BundleSignature {
		t.Helper()
		s, err := keys.LoadKeyFile(labKey(officer))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := s.Sign(keys.NamespacePolicy, raw)
		if err != nil {
			t.Fatal(err)
		}
		return &pb.BundleSignature{Officer: officer, Signature: string(sig)}
	}
	alice, bob := sign("alice"), sign("bob")
	submitPolicy := func(node string, role pki.Role, sigs ...*pb.BundleSignature) (*pb.SubmitPolicyResponse, error) {
		t.Helper()
		cf := clientFlags{cluster: dir, role: string(role)}
		cl, err := cf.open()
		if err != nil {
			t.Fatal(err)
		}
		client, err := cl.dial(node)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		return pb.NewOfficerServiceClient(client.conn).SubmitPolicy(t.Context(), &pb.SubmitPolicyRequest{Bundle: raw, Signatures: sigs})
	}
	// One officer is not a quorum, and the backend is no officer.
	if _, err := submitPolicy("node-1", pki.RoleOfficer, alice); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "takes 2") {
		t.Errorf("a bundle signed by alice alone: %v; want PermissionDenied", err)
	}
	if _, err := submitPolicy("node-1", pki.RoleBackend, alice, bob); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a bundle submitted with the backend's certificate: %v; want PermissionDenied", err)
	}
	for _, node := range []string{"node-1", "node-2", "node-3"} {
		resp, err := submitPolicy(node, pki.RoleOfficer, alice, bob)
		if err != nil {
			t.Fatalf("submitting the signed bundle to %s: %v", node, err)
		}
		if resp.GetPolicy().GetVersion() != 2 || !slices.Equal(resp.GetSignedBy(), []string{"alice", "bob"}) {
			t.Errorf("%s accepted version %d, signed by %v; want 2 by alice and bob", node, resp.GetPolicy().GetVersion(), resp.GetSignedBy())
		}
	}
	r = run("policy", "show", "-node", "node-3", "-role", "auditor", "-json")
	ok(r, "policy show -json")
	var shown struct {
		Version    int64  `json:"version"`
		Hash       string `json:"hash"`
		Signatures []struct {
			Officer string `json:"officer"`
		} `json:"signatures"`
		Bundle json.RawMessage `json:"bundle"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatalf("policy show -json: %v\n%s", err, r.stdout)
	}
	if h := sha256.Sum256(raw); shown.Version != 2 || shown.Hash != hex.EncodeToString(h[:]) || len(shown.Signatures) != 2 || !json.Valid(shown.Bundle) {
		t.Errorf("policy show -json on node-3: %+v; want version 2, hash %x, two signatures", shown, h)
	}
	r = run("policy", "show", "-node", "node-2")
	for _, want := range []string{"policy version 2 in force on node-2", "signed by alice, bob", `"cold storage"`, wallet} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("policy show does not say %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}

	build("wd-1", allowedDest, "good")
	r = submit("good", "-originator-key", labKey("ledger"), "-follow", "-signed-out", f("signed.hex"))
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

	// DMM Bitcoin: the same withdrawal, paying another address, signed by the ledger.
	build("wd-2", attackerDest, "swapped")
	r = submit("swapped", "-originator-key", labKey("ledger"))
	if r.code != 1 || !strings.Contains(r.stdout, "rule      policy.destination_not_allowed") || !strings.Contains(r.stderr, "code: FailedPrecondition") {
		t.Errorf("the swapped withdrawal: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// ... and under the id already signed.
	build("wd-1", attackerDest, "reused")
	refusedFor(submit("reused", "-originator-key", labKey("ledger"), "-node", "node-2", "-json"), "the swapped withdrawal under the signed id", "withdrawal.id_reused")

	// Intents the ledger did not sign.
	build("wd-4", allowedDest, "unsigned")
	refusedFor(submit("unsigned", "-json"), "an unsigned intent", policy.RuleIntentUnsigned)
	if _, err := keys.GenerateKeyFile(f("other.key"), "not-the-ledger"); err != nil {
		t.Fatal(err)
	}
	build("wd-5", allowedDest, "other")
	refusedFor(submit("other", "-originator-key", f("other.key"), "-node", "node-3", "-json"), "an intent signed by another key", policy.RuleIntentSignature)
	ledger, err := keys.LoadKeyFile(labKey("ledger"))
	if err != nil {
		t.Fatal(err)
	}
	signIntent := func(intentFile, sigFile string) {
		t.Helper()
		_, canonical, err := readIntent(intentFile)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ledger.Sign(keys.NamespaceIntent, canonical)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sigFile, sig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIntent(f("good.json"), f("good.sig"))
	build("wd-6", allowedDest, "borrowed")
	refusedFor(submit("borrowed", "-intent-signature", f("good.sig"), "-json"), "an intent carrying the ledger's signature of another intent", policy.RuleIntentSignature)

	// The intent untouched and signed by the ledger (-intent-signature),
	// its transaction altered: the client warns, and the nodes find no
	// output paying the intent's destination.
	altered := bitcoin.NeutralIntent(bitcoin.Intent{WithdrawalID: "wd-3", WalletID: wallet, Network: bitcoin.Regtest, Asset: "BTC",
		Destination: allowedDest, Amount: 25_000_000, FeeCap: 10_000}).Canonical()
	if err := os.WriteFile(f("altered.json"), altered, 0o644); err != nil {
		t.Fatal(err)
	}
	signIntent(f("altered.json"), f("altered.sig"))
	r = run("withdraw", "submit", "-intent", f("altered.json"), "-psbt", f("swapped.psbt"), "-intent-signature", f("altered.sig"), "-yes")
	if r.code != 1 || !strings.Contains(r.stdout, "WARNING") || !strings.Contains(r.stdout, "rule      output.destination_missing") {
		t.Errorf("the altered transaction: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = run("withdraw", "show", "wd-1", "-json", "-role", "auditor")
	ok(r, "withdraw show")
	var wd withdrawalJSON
	if err := json.Unmarshal([]byte(r.stdout), &wd); err != nil {
		t.Fatal(err)
	}
	if wd.Status != "SIGNED" || wd.DestinationLabel != "cold storage" || wd.SignedTx != hex.EncodeToString(signed) || len(wd.Committee) != 2 {
		t.Errorf("withdraw show wd-1: %+v", wd)
	}
	r = run("withdraw", "list", "-role", "officer")
	ok(r, "withdraw list")
	for _, want := range []string{"policy.destination_not_allowed", "(cold storage)", policy.RuleIntentUnsigned, policy.RuleIntentSignature, policy.RuleWalletUnknown} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("withdraw list does not say %q:\n%s", want, r.stdout)
		}
	}
	ok(run("withdraw", "watch", "wd-1"), "withdraw watch of a signed withdrawal")
	r = run("withdraw", "watch", "wd-2")
	if r.code != 1 || !strings.Contains(r.stdout, "policy.destination_not_allowed") {
		t.Errorf("withdraw watch of a refused withdrawal: exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// createLabCluster creates a 2-of-3 cluster in dir as `signerd dev` does
// when it finds none: under the lab genesis, with the lab officers' and
// the ledger's key files in dir/lab-keys, and pools of one set. Its nodes
// listen on addrs.
func createLabCluster(t *testing.T, dir string, addrs []string) *roster.Manifest {
	t.Helper()
	keysDir := t.TempDir()
	genesis, err := lab.WriteGenesis(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(genesis)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := os.ReadFile(genesis + ".sigs")
	if err != nil {
		t.Fatal(err)
	}
	m, err := signer.CreateCluster(dir, signer.ClusterOptions{Nodes: 3, Threshold: 2, Addresses: addrs, PoolTarget: 1, Genesis: raw, GenesisSignatures: sigs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keysDir, filepath.Join(dir, "lab-keys")); err != nil {
		t.Fatal(err)
	}
	return m
}

// startLabCluster creates a lab cluster in dir (createLabCluster) and
// serves its nodes in this process until the test ends, each seeded with
// its fixture pre-parameter set.
func startLabCluster(t *testing.T, dir string) {
	t.Helper()
	m := createLabCluster(t, dir, freeAddresses(t, 3))
	for _, mn := range m.Nodes {
		cfg, err := signer.LoadConfig(filepath.Join(dir, mn.Config))
		if err != nil {
			t.Fatal(err)
		}
		sealer, err := signer.OpenSealer(cfg.Sealer, func(string) (string, bool) { return "", false })
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
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30s", mn.ID)
			}
		})
	}
}
