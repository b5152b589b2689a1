package roster

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func testManifest() *Manifest {
	return &Manifest{Version: ManifestVersion, Threshold: 2, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Cluster: "lab",
		Nodes: []Node{
			{ID: "node-1", Address: "127.0.0.1:7001", Config: "nodes/node-1/config.json", CertSHA256: strings.Repeat("ab", 32)},
			{ID: "node-2", Address: "127.0.0.1:7002", Config: "nodes/node-2/config.json", CertSHA256: strings.Repeat("cd", 32)},
		}}
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := testManifest()
	if err := WriteManifest(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read back %+v, wrote %+v", got, want)
	}
	if n, ok := got.Lookup("node-2"); !ok || n.Address != "127.0.0.1:7002" {
		t.Errorf("Lookup(node-2) = %+v, %t", n, ok)
	}
	if _, ok := got.Lookup("node-3"); ok {
		t.Error("Lookup found a node the manifest does not list")
	}
}

func TestLoadManifestRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
		raw  string // instead of the edited manifest
		want string
	}{
		{name: "not JSON", raw: "{", want: "unexpected end"},
		{name: "a later version", edit: func(m *Manifest) { m.Version = 2 }, want: "unsupported version"},
		{name: "one node", edit: func(m *Manifest) { m.Nodes = m.Nodes[:1] }, want: "no nodes"},
		{name: "a node twice", edit: func(m *Manifest) { m.Nodes[1].ID = "node-1" }, want: "node-1 is listed twice"},
		{name: "a node without address", edit: func(m *Manifest) { m.Nodes[1].Address = "" }, want: "node 2 has no id or no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.raw != "" {
				if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte(tt.raw), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				m := testManifest()
				tt.edit(m)
				if err := WriteManifest(dir, m); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadManifest(dir)
			if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want ErrManifest saying %q", err, tt.want)
			}
		})
	}
	_, err := LoadManifest(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "create one with 'signerd init'") {
		t.Errorf("no manifest: %v; want ErrNotExist and a hint", err)
	}
}

// Dial reaches the node named, and only with its certificate.
func TestDial(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("test-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	nodeCert, nodeKey, err := ca.Issue(pki.Identity{Name: "node-1", Role: pki.RoleNode}, []string{"127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := pki.ServerTLS(ca.CertPEM(), nodeCert, nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	grpc_health_v1.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	clientCert, clientKey, err := ca.Issue(pki.Identity{Name: "backend", Role: pki.RoleBackend}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	creds := Credentials{CA: ca.CertPEM(), Cert: clientCert, Key: clientKey}
	parsed, err := pki.ParseCertificatePEM(nodeCert)
	if err != nil {
		t.Fatal(err)
	}
	pin := pki.Fingerprint(parsed)
	other, err := pki.NewCA("other-ca", now)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		node  Node
		creds Credentials
		ok    bool
	}{
		{"pinned", Node{ID: "node-1", Address: lis.Addr().String(), CertSHA256: pin}, creds, true},
		{"unpinned", Node{ID: "node-1", Address: lis.Addr().String()}, creds, true},
		{"another pin", Node{ID: "node-1", Address: lis.Addr().String(), CertSHA256: strings.Repeat("00", 32)}, creds, false},
		{"another node's address", Node{ID: "node-2", Address: lis.Addr().String()}, creds, false},
		{"another CA", Node{ID: "node-1", Address: lis.Addr().String()}, Credentials{CA: other.CertPEM(), Cert: clientCert, Key: clientKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := Dial(tt.node, tt.creds)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = grpc_health_v1.NewHealthClient(conn).Check(t.Context(), &grpc_health_v1.HealthCheckRequest{})
			if tt.ok && err != nil {
				t.Errorf("call: %v", err)
			}
			if !tt.ok && status.Code(err) != codes.Unavailable {
				t.Errorf("call: %v; want Unavailable (the handshake refused)", err)
			}
		})
	}

	if _, err := Dial(Node{ID: "node-1", Address: lis.Addr().String()}, Credentials{CA: ca.CertPEM(), Cert: clientCert, Key: nodeKey}); err == nil {
		t.Error("Dial accepted a key that is not the certificate's")
	}
}

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := ClientFiles(dir, pki.RoleOfficer)
	if cert != filepath.Join(dir, "clients", "officer.pem") || key != filepath.Join(dir, "clients", "officer-key.pem") || ca != filepath.Join(dir, "ca.pem") {
		t.Errorf("ClientFiles = %s, %s, %s", ca, cert, key)
	}
	if _, err := ReadCredentials(dir, pki.RoleOfficer); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no files: %v; want ErrNotExist", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o700); err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{ca, cert, key} {
		if err := os.WriteFile(p, []byte{byte('a' + i)}, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ReadCredentials(dir, pki.RoleOfficer)
	if err != nil || string(c.CA) != "a" || string(c.Cert) != "b" || string(c.Key) != "c" {
		t.Errorf("ReadCredentials = %q, %q, %q, %v", c.CA, c.Cert, c.Key, err)
	}
}
