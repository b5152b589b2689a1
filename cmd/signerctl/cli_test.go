package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
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
		{"bad flag value", []string{"pool", "wait", "-min", "three"}, []string{`invalid value "three" for flag -min`, "usage: signerctl pool wait"}},
		{"stray argument", []string{"status", "node-2"}, []string{`unexpected argument "node-2"`, "usage: signerctl status"}},
		{"wallet create without label", []string{"wallet", "create"}, []string{"-label is required", "usage: signerctl wallet create"}},
		{"wallet show without id", []string{"wallet", "show"}, []string{"which wallet?", "usage: signerctl wallet show"}},
		{"wallet show with two ids", []string{"wallet", "show", "w-1", "w-2"}, []string{`unexpected argument "w-2"`}},
		{"address without wallet", []string{"address"}, []string{"-wallet is required"}},
		{"address on an unknown network", []string{"address", "-wallet", "w-1", "-network", "litecoin"}, []string{`-network "litecoin": want mainnet, testnet, signet or regtest`}},
		{"address on an unknown chain", []string{"address", "-wallet", "w-1", "-chain", "dogecoin"}, []string{`-chain "dogecoin": want one of bitcoin, ethereum`}},
		{"address on an unknown Ethereum network", []string{"address", "-wallet", "w-1", "-chain", "ethereum", "-network", "goerli"}, []string{`-network "goerli": want mainnet, sepolia, holesky or dev`}},
		{"hardened index", []string{"address", "-wallet", "w-1", "-index", "2147483648"}, []string{"-index 2147483648: non-hardened indexes are below 2^31"}},
		{"pool wait for nothing", []string{"pool", "wait", "-min", "0"}, []string{"-min must be at least 1"}},
		{"init is signerd's", []string{"init", "-genesis", "g.json"}, []string{"init is 'signerd init' now", "sealer key"}},
		{"dev is signerd's", []string{"dev", "-dir", "cluster"}, []string{"dev is 'signerd dev' now", "runs the nodes"}},
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
		{[]string{"help"}, []string{"usage: signerctl COMMAND", "wallet create", "pool wait", "'signerd init'", "Exit codes"}},
		{[]string{"-h"}, []string{"usage: signerctl COMMAND"}},
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

func TestClientErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	createLabCluster(t, dir, freeAddresses(t, 3))
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no cluster", []string{"status", "-cluster", filepath.Join(dir, "nope")}, []string{"create one with 'signerd init'", "hint:"}},
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
	raw := policytest.Marshal(t, policytest.Genesis("test"))
	sigs := policytest.SignaturesFile(t, policytest.SignBundle(t, raw, policytest.Alice, policytest.Bob))
	if _, err := signer.CreateCluster(dir, signer.ClusterOptions{Nodes: 3, Threshold: 2, Addresses: freeAddresses(t, 3), PoolTarget: 1,
		Genesis: raw, GenesisSignatures: sigs}); err != nil {
		t.Fatal(err)
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
		{poolJSON{Target: 0}, "pool disabled (target 0)"},
		{poolJSON{Ready: 1, Target: 0}, "pool disabled (target 0), 1 set ready"},
		{poolJSON{noAnswer: true}, "no pool status: the node did not answer"},
		{poolJSON{Target: 0, unsure: true}, "no sets, target 0 (pool disabled, or the node did not answer)"},
		{poolJSON{Ready: 1, Target: 2, unsure: true}, "1/2 ready"},
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
