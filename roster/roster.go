// Package roster is a countersign cluster as its clients know it: the
// manifest of a cluster directory (cluster.json: each node's id, address
// and certificate pin, and the cluster's threshold), the client
// certificates beside it, and [Dial], which connects to one node of the
// manifest over mutual TLS. The officer, operator and auditor CLIs reach
// nodes through it; nodes read their own config and never this package's
// files.
//
// A cluster directory, as `signerd init` writes it:
//
//	ca.pem                        the cluster CA's certificate
//	cluster.json                  the manifest ([Manifest])
//	clients/<role>.pem            a client certificate per role (backend, officer, auditor)
//	clients/<role>-key.pem        and its key, mode 0600
//	nodes/<id>/                   each node's own files: config, keys, data (not read here)
//
// # Guarantees
//
//   - [Dial] reaches only the node asked for: TLS 1.3, the server's
//     certificate verified against the cluster CA alone, issued to that
//     node id with the node role, and, when the manifest pins it, with the
//     SHA-256 the manifest names (see [pki.ClientTLS]). It presents the
//     client certificate it is given and no other.
//   - [LoadManifest] returns only a manifest of a version this package
//     reads, with at least two nodes, each id and address present and no
//     id twice.
//
// # What it is not
//
// It is not a node and links none of a node's code (tss-lib, bbolt,
// go-tpm): the client binaries import it so that they need not. It does
// not create clusters: creating one writes every node's config and sealer
// key, which is the node's business (signer.CreateCluster, `signerd
// init`). The manifest is not signed: whoever can write the cluster
// directory can point a client elsewhere, but not past the CA, which
// every connection still checks.
package roster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/countersign/countersign/pki"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ManifestFile is the manifest's name in a cluster directory.
const ManifestFile = "cluster.json"

// ManifestVersion is the version of the manifest this package reads and
// writes.
const ManifestVersion = 1

// ErrorDomain is the domain of the google.rpc.ErrorInfo details a node
// attaches to errors that name a rule; their reason is the rule code
// (policy.destination_not_allowed, withdrawal.id_reused).
const ErrorDomain = "countersign"

// ErrManifest is wrapped by every error about a manifest that exists but
// cannot be used.
var ErrManifest = errors.New("cluster: cluster.json")

// Manifest is cluster.json, as [WriteManifest] writes it (indented JSON):
//
//	{
//	  "version": 1,
//	  "nodes": [
//	    {"id": "node-1", "address": "127.0.0.1:7001", "config": "nodes/node-1/config.json",
//	     "cert_sha256": "<SHA-256 of the node's DER certificate, 64 lowercase hex digits>"},
//	    ...
//	  ],
//	  "threshold": 2,
//	  "created_at": "2026-01-02T03:04:05Z",
//	  "cluster": "lab"
//	}
//
// How it may change: a field is never renamed or given a new meaning; new
// fields are optional, and readers ignore fields they do not know; a
// change that older clients must not misread bumps version.
type Manifest struct {
	Version   int       `json:"version"`
	Nodes     []Node    `json:"nodes"`
	Threshold int       `json:"threshold"`
	CreatedAt time.Time `json:"created_at"`
	// Cluster is the cluster's name, from its first policy bundle.
	Cluster string `json:"cluster,omitempty"`
}

// Node is one node of a manifest.
type Node struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Config is the node's config file, relative to the cluster directory.
	Config string `json:"config"`
	// CertSHA256 pins the node's certificate; empty pins nothing (the CA
	// and the node id are still checked).
	CertSHA256 string `json:"cert_sha256"`
}

// Lookup returns the node of the manifest with id.
func (m *Manifest) Lookup(id string) (Node, bool) {
	for _, n := range m.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// LoadManifest reads the manifest of the cluster directory dir.
func LoadManifest(dir string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w (is %s a cluster directory? create one with 'signerd init')", err, dir)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if m.Version != ManifestVersion || len(m.Nodes) < 2 {
		return nil, fmt.Errorf("%w: unsupported version or no nodes", ErrManifest)
	}
	seen := map[string]bool{}
	for i, n := range m.Nodes {
		if n.ID == "" || n.Address == "" {
			return nil, fmt.Errorf("%w: node %d has no id or no address", ErrManifest, i+1)
		}
		if seen[n.ID] {
			return nil, fmt.Errorf("%w: node %s is listed twice", ErrManifest, n.ID)
		}
		seen[n.ID] = true
	}
	return &m, nil
}

// WriteManifest writes m as dir's manifest, mode 0644: it holds no secret.
func WriteManifest(dir string, m *Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ManifestFile), append(raw, '\n'), 0o644)
}

// ClientFiles are the PEM files a client of role presents, in the cluster
// directory dir: the cluster CA, the client's certificate and its key.
func ClientFiles(dir string, role pki.Role) (ca, cert, key string) {
	return filepath.Join(dir, "ca.pem"), filepath.Join(dir, "clients", string(role)+".pem"), filepath.Join(dir, "clients", string(role)+"-key.pem")
}

// Credentials are what a client connects with, PEM-encoded: the cluster
// CA's certificate, and the client's own certificate and key.
type Credentials struct {
	CA, Cert, Key []byte
}

// ReadCredentials reads the credentials of role from the cluster
// directory dir (see [ClientFiles]).
func ReadCredentials(dir string, role pki.Role) (Credentials, error) {
	return ReadCredentialFiles(ClientFiles(dir, role))
}

// ReadCredentialFiles reads credentials from the three PEM files named.
func ReadCredentialFiles(ca, cert, key string) (Credentials, error) {
	var c Credentials
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{ca, &c.CA}, {cert, &c.Cert}, {key, &c.Key}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return Credentials{}, err
		}
		*f.dst = b
	}
	return c, nil
}

// Dial returns a client connection to node n that presents c and accepts
// only n (see the package's guarantees). Like grpc.NewClient it connects
// lazily: an unreachable node fails the first call, not Dial.
func Dial(n Node, c Credentials, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	tlsCfg, err := pki.ClientTLS(c.CA, c.Cert, c.Key, n.ID, n.CertSHA256)
	if err != nil {
		return nil, fmt.Errorf("client TLS for %s: %w", n.ID, err)
	}
	conn, err := grpc.NewClient(n.Address, append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg))}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", n.ID, n.Address, err)
	}
	return conn, nil
}
