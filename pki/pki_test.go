package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t testing.TB, ca *CA, id Identity, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(id, hosts, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func mustParse(t testing.TB, certPEM []byte) *x509.Certificate {
	t.Helper()
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles() {
		got, err := ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Node", "NODE", "node ", " node", "nodes", "admin", "node\x00"} {
		if got, err := ParseRole(s); !errors.Is(err, ErrUnknownRole) || got != "" {
			t.Errorf("ParseRole(%q) = %q, %v; want ErrUnknownRole", s, got, err)
		}
	}
}

func FuzzParseRole(f *testing.F) {
	for _, r := range Roles() {
		f.Add(string(r))
	}
	f.Add("Node")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRole(s)
		if err != nil {
			if r != "" || !errors.Is(err, ErrUnknownRole) {
				t.Fatalf("ParseRole(%q) = %q, %v", s, r, err)
			}
			return
		}
		if string(r) != s || !slices.Contains(Roles(), r) {
			t.Fatalf("ParseRole(%q) = %q, not a known role spelled the same", s, r)
		}
	})
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"n1", true},
		{"node-1.dc2", true},
		{"alice_smith", true},
		{"a", true},
		{"0", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"Node1", false},
		{"node 1", false},
		{"node/1", false},
		{"-n1", false},
		{"n1-", false},
		{".n1", false},
		{"n1.", false},
		{"_n1", false},
		{"10.0.0.1", false},
		{"::1", false},
		{"nœud", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName(tt.name)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckName(%q) = %v, want ok %t", tt.name, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v does not wrap ErrInvalidName", err)
			}
		})
	}
}

func TestNewCA(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	c := ca.Certificate()
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("CA constraints: IsCA %t, valid %t, MaxPathLenZero %t, MaxPathLen %d", c.IsCA, c.BasicConstraintsValid, c.MaxPathLenZero, c.MaxPathLen)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("CA cannot sign certificates")
	}
	if got, want := c.NotAfter.Sub(testNow), CAValidity; got != want {
		t.Errorf("CA valid for %v after now, want %v", got, want)
	}
	if c.Subject.CommonName != "cluster-a" {
		t.Errorf("CA name = %q", c.Subject.CommonName)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want P-256", c.PublicKey)
	}
	if _, err := Identify(c); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("Identify(CA) error = %v, want ErrNoIdentity", err)
	}
	if _, err := NewCA("Bad Name", testNow); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NewCA(bad name) error = %v", err)
	}
}

func TestIssueAndIdentify(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	tests := []struct {
		name     string
		id       Identity
		hosts    []string
		wantDNS  []string
		wantIPs  []string
		wantEKUs []x509.ExtKeyUsage
	}{
		{
			name:     "node",
			id:       Identity{"n1", RoleNode},
			hosts:    []string{"10.0.0.1", "signer-1.example.com", "N1", "::1", "10.0.0.1", "Signer-1.Example.com"},
			wantDNS:  []string{"n1", "signer-1.example.com"},
			wantIPs:  []string{"10.0.0.1", "::1"},
			wantEKUs: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		},
		{
			name:     "node without hosts",
			id:       Identity{"n2", RoleNode},
			wantDNS:  []string{"n2"},
			wantEKUs: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		},
		{name: "backend", id: Identity{"exchange-backend", RoleBackend}, wantEKUs: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{name: "officer", id: Identity{"alice", RoleOfficer}, wantEKUs: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{name: "auditor", id: Identity{"bob.audit", RoleAuditor}, wantEKUs: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	}
	serials := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM := mustIssue(t, ca, tt.id, tt.hosts...)
			cert := mustParse(t, certPEM)

			got, err := Identify(cert)
			if err != nil || got != tt.id {
				t.Fatalf("Identify = %v, %v; want %v", got, err, tt.id)
			}
			if !slices.Equal(cert.DNSNames, tt.wantDNS) {
				t.Errorf("DNS names = %q, want %q", cert.DNSNames, tt.wantDNS)
			}
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.wantIPs) {
				t.Errorf("IP addresses = %q, want %q", ips, tt.wantIPs)
			}
			if !slices.Equal(cert.ExtKeyUsage, tt.wantEKUs) {
				t.Errorf("extended key usage = %v, want %v", cert.ExtKeyUsage, tt.wantEKUs)
			}
			if cert.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage = %v, want digital signature only", cert.KeyUsage)
			}
			if cert.IsCA {
				t.Error("issued certificate is a CA")
			}
			if got := cert.NotAfter.Sub(testNow); got != CertValidity {
				t.Errorf("valid for %v after now, want %v", got, CertValidity)
			}
			if got := testNow.Sub(cert.NotBefore); got != ClockSkew {
				t.Errorf("valid from %v before now, want %v", got, ClockSkew)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v is not a positive 128-bit number", cert.SerialNumber)
			}
			if serials[cert.SerialNumber.String()] {
				t.Error("serial number repeated")
			}
			serials[cert.SerialNumber.String()] = true

			roots := x509.NewCertPool()
			roots.AddCert(ca.Certificate())
			for _, eku := range tt.wantEKUs {
				if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
					t.Errorf("verify for %v: %v", eku, err)
				}
			}
			if tt.id.Role == RoleNode {
				if err := cert.VerifyHostname(tt.id.Name); err != nil {
					t.Errorf("VerifyHostname(%q): %v", tt.id.Name, err)
				}
			}

			kp, id, err := LoadKeyPair(certPEM, keyPEM)
			if err != nil || id != tt.id || kp.Leaf != nil && !kp.Leaf.Equal(cert) {
				t.Fatalf("LoadKeyPair = %v, %v", id, err)
			}
		})
	}
}

