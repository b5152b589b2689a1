// Package pki issues a cluster's certificates and builds the mutual TLS
// configurations its parts use to talk to each other.
//
// A cluster has one certificate authority ([CA]) whose key is kept offline
// once certificates are issued. Every party gets an ECDSA P-256 key and a
// certificate naming who it is ([Identity]): a signer node, the exchange
// backend, a security officer or an auditor. Nodes serve with [ServerTLS];
// everyone connects with [ClientTLS]. A node's TLS key also signs its audit
// log records ([SignerFromKeyPEM]).
//
// # Guarantees
//
//   - TLS 1.3 only, both sides authenticated, and only certificates issued
//     by the cluster CA accepted: the system roots are never consulted.
//   - The identity of a peer comes from its verified certificate, never from
//     what it says: [PeerIdentity] reads it from a verified chain.
//   - A client reaches the node it meant to: the server's certificate must
//     identify as that node, with the node role, and may be pinned to a
//     SHA-256 fingerprint.
//   - A certificate whose subject does not carry exactly one valid identity
//     is refused by [Identify], and so by every TLS configuration here.
//
// # Certificates
//
// The identity lives in the certificate's subject: CommonName is the name
// and OrganizationalUnit holds exactly one value, the role. Node
// certificates are valid for server and client authentication and always
// carry their name as a DNS name, so a peer verifies a node by its id;
// other roles are valid for client authentication only and carry no names.
// Certificates are valid for two years, the CA for ten, each starting five
// minutes before the time given to allow for clock skew between hosts. Keys
// are written as PKCS #8 "PRIVATE KEY" PEM blocks.
//
// # What it is not
//
// It does not revoke certificates: to remove a party, re-issue the cluster's
// certificates from a new CA, or refuse the party's name in configuration.
// It decides who a peer is, not what the peer may do: each service checks
// the role it requires. It does not protect keys at rest; seal them.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"
)

// Errors of this package, wrapped with detail; test them with errors.Is.
var (
	ErrInvalidName  = errors.New("pki: invalid name")
	ErrUnknownRole  = errors.New("pki: unknown role")
	ErrNoIdentity   = errors.New("pki: certificate carries no valid identity")
	ErrWrongPeer    = errors.New("pki: peer is not the expected party")
	ErrPinMismatch  = errors.New("pki: peer certificate does not match its pin")
	ErrInvalidPEM   = errors.New("pki: invalid PEM")
	ErrInvalidKey   = errors.New("pki: invalid key")
	ErrInvalidCert  = errors.New("pki: invalid certificate")
	ErrInvalidHosts = errors.New("pki: invalid hosts")
)

// Limits and lifetimes of this package.
const (
	// MaxNameLen is the longest name of a party or CA.
	MaxNameLen = 64
	// CAValidity is how long a new CA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// CertValidity is how long an issued certificate is valid, at most: never
	// past its CA's own expiry.
	CertValidity = 2 * 365 * 24 * time.Hour
	// ClockSkew is how far before the given time validity starts.
	ClockSkew = 5 * time.Minute
	// maxHosts bounds the names and addresses in one certificate.
	maxHosts = 32
	// maxHostLen is the longest DNS name accepted as a host.
	maxHostLen = 253
)

// Role is what a party does in the cluster.
type Role string

// Roles, as written in certificates. Never rename one: certificates in use
// carry these strings.
const (
	RoleNode    Role = "node"
	RoleBackend Role = "backend"
	RoleOfficer Role = "officer"
	RoleAuditor Role = "auditor"
)

// Roles lists every known role.
func Roles() []Role {
	return []Role{RoleNode, RoleBackend, RoleOfficer, RoleAuditor}
}

// ParseRole returns the role spelled exactly s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleNode, RoleBackend, RoleOfficer, RoleAuditor:
		return r, nil
	}
	if len(s) > MaxNameLen {
		s = s[:MaxNameLen] + "..."
	}
	return "", fmt.Errorf("%w %q: want one of node, backend, officer, auditor", ErrUnknownRole, s)
}

// Identity is who a party is: its name, unique in the cluster, and its role.
type Identity struct {
	Name string
	Role Role
}

// String returns "role/name".
func (id Identity) String() string { return string(id.Role) + "/" + id.Name }

