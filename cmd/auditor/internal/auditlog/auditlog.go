// Package auditlog is how the auditor reads a node's audit log: open a
// node's database (or a copy fetched from a live node) read-only, learn
// whose log it is from its genesis record, and range over its records as
// they are verified, each with its typed body on demand.
//
// Everything the auditor does (verify, cross-check, export, report, and
// later replay) reads logs through [Log.Records], so nothing reads a
// record that has not passed the hash chain and signature checks: a range
// loop sees the verified prefix of a log, then the error of its first bad
// record, and stops.
//
// The key a log is checked with comes from its own genesis record. That
// proves the log was written by the holder of one key, nothing more; that
// the key is a node of the cluster is proved by [Log.CheckCA] against the
// cluster's CA certificate.
package auditlog

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"iter"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
)

// ErrGenesis: a log's first stored record is not a readable genesis
// record, so it names no node and no key to verify it with.
var ErrGenesis = errors.New("auditlog: no readable genesis record")

// ErrNotCluster: a log's genesis certificate is not a node certificate of
// the given cluster CA.
var ErrNotCluster = errors.New("auditlog: genesis certificate not issued by the cluster CA")

// A Log is one node's audit log, opened read-only.
type Log struct {
	// Path is the file it was read from.
	Path string
	// Node is the node id its genesis record names.
	Node string
	// Cert is the node certificate of its genesis record; its key signs
	// the log.
	Cert *x509.Certificate
	// Genesis is the genesis record as stored (not yet verified).
	Genesis *audit.Record

	store   *store.AuditLog
	workers int
}

// Open opens the database at path read-only and reads its genesis record.
// workers is how many goroutines check signatures (0: GOMAXPROCS).
func Open(path string, workers int) (*Log, error) {
	s, err := store.OpenAuditLog(path)
	if err != nil {
		return nil, err
	}
	l, err := open(s, workers)
	if errors.Is(err, store.ErrDamaged) {
		s.Close()
		return nil, err // names the file
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func open(s *store.AuditLog, workers int) (*Log, error) {
	raw, ok, err := s.Record(0)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no record 0", ErrGenesis)
	}
	r, err := audit.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record 0: %v", ErrGenesis, err)
	}
	if r.Kind != audit.KindGenesis {
		return nil, fmt.Errorf("%w: record 0 is %s", ErrGenesis, r.Kind)
	}
	b, err := r.ParseBody()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGenesis, err)
	}
	g := b.(*audit.Genesis)
	cert, err := x509.ParseCertificate(g.CertDER)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrGenesis, err)
	}
	if err := audit.CheckNodeID(g.NodeID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGenesis, err)
	}
	return &Log{Path: s.Path(), Node: g.NodeID, Cert: cert, Genesis: r, store: s, workers: workers}, nil
}

// Close releases the file.
func (l *Log) Close() error { return l.store.Close() }

// PublicKey is the key the log is verified with: its genesis certificate's.
func (l *Log) PublicKey() crypto.PublicKey { return l.Cert.PublicKey }

// CheckCA checks that the genesis certificate is a node certificate issued
// by the CA in caPEM, for the node the genesis record names, valid when
// the log started.
func (l *Log) CheckCA(caPEM []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("auditlog: the CA file holds no PEM certificate")
	}
	_, err := l.Cert.Verify(x509.VerifyOptions{
		Roots: pool, CurrentTime: l.Genesis.Time, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotCluster, l.Node, err)
	}
	id, err := pki.Identify(l.Cert)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotCluster, l.Node, err)
	}
	if id.Role != pki.RoleNode || id.Name != l.Node {
		return fmt.Errorf("%w: the log names node %s, its certificate is %s", ErrNotCluster, l.Node, id)
	}
	return nil
}

// An Entry is a verified record of a node's log.
type Entry struct {
	*audit.Verified
	Node string
}

// Body parses the record's body into its Go type (see audit.ParseBody):
// audit.ErrUnknownKind for a kind this build does not know.
func (e *Entry) Body() (any, error) { return e.ParseBody() }

// Records verifies the log as it reads it and yields its records in order
// (see audit.Stream): every record of the verified prefix with a nil
// error, then, if the log has a bad record, (nil, err) with the
// *audit.VerifyError of the first one. The last entry yielded is the log's
// head.
func (l *Log) Records() iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		for v, err := range audit.Stream(l.PublicKey(), l.store.Records, l.workers) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(&Entry{Verified: v, Node: l.Node}, nil) {
				return
			}
		}
	}
}

// HeadAt returns the head of the stored record seq, hashed from the bytes
// as stored, and false if there is none. It does not verify the record:
// use it for records that Records has verified.
func (l *Log) HeadAt(seq uint64) (audit.Head, bool, error) {
	raw, ok, err := l.store.Record(seq)
	if err != nil || !ok {
		return audit.Head{}, false, err
	}
	r, err := audit.Decode(raw)
	if err != nil {
		return audit.Head{}, false, err
	}
	return r.Head(), true, nil
}
