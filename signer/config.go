package signer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// ConfigVersion is the version of the node config file this code reads.
const ConfigVersion = 1

// Config is a node's config file (JSON). Unknown fields are refused, and
// relative paths are relative to the file's directory: LoadConfig makes
// them absolute, so nothing resolves them again.
//
// Compatibility: a field is never renamed or given a new meaning; a change
// that old nodes must not misread bumps Version.
type Config struct {
	Version int    `json:"version"`
	NodeID  string `json:"node_id"`
	// Listen is the gRPC address (mutual TLS only).
	Listen string `json:"listen"`
	// MetricsListen serves Prometheus metrics over plain HTTP; empty turns
	// it off. Keep it on loopback or a management network.
	MetricsListen string        `json:"metrics_listen,omitempty"`
	DataDir       string        `json:"data_dir"`
	TLS           TLSConfig     `json:"tls"`
	Sealer        SealerConfig  `json:"sealer"`
	Cluster       ClusterConfig `json:"cluster"`
	Peers         []PeerConfig  `json:"peers"`
	PreParams     PoolConfig    `json:"preparams"`
	// GenesisPolicy is the cluster's first policy bundle (package policy)
	// and GenesisSignatures its officers' signatures. A node installs it
	// when its store holds no bundle; later bundles arrive signed by
	// officers over OfficerService.SubmitPolicy.
	GenesisPolicy     string    `json:"genesis_policy"`
	GenesisSignatures string    `json:"genesis_signatures"`
	Log               LogConfig `json:"log"`
}

