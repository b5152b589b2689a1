package ethereum

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/countersign/countersign/policy/chain"
)

// RLP is one item of Ethereum's Recursive Length Prefix encoding (the
// yellow paper's appendix B): a byte string, or, when IsList is set, a
// list of items.
//
// [DecodeRLP] reads only the canonical encoding, the one [RLP.Append]
// writes, so whatever decodes re-encodes to the very same bytes.
type RLP struct {
	IsList bool
	// Bytes is a string's bytes (nil for a list). Decoded strings alias
	// the input.
	Bytes []byte
	// List is a list's items (nil for a string).
	List []RLP
}

// Errors of the RLP decoder, always wrapped with detail; test for them
// with [errors.Is].
var (
	// ErrRLPMalformed reports bytes that are not RLP: truncated items,
	// lengths beyond the input, bytes after the item, nesting deeper than
	// [MaxRLPDepth] or more than [MaxRLPItems] items.
	ErrRLPMalformed = errors.New("ethereum: malformed RLP")
	// ErrRLPNonCanonical reports RLP that decodes but is not the one
	// encoding of its value: a byte below 0x80 written as a string of
	// length 1, a long-form length that fits the short form, a length with
	// leading zero bytes, an integer with leading zero bytes.
	ErrRLPNonCanonical = errors.New("ethereum: non-canonical RLP")
	// ErrIntRange reports an integer of more than [MaxIntBytes] bytes.
	ErrIntRange = errors.New("ethereum: integer over 256 bits")
)

// RLPBytes returns the string item b.
func RLPBytes(b []byte) RLP {
	if b == nil {
		b = []byte{}
	}
	return RLP{Bytes: b}
}

// RLPList returns the list item of items.
func RLPList(items ...RLP) RLP {
	if items == nil {
		items = []RLP{}
	}
	return RLP{IsList: true, List: items}
}

// RLPUint returns the integer u as an RLP string: its big-endian bytes
// without leading zeros, the empty string for 0.
func RLPUint(u uint64) RLP {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], u)
	return RLPBytes(bytes.Clone(b[8-uintLen(u):]))
}

// RLPAmount returns the integer a as an RLP string, as [RLPUint] does.
func RLPAmount(a chain.Amount) RLP { return RLPBytes(a.Big().Bytes()) }

// Encode returns the canonical encoding of v.
func (v RLP) Encode() []byte { return v.Append(make([]byte, 0, v.size())) }

// Append appends the canonical encoding of v to dst.
func (v RLP) Append(dst []byte) []byte {
	if !v.IsList {
		if len(v.Bytes) == 1 && v.Bytes[0] < 0x80 {
			return append(dst, v.Bytes[0])
		}
		dst = appendRLPHeader(dst, 0x80, len(v.Bytes))
		return append(dst, v.Bytes...)
	}
	dst = appendRLPHeader(dst, 0xc0, v.payloadSize())
	for _, item := range v.List {
		dst = item.Append(dst)
	}
	return dst
}

// size returns the length of v's encoding.
func (v RLP) size() int {
	if !v.IsList && len(v.Bytes) == 1 && v.Bytes[0] < 0x80 {
		return 1
	}
	n := v.payloadSize()
	return rlpHeaderSize(n) + n
}

// payloadSize returns the length of v's encoding less its header.
func (v RLP) payloadSize() int {
	if !v.IsList {
		return len(v.Bytes)
	}
	n := 0
	for _, item := range v.List {
		n += item.size()
	}
	return n
}

func rlpHeaderSize(n int) int {
	if n < 56 {
		return 1
	}
	return 1 + uintLen(uint64(n))
}

// appendRLPHeader appends the header of a string (base 0x80) or list
// (base 0xc0) whose payload is n bytes long.
func appendRLPHeader(dst []byte, base byte, n int) []byte {
	if n < 56 {
		return append(dst, base+byte(n))
	}
	k := uintLen(uint64(n))
	dst = append(dst, base+55+byte(k))
	for i := k - 1; i >= 0; i-- {
		dst = append(dst, byte(uint64(n)>>(8*i)))
	}
	return dst
}

// uintLen returns the number of bytes of u without leading zeros.
func uintLen(u uint64) int {
	n := 0
	for ; u > 0; u >>= 8 {
		n++
	}
	return n
}

// DecodeRLP decodes b, which must hold exactly one item in canonical
// encoding, at most [MaxRLPSize] bytes long, at most [MaxRLPDepth] lists
// deep and of at most [MaxRLPItems] items. Errors wrap [ErrRLPMalformed] or [ErrRLPNonCanonical]. The
// strings of the result alias b.
func DecodeRLP(b []byte) (RLP, error) {
	if len(b) > MaxRLPSize {
		return RLP{}, fmt.Errorf("%w: %d bytes, at most %d", ErrRLPMalformed, len(b), MaxRLPSize)
	}
	d := rlpDecoder{}
	v, rest, err := d.item(b, 0)
	if err != nil {
		return RLP{}, err
	}
	if len(rest) != 0 {
		return RLP{}, fmt.Errorf("%w: %d bytes after the item", ErrRLPMalformed, len(rest))
	}
	return v, nil
}

