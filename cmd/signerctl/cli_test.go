package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/policy/policytest"
	"github.com/countersign/countersign/signer"
)

// result is what one signerctl invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs signerctl with args and the environment env.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return runCLICtx(t, t.Context(), env, args...)
}

func runCLICtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	c := &cli{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	code := c.report(c.run(ctx, args))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{"no command", nil, []string{"no command given", "usage: signerctl COMMAND"}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"group without subcommand", []string{"wallet"}, []string{"wallet needs a subcommand: wallet create, wallet list, wallet show"}},
		{"unknown subcommand", []string{"wallet", "burn"}, []string{`unknown command "wallet burn"`}},
		{"help of unknown command", []string{"help", "frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"undefined flag", []string{"status", "-bogus"}, []string{"flag provided but not defined: -bogus", "usage: signerctl status"}},
		{"bad flag value", []string{"init", "-nodes", "three"}, []string{`invalid value "three" for flag -nodes`, "usage: signerctl init"}},
		{"stray argument", []string{"status", "node-2"}, []string{`unexpected argument "node-2"`, "usage: signerctl status"}},
		{"threshold above nodes", []string{"init", "-nodes", "3", "-threshold", "4"}, []string{"-threshold 4: want 2 to -nodes (3)"}},
		{"threshold of one", []string{"init", "-threshold", "1"}, []string{"-threshold 1: want 2 to -nodes (3)"}},
		{"too many nodes", []string{"init", "-nodes", "17"}, []string{"-nodes 17: want 2 to 16"}},
		{"port out of range", []string{"init", "-base-port", "65535"}, []string{"-base-port 65535: want 1 to 65533"}},
		{"empty pool", []string{"init", "-pool", "0"}, []string{"-pool 0: want 1 to 64"}},
		{"addresses do not match nodes", []string{"init", "-addresses", "127.0.0.1:1,127.0.0.1:2"}, []string{"-addresses lists 2 addresses for 3 nodes"}},
		{"dev with a bad log level", []string{"dev", "-log-level", "loud"}, []string{`-log-level "loud"`, "usage: signerctl dev"}},
		{"wallet create without label", []string{"wallet", "create"}, []string{"-label is required", "usage: signerctl wallet create"}},
		{"wallet show without id", []string{"wallet", "show"}, []string{"which wallet?", "usage: signerctl wallet show"}},
		{"wallet show with two ids", []string{"wallet", "show", "w-1", "w-2"}, []string{`unexpected argument "w-2"`}},
		{"address without wallet", []string{"address"}, []string{"-wallet is required"}},
		{"address on an unknown network", []string{"address", "-wallet", "w-1", "-network", "litecoin"}, []string{`-network "litecoin": want mainnet, testnet, signet or regtest`}},
		{"address on an unknown chain", []string{"address", "-wallet", "w-1", "-chain", "dogecoin"}, []string{`-chain "dogecoin": want one of bitcoin, ethereum`}},
		{"address on an unknown Ethereum network", []string{"address", "-wallet", "w-1", "-chain", "ethereum", "-network", "goerli"}, []string{`-network "goerli": want mainnet, sepolia, holesky or dev`}},
		{"hardened index", []string{"address", "-wallet", "w-1", "-index", "2147483648"}, []string{"-index 2147483648: non-hardened indexes are below 2^31"}},
		{"pool wait for nothing", []string{"pool", "wait", "-min", "0"}, []string{"-min must be at least 1"}},
		{"init without genesis", []string{"init"}, []string{"-genesis is required", "usage: signerctl init -genesis FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // nothing may be written by accident
			r := runCLI(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if entries, _ := os.ReadDir("."); len(entries) > 0 {
				t.Errorf("a usage error wrote %s", entries[0].Name())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"usage: signerctl COMMAND", "wallet create", "pool wait", "Exit codes"}},
		{[]string{"-h"}, []string{"usage: signerctl COMMAND"}},
		{[]string{"help", "init"}, []string{"usage: signerctl init -genesis FILE", "-passphrase-env", "ca-key.pem", "FILE.sigs"}},
		{[]string{"help", "dev"}, []string{"usage: signerctl dev", "-preparams", "-genesis"}},
		{[]string{"help", "wallet"}, []string{"usage: signerctl wallet create", "usage: signerctl wallet list", "usage: signerctl wallet show"}},
		{[]string{"help", "pool", "wait"}, []string{"usage: signerctl pool wait", "-min"}},
		{[]string{"address", "-h"}, []string{"usage: signerctl address", "-chain", "-network", "-change", "-index", "never defaults to mainnet", "Bitcoin to regtest"}},
		{[]string{"wallet", "show", "-help"}, []string{"usage: signerctl wallet show WALLET_ID"}},
		{[]string{"help", "fund"}, []string{"usage: signerctl fund", "broadcast nowhere", "-utxos-out"}},
		{[]string{"help", "withdraw"}, []string{"usage: signerctl withdraw build", "usage: signerctl withdraw submit", "withdrawal.id_reused", "usage: signerctl withdraw watch",
			"-chain", "-max-fee-per-gas", "-safe-tx-gas", "SafeTx", "EIP-1559", "-tx"}},
		{[]string{"help", "policy"}, []string{"usage: signerctl policy propose", "-weekly-cap", "-originator", "-tier", "officer policy sign",
			"usage: signerctl policy show", "-version", "-chain-id", "-token", "-safe-version", "-amend", "-cap", "-allow-replacement"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit code %d, stderr %q; want 0 and nothing", r.code, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help does not say %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

// Every command's synopsis names only flags the command has.
func TestSynopsesNameRealFlags(t *testing.T) {
	c := &cli{}
	for _, cmd := range commands {
		fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
		cmd.Flags(c, fs)
		for _, word := range strings.Fields(strings.NewReplacer("[", " ", "]", " ", "|", " ").Replace(cmd.Args)) {
			if name, ok := strings.CutPrefix(word, "-"); ok && fs.Lookup(name) == nil {
				t.Errorf("%s: synopsis names -%s, which is not a flag", cmd.Name, name)
			}
		}
	}
}

func TestInitWritesAValidCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	genesis := writeGenesis(t, policytest.Alice, policytest.Bob)
	r := runCLI(t, nil, "init", "-dir", dir, "-genesis", genesis, "-nodes", "4", "-threshold", "3", "-base-port", "17101", "-metrics-base-port", "19101", "-pool", "3")
	if r.code != 0 {
		t.Fatalf("init: exit code %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"3-of-4", "node-4", "127.0.0.1:17104", filepath.Join(dir, "ca-key.pem"), "offline", "signerctl dev -dir " + dir} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary does not say %q:\n%s", want, r.stdout)
		}
	}

	m, err := signer.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Nodes) != 4 || m.Threshold != 3 || m.Cluster != "test" {
		t.Fatalf("manifest: %d nodes, threshold %d, cluster %q; want 4, 3 and the genesis bundle's \"test\"", len(m.Nodes), m.Threshold, m.Cluster)
	}
	wantGenesis, _ := os.ReadFile(genesis)
	for i, n := range m.Nodes {
		cfg, err := signer.LoadConfig(filepath.Join(dir, n.Config))
		if err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		if cfg.NodeID != n.ID || cfg.Listen != n.Address || cfg.Cluster.Nodes != 4 || cfg.Cluster.Threshold != 3 || cfg.PreParams.Target != 3 {
			t.Errorf("%s: config %+v does not match the flags", n.ID, cfg)
		}
		if want := "127.0.0.1:" + []string{"19101", "19102", "19103", "19104"}[i]; cfg.MetricsListen != want {
			t.Errorf("%s: metrics_listen %q, want %q", n.ID, cfg.MetricsListen, want)
		}
		if cfg.Sealer.PassphraseEnv != "" {
			t.Errorf("%s: sealer wants a passphrase, but none was given", n.ID)
		}
		for _, f := range []string{cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key, cfg.Sealer.KeyFile, cfg.GenesisSignatures} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("%s: %v", n.ID, err)
			}
		}
		if got, err := os.ReadFile(cfg.GenesisPolicy); err != nil || !bytes.Equal(got, wantGenesis) {
			t.Errorf("%s: its genesis policy is not the exact bytes the officers signed (%v)", n.ID, err)
		}
	}
	for _, f := range []string{"ca-key.pem", "clients/backend-key.pem", "clients/officer-key.pem", "clients/auditor-key.pem", "nodes/node-1/node-key.pem", "nodes/node-1/sealer.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Error(err)
			continue
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; a key must be readable by its owner only", f, st.Mode().Perm())
		}
	}

	// init never overwrites a cluster
	r = runCLI(t, nil, "init", "-dir", dir, "-genesis", genesis)
	if r.code != 1 || !strings.Contains(r.stderr, "exists and is not empty") || !strings.Contains(r.stderr, "hint:") {
		t.Errorf("second init: exit code %d, stderr:\n%s\nwant 1 and a hint", r.code, r.stderr)
	}
}

func TestInitAddresses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	r := runCLI(t, nil, "init", "-dir", dir, "-genesis", writeGenesis(t, policytest.Alice, policytest.Bob), "-nodes", "2", "-addresses", "10.0.0.1:7001, signer-b.internal:7001")
	if r.code != 0 {
		t.Fatalf("init: exit code %d\n%s", r.code, r.stderr)
	}
	m, err := signer.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{m.Nodes[0].Address, m.Nodes[1].Address}; !slices.Equal(got, []string{"10.0.0.1:7001", "signer-b.internal:7001"}) {
		t.Errorf("addresses %q", got)
	}
}

func TestInitPassphraseMustBeSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	r := runCLI(t, map[string]string{}, "init", "-dir", dir, "-genesis", writeGenesis(t, policytest.Alice, policytest.Bob), "-passphrase-env", "MY_PASSPHRASE")
	if r.code != 1 || !strings.Contains(r.stderr, "MY_PASSPHRASE: the variable is empty or not set") {
		t.Errorf("exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("init wrote a cluster without the passphrase it was asked for")
	}
}

// writeGenesis writes policytest's genesis bundle of cluster "test"
// (officers Alice, Bob and Carol, any two of whom change the policy) and
// the signatures of by beside it, and returns its path for -genesis.
func writeGenesis(t *testing.T, by ...policytest.Party) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "genesis.json")
	raw := policytest.Marshal(t, policytest.Genesis("test"))
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(by) > 0 {
		sigs := policytest.SignaturesFile(t, policytest.SignBundle(t, raw, by...))
		if err := os.WriteFile(path+".sigs", sigs, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// Init checks the genesis bundle as the nodes will, and writes nothing if
// they would refuse it.
func TestInitRefusesAGenesisWithoutQuorum(t *testing.T) {
	tests := []struct {
		name    string
		genesis string
		want    []string
	}{
		{"no signatures file", writeGenesis(t), []string{"genesis.json.sigs", "hint: the officers' signatures"}},
		{"one officer of two", writeGenesis(t, policytest.Alice), []string{"signed by 1 officers (alice)", "needs 2"}},
		{"an outsider", writeGenesis(t, policytest.Alice, policytest.Mallory), []string{`"mallory" is not an officer`}},
		{"no such file", filepath.Join(t.TempDir(), "nope.json"), []string{"nope.json", "hint: -genesis names the first policy bundle"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			r := runCLI(t, nil, "init", "-dir", dir, "-genesis", tt.genesis)
			if r.code != 1 {
				t.Errorf("exit code %d, want 1", r.code)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("init wrote a cluster whose genesis bundle the nodes would refuse")
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if r := runCLI(t, nil, "init", "-dir", dir, "-genesis", writeGenesis(t, policytest.Alice, policytest.Bob), "-addresses", strings.Join(freeAddresses(t, 3), ",")); r.code != 0 {
		t.Fatalf("init: %s", r.stderr)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no cluster", []string{"status", "-cluster", filepath.Join(dir, "nope")}, []string{"create one with 'signerctl init'", "hint:"}},
		{"unknown node", []string{"status", "-cluster", dir, "-node", "node-9"}, []string{`node "node-9" is not in`, "node-1, node-2, node-3"}},
		{"node role", []string{"wallet", "list", "-cluster", dir, "-role", "node"}, []string{"-role node", "use -role backend, officer or auditor"}},
		{"unknown role", []string{"wallet", "list", "-cluster", dir, "-role", "root"}, []string{`unknown role "root"`}},
		{"node down", []string{"status", "-cluster", dir}, []string{"status on node-1", "code: Unavailable", "is the node running"}},
		{"every node down", []string{"status", "-cluster", dir, "-all"}, []string{"3 of 3 nodes did not answer: node-1, node-2, node-3", "code: Unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != 1 {
				t.Errorf("exit code %d, want 1", r.code)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

// On a cluster that is not a lab, address asks for -network rather than
// assume one: a usage error before any call.
func TestAddressNeedsANetworkOutsideALab(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if r := runCLI(t, nil, "init", "-dir", dir, "-genesis", writeGenesis(t, policytest.Alice, policytest.Bob), "-addresses", strings.Join(freeAddresses(t, 3), ",")); r.code != 0 {
		t.Fatalf("init: %s", r.stderr)
	}
	r := runCLI(t, nil, "address", "-cluster", dir, "-wallet", "w-0123456789abcdef")
	if r.code != 2 || !strings.Contains(r.stderr, `-network is required: cluster "test" is not a lab`) || strings.Contains(r.stderr, "Unavailable") {
		t.Errorf("address without -network on cluster \"test\": exit code %d\n%s", r.code, r.stderr)
	}
	// With -network it calls the node (which is down here).
	r = runCLI(t, nil, "address", "-cluster", dir, "-wallet", "w-0123456789abcdef", "-network", "testnet")
	if r.code != 1 || !strings.Contains(r.stderr, "code: Unavailable") {
		t.Errorf("address -network testnet: exit code %d\n%s", r.code, r.stderr)
	}
}

// freeAddresses returns n loopback addresses nothing listens on right now.
func freeAddresses(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

func TestDescribePool(t *testing.T) {
	tests := []struct {
		p    poolJSON
		want string
	}{
		{poolJSON{Ready: 2, Target: 2}, "2/2 ready"},
		{poolJSON{Ready: 0, Target: 2, Generating: true, GeneratingSeconds: 14}, "0/2 ready, generating 14s"},
		{poolJSON{Ready: 1, Target: 2, Generating: true, GeneratingSeconds: 75, LastSeconds: 41}, "1/2 ready, generating 1m15s (the last set took 41s)"},
		{poolJSON{}, "no pool status (not reachable?)"},
	}
	for _, tt := range tests {
		if got := describePool(tt.p); got != tt.want {
			t.Errorf("describePool(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestJSONOutputsUseSnakeCase(t *testing.T) {
	for _, v := range []any{walletJSON{}, addressJSON{}, statusJSON{}, fundJSON{}, fundOutputJSON{}, utxoJSON{}, intentJSON{},
		buildJSON{}, withdrawalJSON{}, nonceJSON{}, approvalJSON{}, refusalJSON{}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if strings.ToLower(k) != k {
				t.Errorf("%T: field %q is not snake_case", v, k)
			}
		}
	}
}
