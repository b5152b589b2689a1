package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// party is one side's credentials.
type party struct {
	certPEM, keyPEM []byte
}

type result struct {
	serverErr, clientErr error
	serverState          tls.ConnectionState
	clientState          tls.ConnectionState
}

// handshake runs a real TLS handshake on 127.0.0.1 between server and
// client, then has the server write and the client read two bytes, so that
// a client certificate the server refuses also fails the client.
func handshake(t *testing.T, server, client *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()

	type serverResult struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan serverResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- serverResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		s := tls.Server(c, server)
		if err := s.HandshakeContext(ctx); err != nil {
			done <- serverResult{err: err}
			return
		}
		_, err = s.Write([]byte("ok"))
		done <- serverResult{err: err, state: s.ConnectionState()}
	}()

	var r result
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	cl := tls.Client(c, client)
	r.clientErr = cl.HandshakeContext(ctx)
	if r.clientErr == nil {
		buf := make([]byte, 2)
		if _, err := io.ReadFull(cl, buf); err != nil {
			r.clientErr = err
		} else if string(buf) != "ok" {
			r.clientErr = errors.New("unexpected data")
		}
		r.clientState = cl.ConnectionState()
	}
	c.Close()
	sr := <-done
	r.serverErr, r.serverState = sr.err, sr.state
	return r
}