// TLSConfig names the PEM files of the node's identity.
type TLSConfig struct {
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// SealerConfig chooses how secrets are sealed at rest.
type SealerConfig struct {
	// Kind is "software" (an age identity file, optionally passphrase
	// protected) or "tpm" (a data key sealed to the host's TPM 2.0).
	Kind string `json:"kind"`
	// KeyFile is the software sealer's identity file.
	KeyFile string `json:"key_file,omitempty"`
	// PassphraseEnv names the environment variable holding the passphrase
	// of a passphrase-protected KeyFile.
	PassphraseEnv string `json:"passphrase_env,omitempty"`

	// TPMKeyFile is the TPM sealer's key file: the sealed data key, made
	// by `signerd reseal -to tpm`.
	TPMKeyFile string `json:"tpm_key_file,omitempty"`
	// TPMDevice is the TPM's character device (or a unix socket that
	// speaks the TPM command protocol); empty means /dev/tpmrm0.
	TPMDevice string `json:"tpm_device,omitempty"`
	// TPMAddress is the host:port of a TPM simulator's command port (TCG
	// reference simulator protocol; the platform port is the next one),
	// for labs and tests. Exclusive with TPMDevice.
	TPMAddress string `json:"tpm_address,omitempty"`
	// TPMPCRs are the PCRs (SHA-256 bank) the data key is sealed to; empty
	// means [7]. They must be those of TPMKeyFile: `signerd reseal`
	// changes both.
	TPMPCRs []int `json:"tpm_pcrs,omitempty"`
	// PINFile and PINEnv give the TPM key's PIN, if it has one: a file
	// holding it (one trailing newline is ignored) or the name of an
	// environment variable holding it. At most one of them.
	PINFile string `json:"pin_file,omitempty"`
	PINEnv  string `json:"pin_env,omitempty"`
}

// validate checks the sealer section; errors name the field.
func (s *SealerConfig) validate() error {
	tpmFields := []struct {
		name string
		set  bool
	}{
		{"tpm_key_file", s.TPMKeyFile != ""}, {"tpm_device", s.TPMDevice != ""},
		{"tpm_address", s.TPMAddress != ""}, {"tpm_pcrs", s.TPMPCRs != nil},
		{"pin_file", s.PINFile != ""}, {"pin_env", s.PINEnv != ""},
	}
	switch s.Kind {
	case "software":
		if s.KeyFile == "" {
			return errors.New("sealer: software needs key_file")
		}
		for _, f := range tpmFields {
			if f.set {
				return fmt.Errorf("sealer.%s is for kind tpm, not software", f.name)
			}
		}
	case "tpm":
		if s.KeyFile != "" || s.PassphraseEnv != "" {
			return errors.New("sealer: key_file and passphrase_env are for kind software, not tpm")
		}
		if s.TPMKeyFile == "" {
			return errors.New("sealer: tpm needs tpm_key_file (made by `signerd reseal -to tpm`)")
		}
		if s.TPMDevice != "" && s.TPMAddress != "" {
			return errors.New("sealer: tpm_device and tpm_address exclude each other")
		}
		if s.TPMAddress != "" {
			_, port, err := net.SplitHostPort(s.TPMAddress)
			if err != nil {
				return fmt.Errorf("sealer.tpm_address %q: %v", s.TPMAddress, err)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65534 {
				return fmt.Errorf("sealer.tpm_address %q: want a numeric port from 1 to 65534 (the platform port is the next one)", s.TPMAddress)
			}
		}
		seen := map[int]bool{}
		for i, p := range s.TPMPCRs {
			if p < 0 || p > 23 {
				return fmt.Errorf("sealer.tpm_pcrs[%d] is %d: want 0 to 23", i, p)
			}
			if seen[p] {
				return fmt.Errorf("sealer.tpm_pcrs[%d]: PCR %d appears twice", i, p)
			}
			seen[p] = true
		}
		if s.PINFile != "" && s.PINEnv != "" {
			return errors.New("sealer: pin_file and pin_env exclude each other")
		}
	default:
		return fmt.Errorf("sealer.kind %q: want software or tpm", s.Kind)
	}
	return nil
}

// ClusterConfig is the shape of the cluster: Nodes nodes, any Threshold of
// which can sign ("2-of-3": Threshold 2, Nodes 3).
type ClusterConfig struct {
	Nodes     int `json:"nodes"`
	Threshold int `json:"threshold"`
}

// PeerConfig is another node of the cluster. Its certificate must be issued
// by the cluster CA to ID with the node role and, when CertSHA256 is set,
// hash to it.
type PeerConfig struct {
	ID         string `json:"id"`
	Address    string `json:"address"`
	CertSHA256 string `json:"cert_sha256,omitempty"`
}

// PoolConfig sizes the pre-parameter pool.
type PoolConfig struct {
	// Target is how many sealed sets the node keeps ready.
	Target int `json:"target"`
	// Concurrency of the safe-prime search; 0 means one per CPU.
	Concurrency int `json:"concurrency,omitempty"`
}

// LogConfig sets the structured log.
type LogConfig struct {
	Format string `json:"format,omitempty"` // "text" (default) or "json"
	Level  string `json:"level,omitempty"`  // "debug", "info" (default), "warn", "error"
}

// Limits of a cluster's shape.
const (
	MaxNodes        = 16
	DefaultPoolSize = 2
)

var nodeIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ErrConfig is wrapped by every config error.
var ErrConfig = errors.New("config")

// LoadConfig reads, resolves and validates a node config file. Every path
// it returns is absolute, resolved against the file's directory.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data after the config object", ErrConfig, path)
	}
	c.resolve(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// WriteConfig writes c as indented JSON with mode 0600.
func WriteConfig(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

func (c *Config) resolve(dir string) {
	if d, err := filepath.Abs(dir); err == nil {
		dir = d
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	abs(&c.TLS.CA)
	abs(&c.TLS.Cert)
	abs(&c.TLS.Key)
	abs(&c.Sealer.KeyFile)
	abs(&c.Sealer.TPMKeyFile)
	abs(&c.Sealer.PINFile)
	abs(&c.GenesisPolicy)
	abs(&c.GenesisSignatures)
}

// Validate checks the config for everything that can be checked without
// touching the network or the disk.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if c.Version != ConfigVersion {
		return bad("version is %d, this node reads version %d", c.Version, ConfigVersion)
	}
	if !nodeIDPattern.MatchString(c.NodeID) {
		return bad("node_id %q: want 1-32 of a-z, 0-9 and '-'", c.NodeID)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen %q: %v", c.Listen, err)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return bad("metrics_listen %q: %v", c.MetricsListen, err)
		}
	}
	if c.DataDir == "" {
		return bad("data_dir is empty")
	}
	if c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "" {
		return bad("tls needs ca, cert and key")
	}
	if c.GenesisPolicy == "" || c.GenesisSignatures == "" {
		return bad("genesis_policy and genesis_signatures name the cluster's first policy bundle and its officers' signatures")
	}
	if err := c.Sealer.validate(); err != nil {
		return bad("%v", err)
	}
	n, t := c.Cluster.Nodes, c.Cluster.Threshold
	if n < 2 || n > MaxNodes {
		return bad("cluster.nodes is %d: want 2 to %d", n, MaxNodes)
	}
	if t < 2 || t > n {
		return bad("cluster.threshold is %d: want 2 to cluster.nodes (%d)", t, n)
	}
	if len(c.Peers) != n-1 {
		return bad("%d peers listed: a %d-node cluster has %d", len(c.Peers), n, n-1)
	}
	seen := map[string]bool{c.NodeID: true}
	for i, p := range c.Peers {
		if !nodeIDPattern.MatchString(p.ID) {
			return bad("peers[%d].id %q: want 1-32 of a-z, 0-9 and '-'", i, p.ID)
		}
		if seen[p.ID] {
			return bad("peers[%d].id %q appears twice (or is this node)", i, p.ID)
		}
		seen[p.ID] = true
		if _, _, err := net.SplitHostPort(p.Address); err != nil {
			return bad("peers[%d].address %q: %v", i, p.Address, err)
		}
		if p.CertSHA256 != "" && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(p.CertSHA256) {
			return bad("peers[%d].cert_sha256: want 64 lowercase hex digits", i)
		}
	}
	if c.PreParams.Target < 0 || c.PreParams.Target > 64 {
		return bad("preparams.target is %d: want 0 to 64", c.PreParams.Target)
	}
	if !slices.Contains([]string{"", "text", "json"}, c.Log.Format) {
		return bad("log.format %q: want text or json", c.Log.Format)
	}
	if !slices.Contains([]string{"", "debug", "info", "warn", "error"}, c.Log.Level) {
		return bad("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	return nil
}

// Members returns every node id of the cluster, sorted.
func (c *Config) Members() []string {
	ids := []string{c.NodeID}
	for _, p := range c.Peers {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

// Timeouts of sessions. A session that has not ended by then aborts and
// names the nodes it was waiting for.
const (
	KeygenTimeout  = 3 * time.Minute
	SigningTimeout = 60 * time.Second
)
