package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// TestDevClusterEthereum runs a 2-of-3 lab cluster (one key generation,
// from fixture pre-parameters) and drives Ethereum through the client
// commands over real mTLS: the wallet's EIP-55 address from every node, a
// policy version drafted with policy propose -chain ethereum and signed by
// two lab officers, an ETH transfer built and submitted with -follow, its
// signed transaction checked here and written with -signed-out; a reused
// nonce and an approve() the ledger signed as a USDC transfer refused.
// Then a version that makes the wallet's key an owner of a Safe: its owner
// signature signed and checked, and the Bybit SafeTx (DELEGATECALL)
// refused.
func TestDevClusterEthereum(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a key generation")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cluster")
	startLabCluster(t, dir)
	work := t.TempDir()
	f := func(name string) string { return filepath.Join(work, name) }
	labKey := func(name string) string { return filepath.Join(dir, "lab-keys", name+".key") }
	run := func(args ...string) result {
		t.Helper()
		return runCLI(t, nil, append(args, "-cluster", dir)...)
	}
	ok := func(r result, what string) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: exit code %d\n%s%s", what, r.code, r.stdout, r.stderr)
		}
		return r
	}
	for deadline := time.Now().Add(30 * time.Second); run("pool", "wait", "-min", "1", "-timeout", "5s").code != 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dev cluster did not answer within 30s")
		}
	}

	var w walletJSON
	if err := json.Unmarshal([]byte(ok(run("wallet", "create", "-label", "eth-1", "-json"), "wallet create").stdout), &w); err != nil {
		t.Fatal(err)
	}
	var address string
	for _, node := range []string{"node-1", "node-2"} {
		var a addressJSON
		r := ok(run("address", "-node", node, "-wallet", w.WalletID, "-chain", "ethereum", "-network", "sepolia", "-json"), "address")
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
			t.Fatal(err)
		}
		if _, err := ethereum.ParseAddress(a.Address); err != nil || a.Path != "m/0/0" || a.Chain != "ethereum" || (address != "" && a.Address != address) {
			t.Errorf("address on %s: %+v (%v), node-1 derives %s", node, a, err, address)
		}
		address = a.Address
	}
	pub, _ := hex.DecodeString(w.PublicKey)
	cc, _ := hex.DecodeString(w.ChainCode)
	want, err := ethereum.Chain{}.Address(chain.Key{Scheme: chain.ECDSASecp256k1, PublicKey: pub, ChainCode: [32]byte(cc)}, "sepolia", bip32.ReceivePath(0))
	if err != nil || want != address {
		t.Errorf("the nodes derive %s, the wallet's key here %s (%v)", address, want, err)
	}
	if r := run("address", "-wallet", w.WalletID, "-chain", "ethereum"); r.code != 2 || !strings.Contains(r.stderr, "-network is required for chain ethereum") {
		t.Errorf("address on Ethereum without -network: exit code %d\n%s", r.code, r.stderr)
	}

	// The policy: the officers sign the draft's exact bytes, then it is submitted to both nodes.
	enact := func(file string) {
		t.Helper()
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policy.ParseBundle(raw); err != nil {
			t.Fatalf("the draft does not parse: %v", err)
		}
		var sigs []*pb.BundleSignature
		for _, officer := range []string{"alice", "bob"} {
			s, err := keys.LoadKeyFile(labKey(officer))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign(keys.NamespacePolicy, raw)
			if err != nil {
				t.Fatal(err)
			}
			sigs = append(sigs, &pb.BundleSignature{Officer: officer, Signature: string(sig)})
		}
		cf := clientFlags{cluster: dir, role: string(pki.RoleOfficer)}
		cl, err := cf.open()
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range cl.nodeIDs() {
			client, err := cl.dial(node)
			if err != nil {
				t.Fatal(err)
			}
			_, err = pb.NewOfficerServiceClient(client.conn).SubmitPolicy(t.Context(), &pb.SubmitPolicyRequest{Bundle: raw, Signatures: sigs})
			client.Close()
			if err != nil {
				t.Fatalf("%s: %v", node, err)
			}
		}
	}
	ok(run(append([]string{"policy", "propose", "-o", f("v2.json"), "-originator", "ledger=" + labKey("ledger") + ".pub"},
		append(ethAccountFlags[2:], "-wallet", w.WalletID, "-first-nonce", "0")...)...), "policy propose -chain ethereum")
	enact(f("v2.json"))
	r := ok(run("policy", "show", "-role", "auditor"), "policy show")
	for _, want := range []string{"policy version 2", "(ethereum sepolia, hot)", "token        USDC at " + ethUSDC} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("policy show does not say %q:\n%s", want, r.stdout)
		}
	}

	build := func(id string, args ...string) {
		t.Helper()
		ok(run(append([]string{"withdraw", "build", "-chain", "ethereum", "-wallet", w.WalletID, "-id", id, "-to", ethDest, "-fee-cap", "5000000000000000",
			"-out", f(id + ".tx"), "-intent-out", f(id + ".json")}, args...)...), "withdraw build "+id)
	}
	submit := func(id, tx string, args ...string) result {
		t.Helper()
		return run(append([]string{"withdraw", "submit", "-intent", f(id + ".json"), "-tx", tx, "-originator-key", labKey("ledger"), "-yes"}, args...)...)
	}
	// signed submits and follows a withdrawal, and returns what -signed-out wrote.
	signed := func(id string, wantOut ...string) []byte {
		t.Helper()
		r := ok(submit(id, f(id+".tx"), "-follow", "-signed-out", f(id+".signed.hex")), "withdraw submit -follow "+id)
		for _, want := range append(wantOut, "SIGNED", "verified     here too: re-derived under policy version") {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("withdraw submit -follow %s does not say %q:\n%s", id, want, r.stdout)
			}
		}
		h, err := os.ReadFile(f(id + ".signed.hex"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := hex.DecodeString(strings.TrimSpace(string(h)))
		if err != nil || !strings.Contains(r.stdout, hex.EncodeToString(raw)) {
			t.Fatalf("%s.signed.hex: %v, or not the hex printed", id, err)
		}
		return raw
	}

	build("wd-eth-1", "-amount", "250000000000000000", "-nonce", "0", "-max-fee-per-gas", "30000000000")
	tx := signed("wd-eth-1", "tx hash      0x", "signed tx    02", "nonce        0 of ethereum:11155111:"+strings.ToLower(address))
	if tx[0] != ethereum.TypeDynamicFee {
		t.Errorf("wd-eth-1 signed %x", tx)
	}
	refused := func(r result, what, rule string) {
		t.Helper()
		if r.code != 1 || !strings.Contains(r.stdout, "rule      "+rule) {
			t.Errorf("%s: exit code %d; want 1 and rule %s\n%s%s", what, r.code, rule, r.stdout, r.stderr)
		}
	}
	build("wd-eth-2", "-amount", "1000", "-nonce", "0", "-max-fee-per-gas", "30000000000")
	refused(submit("wd-eth-2", f("wd-eth-2.tx")), "a signed nonce again", policy.RuleNonceReused)
	// Radiant Capital: the ledger signs a USDC transfer; the transaction calls approve().
	build("wd-approve", "-asset", "USDC", "-amount", "25000000", "-nonce", "1", "-max-fee-per-gas", "30000000000")
	raw, _ := os.ReadFile(f("wd-approve.tx"))
	patched := strings.Replace(hex.EncodeToString(raw), "a9059cbb000000000000000000000000", "095ea7b3000000000000000000000000", 1)
	if err := os.WriteFile(f("wd-approve.hex"), []byte(patched+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused(submit("wd-approve", f("wd-approve.hex")), "approve()", string(ethereum.RuleDataSelector))

	// The wallet's key becomes an owner of a Safe.
	ok(run("policy", "propose", "-wallet", w.WalletID, "-safe", ethSafe, "-safe-version", "1.3.0", "-safe-first-nonce", "12", "-max-safe-tx-gas", "50000",
		"-o", f("v3.json")), "policy propose -safe")
	enact(f("v3.json"))
	build("wd-safe-1", "-amount", "1000000000000000000", "-nonce", "12")
	sig := signed("wd-safe-1", "SafeTx hash  0x", "owner sig    ", "nonce        12 of safe:11155111:"+strings.ToLower(ethSafe))
	safeTx, _ := os.ReadFile(f("wd-safe-1.tx"))
	st, err := ethereum.ParseSafeTx(safeTx)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := st.Hash("1.3.0")
	if owner, err := ethereum.RecoverSafeSignature(hash, sig); err != nil || owner.String() != address {
		t.Errorf("the owner signature recovers to %s (%v), want %s", owner, err, address)
	}
	// Bybit: the next SafeTx, a DELEGATECALL.
	build("wd-bybit", "-amount", "1000000000000000000", "-nonce", "13")
	next, _ := os.ReadFile(f("wd-bybit.tx"))
	bybit, err := ethereum.ParseSafeTx(next)
	if err != nil {
		t.Fatal(err)
	}
	bybit.Operation = chain.AmountOf(1)
	if err := os.WriteFile(f("wd-bybit.delegatecall"), bybit.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	r = submit("wd-bybit", f("wd-bybit.delegatecall"))
	refused(r, "the Bybit SafeTx", string(ethereum.RuleSafeOperation))
	if !strings.Contains(r.stdout, "WARNING: the transaction does not do what the intent says") {
		t.Errorf("no warning before submitting the Bybit SafeTx:\n%s", r.stdout)
	}

	r = ok(run("withdraw", "list", "-wallet", w.WalletID), "withdraw list")
	for _, want := range []string{"25 USDC (25000000 base units)", "0.25 ETH (250000000000000000 wei)", "safe.operation", "data.selector", "nonce.reused"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("withdraw list does not say %q:\n%s", want, r.stdout)
		}
	}
	ok(run("withdraw", "watch", "wd-eth-1"), "withdraw watch of a signed ETH transfer")
}

func mustAddress(t *testing.T, s string) ethereum.Address {
	t.Helper()
	a, err := ethereum.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