type rlpDecoder struct {
	items int
}

// item decodes the item at the start of b, at the nesting depth given,
// and returns it with the bytes after it.
func (d *rlpDecoder) item(b []byte, depth int) (RLP, []byte, error) {
	if len(b) == 0 {
		return RLP{}, nil, fmt.Errorf("%w: the input ends where an item should start", ErrRLPMalformed)
	}
	if d.items++; d.items > MaxRLPItems {
		return RLP{}, nil, fmt.Errorf("%w: more than %d items", ErrRLPMalformed, MaxRLPItems)
	}
	prefix := b[0]
	switch {
	case prefix < 0x80:
		return RLP{Bytes: b[:1:1]}, b[1:], nil
	case prefix <= 0xb7:
		n := int(prefix - 0x80)
		if n > len(b)-1 {
			return RLP{}, nil, fmt.Errorf("%w: a string of %d bytes with %d left", ErrRLPMalformed, n, len(b)-1)
		}
		s := b[1 : 1+n : 1+n]
		if n == 1 && s[0] < 0x80 {
			return RLP{}, nil, fmt.Errorf("%w: byte 0x%02x written as a string of length 1", ErrRLPNonCanonical, s[0])
		}
		return RLP{Bytes: s}, b[1+n:], nil
	case prefix <= 0xbf:
		n, rest, err := longLength(b[1:], int(prefix-0xb7))
		if err != nil {
			return RLP{}, nil, err
		}
		return RLP{Bytes: rest[:n:n]}, rest[n:], nil
	}
	if depth >= MaxRLPDepth {
		return RLP{}, nil, fmt.Errorf("%w: lists nested more than %d deep", ErrRLPMalformed, MaxRLPDepth)
	}
	var payload, rest []byte
	if prefix <= 0xf7 {
		n := int(prefix - 0xc0)
		if n > len(b)-1 {
			return RLP{}, nil, fmt.Errorf("%w: a list of %d bytes with %d left", ErrRLPMalformed, n, len(b)-1)
		}
		payload, rest = b[1:1+n], b[1+n:]
	} else {
		n, after, err := longLength(b[1:], int(prefix-0xf7))
		if err != nil {
			return RLP{}, nil, err
		}
		payload, rest = after[:n], after[n:]
	}
	list := []RLP{}
	for len(payload) > 0 {
		item, more, err := d.item(payload, depth+1)
		if err != nil {
			return RLP{}, nil, err
		}
		list = append(list, item)
		payload = more
	}
	return RLP{IsList: true, List: list}, rest, nil
}

// longLength reads the k-byte big-endian length at the start of b of a
// long-form string or list, and returns it with the bytes after it,
// which hold at least that many bytes.
func longLength(b []byte, k int) (int, []byte, error) {
	if k > len(b) {
		return 0, nil, fmt.Errorf("%w: a %d-byte length with %d bytes left", ErrRLPMalformed, k, len(b))
	}
	if b[0] == 0 {
		return 0, nil, fmt.Errorf("%w: a length with a leading zero byte", ErrRLPNonCanonical)
	}
	var n uint64
	for _, c := range b[:k] {
		n = n<<8 | uint64(c)
	}
	rest := b[k:]
	if n < 56 {
		return 0, nil, fmt.Errorf("%w: length %d in the long form", ErrRLPNonCanonical, n)
	}
	if n > uint64(len(rest)) {
		return 0, nil, fmt.Errorf("%w: an item of %d bytes with %d left", ErrRLPMalformed, n, len(rest))
	}
	return int(n), rest, nil
}

// intBytes returns the big-endian bytes of the integer v: a string of at
// most MaxIntBytes bytes without leading zeros.
func (v RLP) intBytes() ([]byte, error) {
	switch {
	case v.IsList:
		return nil, fmt.Errorf("%w: a list where an integer should be", ErrRLPMalformed)
	case len(v.Bytes) > MaxIntBytes:
		return nil, fmt.Errorf("%w: %d bytes", ErrIntRange, len(v.Bytes))
	case len(v.Bytes) > 0 && v.Bytes[0] == 0:
		return nil, fmt.Errorf("%w: an integer with a leading zero byte", ErrRLPNonCanonical)
	}
	return v.Bytes, nil
}

// amount returns the integer v, as intBytes checks it.
func (v RLP) amount() (chain.Amount, error) {
	b, err := v.intBytes()
	if err != nil {
		return chain.Amount{}, err
	}
	a, _ := chain.AmountFromBig(bigFromBytes(b)) // at most 256 bits
	return a, nil
}

// str returns v's bytes, or an error if v is a list.
func (v RLP) str() ([]byte, error) {
	if v.IsList {
		return nil, fmt.Errorf("%w: a list where a string should be", ErrRLPMalformed)
	}
	return v.Bytes, nil
}

// address returns v as a 20-byte address.
func (v RLP) address() (Address, error) {
	b, err := v.str()
	if err != nil {
		return Address{}, err
	}
	if len(b) != AddressLen {
		return Address{}, fmt.Errorf("%w: a %d-byte string where a %d-byte address should be", ErrRLPMalformed, len(b), AddressLen)
	}
	return Address(b), nil
}
