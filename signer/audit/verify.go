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
// Finish. The first error is final: later calls return it again. [Stream]
// does the same with the signature checks spread over several goroutines.
type Verifier struct {
	pub   crypto.PublicKey
	chain hashChain
	err   error // the first error
}

// hashChain is the state of a verification that is checked in log order: the
// last accepted record's head and time.
type hashChain struct {
	pub     crypto.PublicKey
	started bool  // a record was accepted
	head    Head  // the last accepted record
	time    int64 // its time, in Unix nanoseconds
}

// NewVerifier returns a Verifier of a log signed by pub, an ECDSA P-256 or
// Ed25519 public key.
func NewVerifier(pub crypto.PublicKey) *Verifier {
	return &Verifier{pub: pub, chain: hashChain{pub: pub}}
}

// Add checks the record stored under key, which must be the next key, in
// the order the package documentation gives. It does not retain value.
func (v *Verifier) Add(key uint64, value []byte) error {
	if v.err != nil {
		return v.err
	}
	saved := v.chain
	r, hash, err, post := v.chain.next(key, value)
	if err == nil {
		err = checkSignature(v.pub, r, hash)
	}
	if err == nil {
		err = post
	}
	if err != nil {
		v.chain = saved // the head stays at the last good record
		v.err = err
		return err
	}
	return nil
}

func bad(seq uint64, sentinel error, format string, args ...any) error {
	return &VerifyError{Seq: seq, Problem: fmt.Sprintf(format, args...), Err: sentinel}
}

// checkSignature is step 6: the record's signature over its hash.
func checkSignature(pub crypto.PublicKey, r *Record, hash [32]byte) error {
	if p := verify(pub, hash, r.Sig); p != "" {
		return bad(r.Seq, ErrBadSignature, "signature %s", p)
	}
	return nil
}

// next runs every check of the record stored under key but the signature
// (step 6): err is the first failure of steps 1 to 5, which come before
// the signature, and post the first failure of steps 7 and 8, which count
// only if the signature verifies. Unless err is set, the chain advances to
// the record as though its signature verified: a caller that finds it bad
// stops there.
func (c *hashChain) next(key uint64, value []byte) (r *Record, hash [32]byte, err, post error) {
	last := c.head.Seq
	switch {
	case !c.started && key != 0:
		return nil, hash, bad(0, ErrNoGenesis, "log starts at record %d", key), nil
	case c.started && key == last:
		return nil, hash, bad(key, ErrOrder, "storage key %d repeated", key), nil
	case c.started && key < last:
		return nil, hash, bad(key, ErrOrder, "storage key %d after key %d", key, last), nil
	case c.started && key > last+1:
		return nil, hash, bad(last+1, ErrGap, "next stored record is %d", key), nil
	}

	r, signed, problem := decode(value)
	if problem != "" {
		return nil, hash, bad(key, ErrMalformed, "%s", problem), nil
	}
	if r.Seq != key {
		return nil, hash, bad(key, ErrOrder, "storage key %d holds record %d", key, r.Seq), nil
	}
	if key == 0 && r.Kind != KindGenesis {
		return nil, hash, bad(0, ErrNoGenesis, "record 0 is %q, not %q", r.Kind, KindGenesis), nil
	}
	if key != 0 && r.Kind == KindGenesis {
		return nil, hash, bad(key, ErrMalformed, "%s after record 0", KindGenesis), nil
	}
	if r.Prev != c.head.Hash {
		if key == 0 {
			return nil, hash, bad(0, ErrChainBroken, "prev of record 0 is not zero"), nil
		}
		return nil, hash, bad(key, ErrChainBroken, "prev does not match record %d", last), nil
	}
	hash = hashSigned(signed)
	t := r.Time.UnixNano()
	switch {
	case c.started && t < c.time:
		post = bad(key, ErrTimeTravel, "time %s is before record %d's %s",
			r.Time.Format(time.RFC3339Nano), last, time.Unix(0, c.time).UTC().Format(time.RFC3339Nano))
	case key == 0:
		if p, wrongKey := genesisProblem(r.Body, c.pub); p != "" {
			if wrongKey {
				post = bad(0, ErrBadSignature, "%s", p)
			} else {
				post = bad(0, ErrMalformed, "%s", p)
			}
		}
	}
	c.started = true
	c.head = Head{Seq: key, Hash: hash}
	c.time = t
	return r, hash, nil, post
}

// Head returns the head of the last record accepted so far, and false if
// there is none.
func (v *Verifier) Head() (Head, bool) {
	return v.chain.head, v.chain.started
}

// Finish ends verification and returns the log's head: the seq and hash of
// its last record. An empty log is ErrNoGenesis.
func (v *Verifier) Finish() (Head, error) {
	if v.err != nil {
		return Head{}, v.err
	}
	if !v.chain.started {
		return Head{}, &VerifyError{Seq: 0, Problem: "empty log", Err: ErrNoGenesis}
	}
	return v.chain.head, nil
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
