package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// CA is a cluster's certificate authority: its certificate and private key.
// It redacts itself when printed or logged and refuses to be marshalled;
// write its key with [CA.KeyPEM].
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// NewCA creates a CA named name (see [CheckName]) with a new P-256 key,
// valid for ten years from now. It signs end-entity certificates only.
func NewCA(name string, now time.Time) (*CA, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: certToPEM(der), key: key}, nil
}

// LoadCA loads a CA from its certificate and key, as written by
// [CA.CertPEM] and [CA.KeyPEM]. The certificate must be a self-signed CA
// certificate for an ECDSA P-256 key, and the key must match it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %q is not a CA certificate", ErrInvalidCert, cert.Subject.CommonName)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("%w: CA certificate is not self-signed: %w", ErrInvalidCert, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: key does not match the CA certificate", ErrInvalidKey)
	}
	return &CA{cert: cert, certPEM: certToPEM(cert.Raw), key: key}, nil
}

// Certificate returns the CA's certificate. The caller must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA's certificate in PEM, for every party's trust
// configuration.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// KeyPEM returns the CA's private key in PEM. Keep it offline.
func (ca *CA) KeyPEM() ([]byte, error) { return marshalKeyPEM(ca.key) }

// Issue creates a key and a certificate for id, valid from now for two
// years or until the CA expires, whichever comes first.
//
// For a node, hosts lists the IP addresses and DNS names it is reached at;
// its name is always added as a DNS name. Other roles take no hosts.
func (ca *CA) Issue(id Identity, hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := id.Validate(); err != nil {
		return nil, nil, err
	}
	if now.Before(ca.cert.NotBefore) || !now.Before(ca.cert.NotAfter) {
		return nil, nil, fmt.Errorf("%w: CA %q is not valid at %s (valid %s to %s)", ErrInvalidCert,
			ca.cert.Subject.CommonName, now.UTC().Format(time.RFC3339),
			ca.cert.NotBefore.UTC().Format(time.RFC3339), ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         id.Name,
			OrganizationalUnit: []string{string(id.Role)},
		},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              now.Add(CertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	if id.Role == RoleNode {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames, tmpl.IPAddresses, err = parseHosts(id.Name, hosts)
		if err != nil {
			return nil, nil, err
		}
	} else {
		if len(hosts) != 0 {
			return nil, nil, fmt.Errorf("%w: a %s certificate takes no hosts", ErrInvalidHosts, id.Role)
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue certificate for %s: %w", id, err)
	}
	keyPEM, err = marshalKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return certToPEM(der), keyPEM, nil
}

// parseHosts splits a node's hosts into DNS names, starting with the node's
// name, and IP addresses, without duplicates.
func parseHosts(name string, hosts []string) (dnsNames []string, ips []net.IP, err error) {
	if len(hosts) > maxHosts {
		return nil, nil, fmt.Errorf("%w: %d hosts, at most %d", ErrInvalidHosts, len(hosts), maxHosts)
	}
	dnsNames = []string{name}
	seenIP := map[string]bool{}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if ip4 := ip.To4(); ip4 != nil {
				ip = ip4
			}
			if !seenIP[string(ip)] {
				seenIP[string(ip)] = true
				ips = append(ips, ip)
			}
			continue
		}
		h = strings.ToLower(h)
		if err := checkDNSName(h); err != nil {
			return nil, nil, err
		}
		if !slices.Contains(dnsNames, h) {
			dnsNames = append(dnsNames, h)
		}
	}
	return dnsNames, ips, nil
}

// checkDNSName accepts a host name of dot-separated labels of letters,
// digits, '-' and '_', none empty and none starting or ending with '-'.
func checkDNSName(h string) error {
	if len(h) == 0 || len(h) > maxHostLen {
		return fmt.Errorf("%w: host %q: length %d, want 1 to %d", ErrInvalidHosts, h, len(h), maxHostLen)
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: host %q is not a DNS name or an IP address", ErrInvalidHosts, h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: host %q is not a DNS name or an IP address", ErrInvalidHosts, h)
			}
		}
	}
	return nil
}

// newSerial returns a random positive serial number of at most 128 bits.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("pki: serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func certToPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// String names the CA and redacts its key.
func (ca CA) String() string {
	if ca.cert == nil {
		return "pki.CA{}"
	}
	return fmt.Sprintf("pki.CA{%q, key: REDACTED}", ca.cert.Subject.CommonName)
}

// GoString names the CA and redacts its key.
func (ca CA) GoString() string { return ca.String() }

// LogValue names the CA in slog output and redacts its key.
func (ca CA) LogValue() slog.Value {
	if ca.cert == nil {
		return slog.StringValue("REDACTED")
	}
	return slog.GroupValue(
		slog.String("name", ca.cert.Subject.CommonName),
		slog.String("fingerprint", Fingerprint(ca.cert)),
	)
}

// MarshalJSON refuses: a CA's key is never serialized this way.
func (CA) MarshalJSON() ([]byte, error) { return nil, errRefuseMarshal }

// MarshalText refuses: a CA's key is never serialized this way.
func (CA) MarshalText() ([]byte, error) { return nil, errRefuseMarshal }
