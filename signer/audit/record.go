package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// Version is the record format version this package writes and reads.
const Version = 1

// Limits of the record format. They change only with a new Version.
const (
	MinKind = 3       // shortest kind, in bytes ("a.b")
	MaxKind = 64      // longest kind, in bytes
	MaxBody = 1 << 20 // largest body, in bytes (1 MiB)
	MaxSig  = 128     // largest signature, in bytes

	// MaxRecord is the largest encoded record, in bytes.
	MaxRecord = headerSize + 4 + MaxKind + 4 + MaxBody + 4 + MaxSig
)

// headerSize is the size of the fixed fields: version, seq, time and prev.
const headerSize = 1 + 8 + 8 + 32

// hashDomain starts the input of every record hash.
const hashDomain = "countersign audit record\x00"

// A Record is one entry of the audit log. Build records with Next, read them
// with Decode; see the package documentation for the format.
type Record struct {
	Seq  uint64    // 0 for genesis, then +1
	Time time.Time // UTC, stored as nanoseconds since the Unix epoch
	Kind Kind
	Body []byte   // canonical body bytes, stored and hashed as they are
	Prev [32]byte // Hash of the previous record; zero for genesis
	Sig  []byte   // signature over Hash by the node's key
}

// A Head names a record of a log by its seq and hash: what peers record of
// each other's logs, and what a verified log ends in.
type Head struct {
	Seq  uint64
	Hash [32]byte
}

func (h Head) String() string {
	return fmt.Sprintf("%d:%s", h.Seq, hex.EncodeToString(h.Hash[:]))
}

// Hash returns the record hash: SHA-256 over a domain prefix and the
// encoding of every field but the signature.
func (r *Record) Hash() [32]byte {
	return hashSigned(r.appendSigned(make([]byte, 0, r.size())))
}

// Head returns the record's seq and hash.
func (r *Record) Head() Head {
	return Head{Seq: r.Seq, Hash: r.Hash()}
}

// Encode returns the record's encoding. It does not check the record: a
// record from Next or Decode encodes to bytes that Decode accepts and
// decodes to an equal record.
func (r *Record) Encode() []byte {
	b := r.appendSigned(make([]byte, 0, r.size()))
	b = appendLen(b, len(r.Sig))
	return append(b, r.Sig...)
}

func (r *Record) size() int {
	return headerSize + 4 + len(r.Kind) + 4 + len(r.Body) + 4 + len(r.Sig)
}

// appendSigned appends the hashed part of the encoding: everything up to
// the end of the body.
func (r *Record) appendSigned(b []byte) []byte {
	b = append(b, Version)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = append(b, r.Prev[:]...)
	b = appendLen(b, len(r.Kind))
	b = append(b, r.Kind...)
	b = appendLen(b, len(r.Body))
	return append(b, r.Body...)
}

func appendLen(b []byte, n int) []byte {
	if uint64(n) > math.MaxUint32 {
		// Unreachable for any record this package builds or decodes; a
		// wrapped length would make the encoding ambiguous.
		panic("audit: field longer than 4 GiB")
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func hashSigned(signed []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(signed)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Decode decodes one encoded record. It is strict: any input that is not
// exactly the encoding of a valid record is an error wrapping ErrMalformed.
// The record does not share memory with b.
func Decode(b []byte) (*Record, error) {
	r, _, problem := decode(b)
	if problem != "" {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, problem)
	}
	return r, nil
}

// decode decodes b and also returns the hashed part of b. On failure it
// returns a description of the problem.
func decode(b []byte) (r *Record, signed []byte, problem string) {
	if len(b) < headerSize {
		return nil, nil, fmt.Sprintf("%d bytes, shorter than a record header", len(b))
	}
	if b[0] != Version {
		return nil, nil, fmt.Sprintf("format version %d, want %d", b[0], Version)
	}
	r = &Record{
		Seq:  binary.BigEndian.Uint64(b[1:9]),
		Time: time.Unix(0, int64(binary.BigEndian.Uint64(b[9:17]))).UTC(),
	}
	copy(r.Prev[:], b[17:49])
	rest := b[headerSize:]

	kind, rest, problem := field(rest, "kind", MinKind, MaxKind)
	if problem != "" {
		return nil, nil, problem
	}
	r.Kind = Kind(kind)
	if !r.Kind.Valid() {
		return nil, nil, fmt.Sprintf("invalid kind %q", kind)
	}
	body, rest, problem := field(rest, "body", 0, MaxBody)
	if problem != "" {
		return nil, nil, problem
	}
	signed = b[:len(b)-len(rest)]
	sig, rest, problem := field(rest, "signature", 1, MaxSig)
	if problem != "" {
		return nil, nil, problem
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Sprintf("%d bytes after the signature", len(rest))
	}
	if len(body) > 0 {
		r.Body = append([]byte(nil), body...)
	}
	r.Sig = append([]byte(nil), sig...)
	return r, signed, ""
}

// field reads a uint32 length and that many bytes.
func field(b []byte, name string, minLen, maxLen int) (value, rest []byte, problem string) {
	if len(b) < 4 {
		return nil, nil, fmt.Sprintf("record ends before the %s length", name)
	}
	n := binary.BigEndian.Uint32(b)
	if n < uint32(minLen) || n > uint32(maxLen) {
		return nil, nil, fmt.Sprintf("%s length %d, want %d to %d", name, n, minLen, maxLen)
	}
	b = b[4:]
	if uint64(len(b)) < uint64(n) {
		return nil, nil, fmt.Sprintf("record ends inside the %s (%d of %d bytes)", name, len(b), n)
	}
	return b[:n], b[n:], ""
}

// check reports what makes r unfit to be signed or encoded, or "".
func (r *Record) check() string {
	switch {
	case !r.Kind.Valid():
		return fmt.Sprintf("invalid kind %q", r.Kind)
	case len(r.Body) > MaxBody:
		return fmt.Sprintf("body of %d bytes, limit %d", len(r.Body), MaxBody)
	case !representable(r.Time):
		return fmt.Sprintf("time %v cannot be stored in nanoseconds since 1970", r.Time)
	}
	return ""
}

// representable reports whether t survives the int64 nanosecond encoding
// (years 1678 to 2262).
func representable(t time.Time) bool {
	return time.Unix(0, t.UnixNano()).Equal(t)
}