// Validate reports whether id can be written in a certificate.
func (id Identity) Validate() error {
	if err := CheckName(id.Name); err != nil {
		return err
	}
	_, err := ParseRole(string(id.Role))
	return err
}

// CheckName reports whether name is a valid name for a party or a CA: 1 to
// 64 characters of a-z, 0-9, '.', '_' and '-', starting and ending with a
// letter or digit, and not an IP address (a node's name is also its DNS
// name in TLS).
func CheckName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("%w: length %d, want 1 to %d", ErrInvalidName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w %q: character %d not in [a-z0-9._-]", ErrInvalidName, name, i)
		}
		if !alnum && (i == 0 || i == len(name)-1) {
			return fmt.Errorf("%w %q: must start and end with a letter or digit", ErrInvalidName, name)
		}
	}
	if net.ParseIP(name) != nil {
		return fmt.Errorf("%w %q: must not be an IP address", ErrInvalidName, name)
	}
	return nil
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// Identify returns the identity a certificate carries: its subject must hold
// exactly one CommonName, a valid name, and exactly one OrganizationalUnit,
// a known role. CA certificates identify no one. Identify does not verify
// the certificate: use it on verified chains only.
func Identify(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrNoIdentity)
	}
	if cert.IsCA {
		return Identity{}, fmt.Errorf("%w: a CA certificate", ErrNoIdentity)
	}
	cns := 0
	for _, atv := range cert.Subject.Names {
		if atv.Type.Equal(oidCommonName) {
			cns++
		}
	}
	if cns != 1 {
		return Identity{}, fmt.Errorf("%w: %d common names, want 1", ErrNoIdentity, cns)
	}
	if n := len(cert.Subject.OrganizationalUnit); n != 1 {
		return Identity{}, fmt.Errorf("%w: %d organizational units, want 1", ErrNoIdentity, n)
	}
	role, err := ParseRole(cert.Subject.OrganizationalUnit[0])
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	if err := CheckName(cert.Subject.CommonName); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	return Identity{Name: cert.Subject.CommonName, Role: role}, nil
}

// Fingerprint returns the lowercase hex SHA-256 of the certificate's DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseCertificatePEM parses a PEM text that holds exactly one certificate.
func ParseCertificatePEM(certPEM []byte) (*x509.Certificate, error) {
	block, err := decodeOnePEM(certPEM, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCert, err)
	}
	return cert, nil
}

// SignerFromKeyPEM parses an ECDSA P-256 private key (PKCS #8 "PRIVATE KEY"
// or SEC 1 "EC PRIVATE KEY") for signing. The signer redacts itself when
// printed or logged and refuses to be marshalled; its Public method returns
// an *ecdsa.PublicKey.
func SignerFromKeyPEM(keyPEM []byte) (crypto.Signer, error) {
	k, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return keySigner{k}, nil
}

// decodeOnePEM returns the only block of data, which must be of one of
// types, have no headers, and be followed by nothing but white space.
func decodeOnePEM(data []byte, types ...string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no %s block", ErrInvalidPEM, types[0])
	}
	if !slices.Contains(types, block.Type) {
		return nil, fmt.Errorf("%w: block type %q, want %q", ErrInvalidPEM, block.Type, types[0])
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: unexpected headers in %s block (an encrypted key?)", ErrInvalidPEM, block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the %s block; want exactly one", ErrInvalidPEM, block.Type)
	}
	return block, nil
}

func parseKeyPEM(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, err := decodeOnePEM(keyPEM, "PRIVATE KEY", "EC PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var key any
	if block.Type == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: want an ECDSA P-256 key", ErrInvalidKey)
	}
	return k, nil
}

func marshalKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// keySigner is a private key that does not print, log or marshal itself.
type keySigner struct{ k *ecdsa.PrivateKey }

func (s keySigner) Public() crypto.PublicKey { return &s.k.PublicKey }

func (s keySigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(rand, digest, opts)
}

func (keySigner) String() string               { return "pki.Signer{REDACTED}" }
func (keySigner) GoString() string             { return "pki.Signer{REDACTED}" }
func (keySigner) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (keySigner) MarshalJSON() ([]byte, error) { return nil, errRefuseMarshal }
func (keySigner) MarshalText() ([]byte, error) { return nil, errRefuseMarshal }

var errRefuseMarshal = errors.New("pki: refusing to marshal a private key")
