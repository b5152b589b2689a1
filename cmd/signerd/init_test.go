package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/policytest"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer"
)

func TestInitWritesAValidCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	genesis := writeGenesis(t, policytest.Alice, policytest.Bob)
	r := runCLI(t, nil, "init", "-dir", dir, "-genesis", genesis, "-nodes", "4", "-threshold", "3", "-base-port", "17101", "-metrics-base-port", "19101", "-pool", "3")
	if r.code != 0 {
		t.Fatalf("init: exit code %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"3-of-4", "node-4", "127.0.0.1:17104", filepath.Join(dir, "ca-key.pem"), "offline", "signerd dev -dir " + dir} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary does not say %q:\n%s", want, r.stdout)
		}
	}

	m, err := roster.LoadManifest(dir)
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
	m, err := roster.LoadManifest(dir)
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
