package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
)

// LoadKeyPair parses a party's certificate and key for TLS and returns the
// identity the certificate carries. The key must match the certificate.
func LoadKeyPair(certPEM, keyPEM []byte) (tls.Certificate, Identity, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return tls.Certificate{}, Identity{}, err
	}
	id, err := Identify(cert)
	if err != nil {
		return tls.Certificate{}, Identity{}, err
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return tls.Certificate{}, Identity{}, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return tls.Certificate{}, Identity{}, fmt.Errorf("%w: key does not match the certificate of %s", ErrInvalidKey, id)
	}
	return tls.Certificate{
		Certificate: [][]byte{cert.Raw},
		PrivateKey:  keySigner{key},
		Leaf:        cert,
	}, id, nil
}

// ServerTLS returns the configuration a node serves with: TLS 1.3, its own
// certificate, which must identify a node, and client certificates required
// and verified against the cluster CA in caPEM alone. A client certificate
// that carries no valid identity is refused; read the client's identity
// with [PeerIdentity].
func ServerTLS(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool, err := caPool(caPEM)
	if err != nil {
		return nil, err
	}
	kp, id, err := LoadKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if id.Role != RoleNode {
		return nil, fmt.Errorf("%w: %s cannot serve; only nodes do", ErrInvalidCert, id)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{kp},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := PeerIdentity(cs)
			return err
		},
	}, nil
}

// ClientTLS returns the configuration a party connects to node serverName
// with: TLS 1.3, its own certificate presented, and the server's
// certificate verified against the cluster CA in caPEM alone. The server
// must identify as node serverName (see [VerifyPeer]); if pinSHA256 is not
// empty, its certificate's SHA-256 fingerprint (see [Fingerprint]; colons
// and case are ignored) must equal it too.
func ClientTLS(caPEM, certPEM, keyPEM []byte, serverName, pinSHA256 string) (*tls.Config, error) {
	pool, err := caPool(caPEM)
	if err != nil {
		return nil, err
	}
	kp, _, err := LoadKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	want := Identity{Name: serverName, Role: RoleNode}
	if err := CheckName(serverName); err != nil {
		return nil, fmt.Errorf("pki: server name: %w", err)
	}
	pin, err := normalizePin(pinSHA256)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{kp},
		RootCAs:      pool,
		ServerName:   serverName,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyPeer(cs, want, pin)
		},
	}, nil
}

// PeerIdentity returns the identity of the peer of a connection, from its
// verified certificate chain. It fails if the chain was not verified.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("%w: peer certificate not verified", ErrNoIdentity)
	}
	return Identify(cs.VerifiedChains[0][0])
}

// VerifyPeer checks that the peer of a connection has a verified
// certificate that identifies as want and, if pinSHA256 is not empty, whose
// SHA-256 fingerprint equals it (colons and case are ignored). Use it in
// tls.Config.VerifyConnection.
func VerifyPeer(cs tls.ConnectionState, want Identity, pinSHA256 string) error {
	got, err := PeerIdentity(cs)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: connected to %s, want %s", ErrWrongPeer, got, want)
	}
	if pinSHA256 == "" {
		return nil
	}
	pin, err := normalizePin(pinSHA256)
	if err != nil {
		return err
	}
	if fp := Fingerprint(cs.VerifiedChains[0][0]); fp != pin {
		return fmt.Errorf("%w: %s presented certificate %s, pinned %s", ErrPinMismatch, got, fp, pin)
	}
	return nil
}

// normalizePin returns pin in lowercase hex without colons, or an error if
// it is not a SHA-256 fingerprint. The empty pin stays empty.
func normalizePin(pin string) (string, error) {
	if pin == "" {
		return "", nil
	}
	p := strings.ToLower(strings.ReplaceAll(pin, ":", ""))
	if b, err := hex.DecodeString(p); err != nil || len(b) != 32 {
		return "", fmt.Errorf("pki: pin %q is not a hex SHA-256 fingerprint", pin)
	}
	return p, nil
}

// caPool returns a pool holding only the cluster CA certificate in caPEM.
func caPool(caPEM []byte) (*x509.CertPool, error) {
	ca, err := ParseCertificatePEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: cluster CA: %w", err)
	}
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return nil, fmt.Errorf("%w: %q is not a CA certificate", ErrInvalidCert, ca.Subject.CommonName)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}