func TestIssueRejects(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	tests := []struct {
		name  string
		id    Identity
		hosts []string
		now   time.Time
		want  error
	}{
		{"bad name", Identity{"N1", RoleNode}, nil, testNow, ErrInvalidName},
		{"empty name", Identity{"", RoleNode}, nil, testNow, ErrInvalidName},
		{"unknown role", Identity{"n1", "admin"}, nil, testNow, ErrUnknownRole},
		{"empty role", Identity{"n1", ""}, nil, testNow, ErrUnknownRole},
		{"hosts for a backend", Identity{"b", RoleBackend}, []string{"10.0.0.1"}, testNow, ErrInvalidHosts},
		{"empty host", Identity{"n1", RoleNode}, []string{""}, testNow, ErrInvalidHosts},
		{"host with space", Identity{"n1", RoleNode}, []string{"a b"}, testNow, ErrInvalidHosts},
		{"host with empty label", Identity{"n1", RoleNode}, []string{"a..b"}, testNow, ErrInvalidHosts},
		{"wildcard host", Identity{"n1", RoleNode}, []string{"*.example.com"}, testNow, ErrInvalidHosts},
		{"URL host", Identity{"n1", RoleNode}, []string{"https://n1"}, testNow, ErrInvalidHosts},
		{"too many hosts", Identity{"n1", RoleNode}, slices.Repeat([]string{"h"}, maxHosts+1), testNow, ErrInvalidHosts},
		{"before the CA", Identity{"n1", RoleNode}, nil, testNow.Add(-time.Hour), ErrInvalidCert},
		{"after the CA", Identity{"n1", RoleNode}, nil, testNow.Add(CAValidity), ErrInvalidCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.Issue(tt.id, tt.hosts, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Issue error = %v, want %v", err, tt.want)
			}
			if certPEM != nil || keyPEM != nil {
				t.Fatal("Issue returned a certificate with an error")
			}
		})
	}
}

func TestIssueCappedAtCAExpiry(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	late := testNow.Add(CAValidity - 24*time.Hour)
	certPEM, _, err := ca.Issue(Identity{"n1", RoleNode}, nil, late)
	if err != nil {
		t.Fatal(err)
	}
	if cert := mustParse(t, certPEM); !cert.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Fatalf("certificate expires %v, CA %v", cert.NotAfter, ca.Certificate().NotAfter)
	}
}

// signRaw signs a certificate for an arbitrary subject with ca, to build
// certificates that Issue refuses to make.
func signRaw(t *testing.T, ca *CA, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signRawKey(t, ca, key, subject)
}

func signRawKey(t *testing.T, ca *CA, key *ecdsa.PrivateKey, subject pkix.Name) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      subject,
		NotBefore:    ca.cert.NotBefore,
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"n1"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestIdentifyRejects(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	tests := []struct {
		name    string
		subject pkix.Name
	}{
		{"no OU", pkix.Name{CommonName: "n1"}},
		{"two OUs", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"node", "officer"}}},
		{"same OU twice", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"node", "node"}}},
		{"unknown role", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"admin"}}},
		{"role in wrong case", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{"Node"}}},
		{"empty OU", pkix.Name{CommonName: "n1", OrganizationalUnit: []string{""}}},
		{"no CN", pkix.Name{OrganizationalUnit: []string{"node"}}},
		{"invalid CN", pkix.Name{CommonName: "N 1", OrganizationalUnit: []string{"node"}}},
		{"two CNs", pkix.Name{
			OrganizationalUnit: []string{"node"},
			ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "n1"},
				{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "n2"},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := signRaw(t, ca, tt.subject)
			if id, err := Identify(cert); !errors.Is(err, ErrNoIdentity) {
				t.Fatalf("Identify = %v, %v; want ErrNoIdentity", id, err)
			}
		})
	}
	if _, err := Identify(nil); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Identify(nil) error = %v", err)
	}
}

