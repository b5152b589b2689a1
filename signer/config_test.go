package signer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validConfig() *Config {
	return &Config{
		Version: 1, NodeID: "node-1", Listen: "127.0.0.1:7001", DataDir: "data",
		TLS:     TLSConfig{CA: "ca.pem", Cert: "node.pem", Key: "node-key.pem"},
		Sealer:  SealerConfig{Kind: "software", KeyFile: "sealer.key"},
		Cluster: ClusterConfig{Nodes: 3, Threshold: 2},
		Peers:   []PeerConfig{{ID: "node-2", Address: "127.0.0.1:7002"}, {ID: "node-3", Address: "127.0.0.1:7003"}},

		GenesisPolicy: "genesis-policy.json", GenesisSignatures: "genesis-policy.sigs.json",
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"future version", func(c *Config) { c.Version = 2 }, "version is 2"},
		{"bad node id", func(c *Config) { c.NodeID = "Node 1" }, "node_id"},
		{"bad listen", func(c *Config) { c.Listen = "7001" }, "listen"},
		{"unknown sealer", func(c *Config) { c.Sealer.Kind = "hsm9000" }, "sealer.kind"},
		{"threshold 1", func(c *Config) { c.Cluster.Threshold = 1 }, "cluster.threshold is 1"},
		{"threshold above nodes", func(c *Config) { c.Cluster.Threshold = 4 }, "cluster.threshold is 4"},
		{"missing peer", func(c *Config) { c.Peers = c.Peers[:1] }, "1 peers listed"},
		{"no genesis policy", func(c *Config) { c.GenesisPolicy = "" }, "genesis_policy"},
		{"self as peer", func(c *Config) { c.Peers[0].ID = "node-1" }, "appears twice"},
		{"bad pin", func(c *Config) { c.Peers[0].CertSHA256 = "abc" }, "cert_sha256"},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigStrict(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := WriteConfig(p, validConfig()); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.CA != filepath.Join(dir, "ca.pem") {
		t.Fatalf("relative path not resolved: %s", c.TLS.CA)
	}
	raw, _ := os.ReadFile(p)
	for name, bad := range map[string]string{
		"unknown field": strings.Replace(string(raw), `"version": 1,`, `"version": 1, "colour": "blue",`, 1),
		"trailing data": string(raw) + "{}",
	} {
		os.WriteFile(p, []byte(bad), 0o600)
		if _, err := LoadConfig(p); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{"version":1,"node_id":"node-1"}`))
	f.Add([]byte(`{"version":1,"node_id":"node-1","listen":"127.0.0.1:1","data_dir":"d","tls":{"ca":"a","cert":"b","key":"c"},"sealer":{"kind":"software","key_file":"k"},"cluster":{"nodes":2,"threshold":2},"peers":[{"id":"node-2","address":"127.0.0.1:2"}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		if err == nil && c.Validate() != nil {
			t.Fatal("LoadConfig returned a config that does not validate")
		}
	})
}