func issue(t *testing.T, ca *CA, id Identity, hosts ...string) party {
	t.Helper()
	// Certificates must be valid now for the real handshake.
	certPEM, keyPEM, err := ca.Issue(id, hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return party{certPEM, keyPEM}
}

func newTLSCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func serverConfig(t *testing.T, ca *CA, p party) *tls.Config {
	t.Helper()
	cfg, err := ServerTLS(ca.CertPEM(), p.certPEM, p.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientConfig(t *testing.T, ca *CA, p party, serverName, pin string) *tls.Config {
	t.Helper()
	cfg, err := ClientTLS(ca.CertPEM(), p.certPEM, p.keyPEM, serverName, pin)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestHandshake(t *testing.T) {
	ca := newTLSCA(t, "cluster-a")
	// An impostor CA with the same name, so that its certificates name the
	// cluster CA as their issuer.
	other := newTLSCA(t, "cluster-a")

	n1 := issue(t, ca, Identity{"n1", RoleNode}, "127.0.0.1", "localhost")
	n2 := issue(t, ca, Identity{"n2", RoleNode})
	// n2 that also claims the DNS name n1: passes hostname checks for n1
	// but identifies as n2.
	n2AsN1 := issue(t, ca, Identity{"n2", RoleNode}, "n1")
	n1Foreign := issue(t, other, Identity{"n1", RoleNode})
	backend := issue(t, ca, Identity{"exchange", RoleBackend})
	officer := issue(t, ca, Identity{"alice", RoleOfficer})
	auditor := issue(t, ca, Identity{"bob", RoleAuditor})
	backendForeign := issue(t, other, Identity{"exchange", RoleBackend})

	n1Cert, err := ParseCertificatePEM(n1.certPEM)
	if err != nil {
		t.Fatal(err)
	}
	n1Pin := Fingerprint(n1Cert)
	n1PinColons := strings.ToUpper(strings.Join(splitPairs(n1Pin), ":"))
	otherPin := strings.Repeat("ab", 32)

	tls12 := func(c *tls.Config) *tls.Config {
		c = c.Clone()
		c.MinVersion = tls.VersionTLS12
		c.MaxVersion = tls.VersionTLS12
		return c
	}
	noCert := func(c *tls.Config) *tls.Config {
		c = c.Clone()
		c.Certificates = nil
		return c
	}
	// present makes a client send p's certificate whatever the server asks.
	present := func(c *tls.Config, p party) *tls.Config {
		kp, _, err := LoadKeyPair(p.certPEM, p.keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c = c.Clone()
		c.Certificates = nil
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
		return c
	}

	tests := []struct {
		name         string
		server       *tls.Config
		client       *tls.Config
		wantOK       bool
		wantClientIs error  // checked with errors.Is when not nil
		wantServer   string // in the server's error when not empty
		wantClient   string // in the client's error when not empty
		wantPeer     Identity
	}{
		{
			name:     "node to node",
			server:   serverConfig(t, ca, n1),
			client:   clientConfig(t, ca, n2, "n1", ""),
			wantOK:   true,
			wantPeer: Identity{"n2", RoleNode},
		},
		{
			name:     "backend to node",
			server:   serverConfig(t, ca, n1),
			client:   clientConfig(t, ca, backend, "n1", ""),
			wantOK:   true,
			wantPeer: Identity{"exchange", RoleBackend},
		},
		{
			name:     "officer to node",
			server:   serverConfig(t, ca, n1),
			client:   clientConfig(t, ca, officer, "n1", ""),
			wantOK:   true,
			wantPeer: Identity{"alice", RoleOfficer},
		},
		{
			name:     "auditor to node, pinned",
			server:   serverConfig(t, ca, n1),
			client:   clientConfig(t, ca, auditor, "n1", n1Pin),
			wantOK:   true,
			wantPeer: Identity{"bob", RoleAuditor},
		},
		{
			name:     "pin with colons and capitals",
			server:   serverConfig(t, ca, n1),
			client:   clientConfig(t, ca, n2, "n1", n1PinColons),
			wantOK:   true,
			wantPeer: Identity{"n2", RoleNode},
		},
		{
			name:       "client certificate from another CA",
			server:     serverConfig(t, ca, n1),
			client:     present(clientConfig(t, ca, backend, "n1", ""), backendForeign),
			wantServer: "certificate signed by unknown authority",
		},
		{
			name:       "server certificate from another CA",
			server:     serverConfig(t, other, n1Foreign),
			client:     clientConfig(t, ca, n2, "n1", ""),
			wantClient: "certificate signed by unknown authority",
		},
		{
			name:       "no client certificate",
			server:     serverConfig(t, ca, n1),
			client:     noCert(clientConfig(t, ca, backend, "n1", "")),
			wantServer: "didn't provide a certificate",
		},
		{
			name:       "TLS 1.2 client",
			server:     serverConfig(t, ca, n1),
			client:     tls12(clientConfig(t, ca, n2, "n1", "")),
			wantServer: "unsupported versions",
		},
		{
			name:       "server is another node",
			server:     serverConfig(t, ca, n2),
			client:     clientConfig(t, ca, backend, "n1", ""),
			wantClient: "valid for n2, not n1",
		},
		{
			name:         "server is another node that claims the name",
			server:       serverConfig(t, ca, n2AsN1),
			client:       clientConfig(t, ca, backend, "n1", ""),
			wantClientIs: ErrWrongPeer,
		},
		{
			name:         "pin mismatch",
			server:       serverConfig(t, ca, n1),
			client:       clientConfig(t, ca, n2, "n1", otherPin),
			wantClientIs: ErrPinMismatch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := handshake(t, tt.server, tt.client)
			if !tt.wantOK {
				t.Logf("server error: %v; client error: %v", r.serverErr, r.clientErr)
				if r.clientErr == nil {
					t.Fatalf("client accepted the connection (server error: %v)", r.serverErr)
				}
				if r.serverErr == nil && tt.wantClientIs == nil {
					t.Errorf("server accepted the connection (client error: %v)", r.clientErr)
				}
				if tt.wantServer != "" && (r.serverErr == nil || !strings.Contains(r.serverErr.Error(), tt.wantServer)) {
					t.Errorf("server error = %v, want %q", r.serverErr, tt.wantServer)
				}
				if tt.wantClient != "" && !strings.Contains(r.clientErr.Error(), tt.wantClient) {
					t.Errorf("client error = %v, want %q", r.clientErr, tt.wantClient)
				}
				if tt.wantClientIs != nil && !errors.Is(r.clientErr, tt.wantClientIs) {
					t.Errorf("client error = %v, want %v", r.clientErr, tt.wantClientIs)
				}
				return
			}
			if r.serverErr != nil || r.clientErr != nil {
				t.Fatalf("server error %v, client error %v", r.serverErr, r.clientErr)
			}
			if v := r.clientState.Version; v != tls.VersionTLS13 {
				t.Errorf("version %x, want TLS 1.3", v)
			}
			got, err := PeerIdentity(r.serverState)
			if err != nil || got != tt.wantPeer {
				t.Errorf("server sees %v, %v; want %v", got, err, tt.wantPeer)
			}
			got, err = PeerIdentity(r.clientState)
			if err != nil || got != (Identity{"n1", RoleNode}) {
				t.Errorf("client sees %v, %v; want node/n1", got, err)
			}
		})
	}
}

// TestHandshakeClientWithoutIdentity uses a client certificate that the
// cluster CA signed but that carries no valid identity.
func TestHandshakeClientWithoutIdentity(t *testing.T) {
	ca := newTLSCA(t, "cluster-a")
	n1 := issue(t, ca, Identity{"n1", RoleNode})
	bad := issue(t, ca, Identity{"x", RoleBackend})
	// Swap the backend's certificate for one with two roles, same key.
	badCert := signRawFor(t, ca, bad.keyPEM, []string{"backend", "officer"})
	server := serverConfig(t, ca, n1)
	client := clientConfig(t, ca, bad, "n1", "").Clone()
	client.Certificates = []tls.Certificate{{
		Certificate: [][]byte{badCert.Raw},
		PrivateKey:  client.Certificates[0].PrivateKey,
		Leaf:        badCert,
	}}

	r := handshake(t, server, client)
	if !errors.Is(r.serverErr, ErrNoIdentity) {
		t.Fatalf("server error = %v, want ErrNoIdentity", r.serverErr)
	}
	if r.clientErr == nil {
		t.Fatal("client was not refused")
	}
}

// signRawFor signs a client certificate for the key in keyPEM with the given
// organizational units, which Issue would refuse.
func signRawFor(t *testing.T, ca *CA, keyPEM []byte, ous []string) *x509.Certificate {
	t.Helper()
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return signRawKey(t, ca, key, pkix.Name{CommonName: "x", OrganizationalUnit: ous})
}

func TestServerTLSRejects(t *testing.T) {
	ca := newTLSCA(t, "cluster-a")
	other := newTLSCA(t, "cluster-b")
	n1 := issue(t, ca, Identity{"n1", RoleNode})
	backend := issue(t, ca, Identity{"exchange", RoleBackend})
	leafAsCA := n1.certPEM
	tests := []struct {
		name                   string
		caPEM, certPEM, keyPEM []byte
		want                   error
	}{
		{"backend cannot serve", ca.CertPEM(), backend.certPEM, backend.keyPEM, ErrInvalidCert},
		{"key of another party", ca.CertPEM(), n1.certPEM, backend.keyPEM, ErrInvalidKey},
		{"two CA certificates", append(ca.CertPEM(), other.CertPEM()...), n1.certPEM, n1.keyPEM, ErrInvalidPEM},
		{"leaf as CA", leafAsCA, n1.certPEM, n1.keyPEM, ErrInvalidCert},
		{"no CA", nil, n1.certPEM, n1.keyPEM, ErrInvalidPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ServerTLS(tt.caPEM, tt.certPEM, tt.keyPEM); !errors.Is(err, tt.want) {
				t.Fatalf("ServerTLS error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClientTLSRejects(t *testing.T) {
	ca := newTLSCA(t, "cluster-a")
	backend := issue(t, ca, Identity{"exchange", RoleBackend})
	for _, tt := range []struct{ name, serverName, pin string }{
		{"bad server name", "N1", ""},
		{"empty server name", "", ""},
		{"IP as server name", "127.0.0.1", ""},
		{"short pin", "n1", "abcd"},
		{"non-hex pin", "n1", strings.Repeat("zz", 32)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ClientTLS(ca.CertPEM(), backend.certPEM, backend.keyPEM, tt.serverName, tt.pin); err == nil {
				t.Fatal("ClientTLS accepted it")
			}
		})
	}
	cfg := clientConfig(t, ca, backend, "n1", "")
	if cfg.MinVersion != tls.VersionTLS13 || cfg.ServerName != "n1" || cfg.InsecureSkipVerify {
		t.Fatalf("config: min version %x, server name %q, insecure %t", cfg.MinVersion, cfg.ServerName, cfg.InsecureSkipVerify)
	}
}

func TestVerifyPeerUnverified(t *testing.T) {
	ca := newTLSCA(t, "cluster-a")
	n1 := issue(t, ca, Identity{"n1", RoleNode})
	cert, err := ParseCertificatePEM(n1.certPEM)
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	if err := VerifyPeer(cs, Identity{"n1", RoleNode}, ""); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("VerifyPeer on an unverified chain = %v, want ErrNoIdentity", err)
	}
}

func splitPairs(s string) []string {
	var out []string
	for i := 0; i+2 <= len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}