func TestLoadCA(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	other := newTestCA(t, "cluster-b")
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}

	loaded, err := LoadCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Certificate().Equal(ca.Certificate()) || !bytes.Equal(loaded.CertPEM(), ca.CertPEM()) {
		t.Fatal("loaded CA differs")
	}
	certPEM, _ := mustIssue(t, loaded, Identity{"n1", RoleNode})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	if _, err := mustParse(t, certPEM).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow}); err != nil {
		t.Fatalf("certificate from the loaded CA does not verify: %v", err)
	}

	leafPEM, leafKey := mustIssue(t, ca, Identity{"n1", RoleNode})
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		want            error
	}{
		{"key of another CA", ca.CertPEM(), otherKey, ErrInvalidKey},
		{"leaf certificate", leafPEM, leafKey, ErrInvalidCert},
		{"no certificate", nil, keyPEM, ErrInvalidPEM},
		{"two certificates", append(ca.CertPEM(), other.CertPEM()...), keyPEM, ErrInvalidPEM},
		{"key as certificate", keyPEM, keyPEM, ErrInvalidPEM},
		{"garbage key", ca.CertPEM(), []byte("not a key"), ErrInvalidPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadCA(tt.certPEM, tt.keyPEM); !errors.Is(err, tt.want) {
				t.Fatalf("LoadCA error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	cert := mustParse(t, ca.CertPEM())
	sum := sha256.Sum256(cert.Raw)
	if got, want := Fingerprint(cert), hex.EncodeToString(sum[:]); got != want || len(got) != 64 || strings.ToLower(got) != got {
		t.Fatalf("Fingerprint = %q, want %q", got, want)
	}
}

func TestSignerFromKeyPEM(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	certPEM, keyPEM := mustIssue(t, ca, Identity{"n1", RoleNode})
	cert := mustParse(t, certPEM)
	signer, err := SignerFromKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !signer.Public().(*ecdsa.PublicKey).Equal(cert.PublicKey) {
		t.Fatal("signer's public key is not the certificate's")
	}
	digest := sha256.Sum256([]byte("audit record 1"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("signature does not verify with the certificate's key")
	}

	// SEC 1 keys are accepted too.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(k)
	if _, err := SignerFromKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Errorf("SEC 1 key: %v", err)
	}

	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: p384DER})
	tests := []struct {
		name string
		pem  []byte
		want error
	}{
		{"P-384", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}), ErrInvalidKey},
		{"Ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), ErrInvalidKey},
		{"certificate", certPEM, ErrInvalidPEM},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), ErrInvalidKey},
		{"PEM headers", encrypted, ErrInvalidPEM},
		{"two keys", append(bytes.Clone(keyPEM), keyPEM...), ErrInvalidPEM},
		{"empty", nil, ErrInvalidPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SignerFromKeyPEM(tt.pem); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	ca := newTestCA(t, "cluster-a")
	_, keyPEM := mustIssue(t, ca, Identity{"n1", RoleNode})
	signer, err := SignerFromKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{ca.key.D.String(), ca.key.D.Text(16), signer.(keySigner).k.D.String(), signer.(keySigner).k.D.Text(16)}
	for _, v := range []any{ca, *ca, signer} {
		name := fmt.Sprintf("%T", v)
		var out []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "v", v)
		out = append(out, buf.String())
		for _, o := range out {
			for _, s := range secrets {
				if strings.Contains(o, s) {
					t.Fatalf("%s shows a private key: %s", name, o)
				}
			}
		}
		if !strings.Contains(out[0], "REDACTED") {
			t.Errorf("%s formatted as %q, want REDACTED", name, out[0])
		}
		if b, err := json.Marshal(v); err == nil {
			t.Errorf("json.Marshal(%s) = %s, want an error", name, b)
		}
	}
}

func TestIdentityString(t *testing.T) {
	if got := (Identity{"n1", RoleNode}).String(); got != "node/n1" {
		t.Fatalf("String = %q", got)
	}
}
