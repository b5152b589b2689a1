package signer

// CreateCluster writes a countersign cluster's directory: the cluster CA,
// a certificate and sealer key per node, client certificates for the
// backend, officer and auditor roles, and one config file per node. It
// writes files and starts nothing. Clients read the directory with package
// roster.
//
// The layout:
//
//	ca.pem, ca-key.pem           the cluster CA (keep ca-key.pem offline)
//	cluster.json                 the manifest (roster.Manifest): nodes, addresses, certificate hashes
//	nodes/<id>/config.json       the node's config (Config)
//	nodes/<id>/node.pem, node-key.pem, sealer.key
//	nodes/<id>/genesis-policy.json, genesis-policy.sigs.json  the first policy bundle
//	nodes/<id>/data/             the node's bbolt file
//	clients/<role>.pem, <role>-key.pem

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/roster"
)

// ClusterOptions shape a new cluster.
type ClusterOptions struct {
	Nodes     int
	Threshold int
	// Addresses are the nodes' gRPC listen addresses, in node order; empty
	// means 127.0.0.1 from BasePort up.
	Addresses []string
	BasePort  int
	// MetricsBasePort numbers the nodes' metrics listeners on 127.0.0.1;
	// 0 turns metrics off.
	MetricsBasePort int
	// PoolTarget is each node's pre-parameter pool size.
	PoolTarget int
	// Passphrase protects the nodes' sealer keys; empty leaves them
	// unprotected (labs and tests only). Nodes read it from
	// COUNTERSIGN_PASSPHRASE.
	Passphrase []byte
	// Genesis is the first policy bundle (package policy) and
	// GenesisSignatures its officers' signatures file: every node installs
	// it on first start. CreateCluster checks them.
	Genesis, GenesisSignatures []byte
	Now                        time.Time
}

// PassphraseEnv is the variable nodes of a created cluster read their
// sealer passphrase from.
const PassphraseEnv = "COUNTERSIGN_PASSPHRASE"

// NodeID is the id of the i-th node (from 1).
func NodeID(i int) string { return "node-" + strconv.Itoa(i) }

// Roles that get a client certificate.
var clientRoles = []pki.Role{pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor}

// CreateCluster writes a new cluster into dir, which must not exist or be empty.
func CreateCluster(dir string, o ClusterOptions) (*roster.Manifest, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.PoolTarget == 0 {
		o.PoolTarget = DefaultPoolSize
	}
	if o.Nodes < 2 || o.Nodes > MaxNodes || o.Threshold < 2 || o.Threshold > o.Nodes {
		return nil, fmt.Errorf("cluster: %d-of-%d: want 2 <= threshold <= nodes <= %d", o.Threshold, o.Nodes, MaxNodes)
	}
	if len(o.Addresses) == 0 {
		if o.BasePort <= 0 {
			o.BasePort = 7001
		}
		for i := range o.Nodes {
			o.Addresses = append(o.Addresses, net.JoinHostPort("127.0.0.1", strconv.Itoa(o.BasePort+i)))
		}
	}
	if len(o.Addresses) != o.Nodes {
		return nil, fmt.Errorf("cluster: %d addresses for %d nodes", len(o.Addresses), o.Nodes)
	}
	sigs, err := policy.ParseSignatures(o.GenesisSignatures)
	if err != nil {
		return nil, fmt.Errorf("cluster: genesis policy: %w", err)
	}
	genesis, err := policy.AcceptGenesis(o.Genesis, sigs)
	if err != nil {
		return nil, fmt.Errorf("cluster: genesis policy: %w", err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("cluster: %s exists and is not empty", dir)
	}
	ca, err := pki.NewCA("countersign-cluster-ca", o.Now)
	if err != nil {
		return nil, err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string][]byte{"ca.pem": ca.CertPEM(), "ca-key.pem": caKey}); err != nil {
		return nil, err
	}
	m := &roster.Manifest{Version: roster.ManifestVersion, Threshold: o.Threshold, CreatedAt: o.Now.UTC(), Cluster: genesis.Cluster}
	for i := range o.Nodes {
		id := NodeID(i + 1)
		host, _, _ := net.SplitHostPort(o.Addresses[i])
		certPEM, keyPEM, err := ca.Issue(pki.Identity{Name: id, Role: pki.RoleNode}, []string{host}, o.Now)
		if err != nil {
			return nil, err
		}
		nodeDir := filepath.Join(dir, "nodes", id)
		if err := writeFiles(nodeDir, map[string][]byte{"node.pem": certPEM, "node-key.pem": keyPEM}); err != nil {
			return nil, err
		}
		if err := hsm.GenerateSoftwareKey(filepath.Join(nodeDir, "sealer.key"), o.Passphrase); err != nil {
			return nil, err
		}
		sum, err := certHash(certPEM)
		if err != nil {
			return nil, err
		}
		m.Nodes = append(m.Nodes, roster.Node{ID: id, Address: o.Addresses[i], Config: filepath.Join("nodes", id, "config.json"), CertSHA256: sum})
	}
	for i, me := range m.Nodes {
		cfg := &Config{
			Version: ConfigVersion, NodeID: me.ID, Listen: me.Address, DataDir: "data",
			TLS:       TLSConfig{CA: "../../ca.pem", Cert: "node.pem", Key: "node-key.pem"},
			Sealer:    SealerConfig{Kind: "software", KeyFile: "sealer.key"},
			Cluster:   ClusterConfig{Nodes: o.Nodes, Threshold: o.Threshold},
			PreParams: PoolConfig{Target: o.PoolTarget},
		}
		if len(o.Passphrase) > 0 {
			cfg.Sealer.PassphraseEnv = PassphraseEnv
		}
		if o.MetricsBasePort > 0 {
			cfg.MetricsListen = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.MetricsBasePort+i))
		}
		for _, p := range m.Nodes {
			if p.ID != me.ID {
				cfg.Peers = append(cfg.Peers, PeerConfig{ID: p.ID, Address: p.Address, CertSHA256: p.CertSHA256})
			}
		}
		cfg.GenesisPolicy, cfg.GenesisSignatures = "genesis-policy.json", "genesis-policy.sigs.json"
		if err := writeFiles(filepath.Join(dir, "nodes", me.ID), map[string][]byte{
			cfg.GenesisPolicy: o.Genesis, cfg.GenesisSignatures: o.GenesisSignatures,
		}); err != nil {
			return nil, err
		}
		if err := WriteConfig(filepath.Join(dir, me.Config), cfg); err != nil {
			return nil, err
		}
	}
	for _, role := range clientRoles {
		certPEM, keyPEM, err := ca.Issue(pki.Identity{Name: string(role), Role: role}, nil, o.Now)
		if err != nil {
			return nil, err
		}
		_, certPath, keyPath := roster.ClientFiles(dir, role)
		if err := writeFiles(filepath.Dir(certPath), map[string][]byte{filepath.Base(certPath): certPEM, filepath.Base(keyPath): keyPEM}); err != nil {
			return nil, err
		}
	}
	return m, roster.WriteManifest(dir, m)
}

func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range files {
		mode := os.FileMode(0o644)
		if filepath.Ext(name) == ".pem" && len(name) > 8 && name[len(name)-8:] == "-key.pem" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
			return err
		}
	}
	return nil
}

func certHash(certPEM []byte) (string, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return "", errors.New("cluster: certificate is not PEM")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:]), nil
}
