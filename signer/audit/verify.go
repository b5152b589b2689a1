package audit

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of verification, wrapped by *VerifyError. Test with errors.Is.
var (
	// ErrChainBroken: a record's prev is not the hash of the record before
	// it (an earlier record was edited or replaced), or a head differs from
	// the one a peer recorded.
	ErrChainBroken = errors.New("audit: hash chain broken")
	// ErrGap: a seq is missing (a record was deleted).
	ErrGap = errors.New("audit: record missing")
	// ErrOrder: seqs do not increase by one, or a storage key is not the
	// seq of the record stored under it.
	ErrOrder = errors.New("audit: record out of order")
	// ErrBadSignature: a record is not signed by the node's key (signed by
	// another key, or edited after signing).
	ErrBadSignature = errors.New("audit: bad signature")
	// ErrMalformed: a record is not a valid encoding, or breaks a rule of
	// the format.
	ErrMalformed = errors.New("audit: malformed record")
	// ErrTimeTravel: a record's time is earlier than its predecessor's.
	ErrTimeTravel = errors.New("audit: time went backwards")
	// ErrNoGenesis: the log is empty or does not start with a genesis
	// record at seq 0.
	ErrNoGenesis = errors.New("audit: no genesis record")
	// ErrTruncated: the log ends before a record a peer saw.
	ErrTruncated = errors.New("audit: log truncated")
)

// A VerifyError reports the first bad record of a log.
type VerifyError struct {
	Seq     uint64 // the bad record; for ErrGap, the first missing one
	Problem string // what is wrong, for people
	Err     error  // one of the Err sentinels of this package
}

func (e *VerifyError) Error() string {
	what := "invalid"
	if e.Err != nil {
		what = strings.TrimPrefix(e.Err.Error(), "audit: ")
	}
	if e.Problem == "" {
		return fmt.Sprintf("audit: record %d: %s", e.Seq, what)
	}
	return fmt.Sprintf("audit: record %d: %s: %s", e.Seq, what, e.Problem)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// A Verifier checks a stored log record by record, in constant memory. Feed
// it every stored (key, value) pair in key order with Add, then call
// Finish. The first error is final: later calls return it again.
type Verifier struct {
	pub     crypto.PublicKey
	started bool  // a record was accepted
	head    Head  // the last accepted record
	time    int64 // its time, in Unix nanoseconds
	err     error // the first error
}

// NewVerifier returns a Verifier of a log signed by pub, an ECDSA P-256 or
// Ed25519 public key.
func NewVerifier(pub crypto.PublicKey) *Verifier {
	return &Verifier{pub: pub}
}

// Add checks the record stored under key, which must be the next key, in
// the order the package documentation gives. It does not retain value.
func (v *Verifier) Add(key uint64, value []byte) error {
	if v.err != nil {
		return v.err
	}
	if err := v.add(key, value); err != nil {
		v.err = err
		return err
	}
	return nil
}

func (v *Verifier) add(key uint64, value []byte) error {
	bad := func(seq uint64, sentinel error, format string, args ...any) error {
		return &VerifyError{Seq: seq, Problem: fmt.Sprintf(format, args...), Err: sentinel}
	}
	last := v.head.Seq
	switch {
	case !v.started && key != 0:
		return bad(0, ErrNoGenesis, "log starts at record %d", key)
	case v.started && key == last:
		return bad(key, ErrOrder, "storage key %d repeated", key)
	case v.started && key < last:
		return bad(key, ErrOrder, "storage key %d after key %d", key, last)
	case v.started && key > last+1:
		return bad(last+1, ErrGap, "next stored record is %d", key)
	}

	r, signed, problem := decode(value)
	if problem != "" {
		return bad(key, ErrMalformed, "%s", problem)
	}
	if r.Seq != key {
		return bad(key, ErrOrder, "storage key %d holds record %d", key, r.Seq)
	}
	if key == 0 && r.Kind != KindGenesis {
		return bad(0, ErrNoGenesis, "record 0 is %q, not %q", r.Kind, KindGenesis)
	}
	if key != 0 && r.Kind == KindGenesis {
		return bad(key, ErrMalformed, "%s after record 0", KindGenesis)
	}
	if r.Prev != v.head.Hash {
		if key == 0 {
			return bad(0, ErrChainBroken, "prev of record 0 is not zero")
		}
		return bad(key, ErrChainBroken, "prev does not match record %d", last)
	}
	hash := hashSigned(signed)
	if p := verify(v.pub, hash, r.Sig); p != "" {
		return bad(key, ErrBadSignature, "signature %s", p)
	}
	t := r.Time.UnixNano()
	if v.started && t < v.time {
		return bad(key, ErrTimeTravel, "time %s is before record %d's %s",
			r.Time.Format(time.RFC3339Nano), last, time.Unix(0, v.time).UTC().Format(time.RFC3339Nano))
	}
	if key == 0 {
		if p, wrongKey := genesisProblem(r.Body, v.pub); p != "" {
			if wrongKey {
				return bad(0, ErrBadSignature, "%s", p)
			}
			return bad(0, ErrMalformed, "%s", p)
		}
	}
	v.started = true
	v.head = Head{Seq: key, Hash: hash}
	v.time = t
	return nil
}

// Head returns the head of the last record accepted so far, and false if
// there is none.
func (v *Verifier) Head() (Head, bool) {
	return v.head, v.started
}

// Finish ends verification and returns the log's head: the seq and hash of
// its last record. An empty log is ErrNoGenesis.
func (v *Verifier) Finish() (Head, error) {
	if v.err != nil {
		return Head{}, v.err
	}
	if !v.started {
		return Head{}, &VerifyError{Seq: 0, Problem: "empty log", Err: ErrNoGenesis}
	}
	return v.head, nil
}

// CheckHead checks a log against want, a head of it that a peer recorded.
// got is the log's own head at want.Seq: the Head of its record want.Seq,
// or its last head if it ends before that. It returns a *VerifyError
// wrapping ErrTruncated if the log ends before want.Seq, and ErrChainBroken
// if its record want.Seq has another hash.
func CheckHead(got, want Head) error {
	switch {
	case got.Seq < want.Seq:
		return &VerifyError{Seq: want.Seq, Err: ErrTruncated,
			Problem: fmt.Sprintf("log ends at record %d, a peer saw record %d", got.Seq, want.Seq)}
	case got.Seq > want.Seq:
		return &VerifyError{Seq: want.Seq, Err: ErrOrder,
			Problem: fmt.Sprintf("compared with the head of record %d", got.Seq)}
	case got.Hash != want.Hash:
		return &VerifyError{Seq: want.Seq, Err: ErrChainBroken,
			Problem: fmt.Sprintf("hash %x differs from the %x a peer saw", got.Hash, want.Hash)}
	}
	return nil
}
