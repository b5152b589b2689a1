package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	ed := buildLog(f, newEd25519(1), 4)
	for _, p := range ed.pairs {
		f.Add(p.value)
	}
	f.Add(ecdsaLog().pairs[1].value)
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		enc := r.Encode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("Encode(Decode(b)) != b:\n got %x\nwant %x", enc, b)
		}
		again, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("Decode(Encode(r)) = %+v, %v; want %+v", again, err, r)
		}
		if p := r.check(); p != "" {
			t.Fatalf("decoded a record that Next would refuse: %s", p)
		}
		_, signed, _ := decode(b)
		if hashSigned(signed) != r.Hash() {
			t.Fatal("the hash of the stored bytes differs from Hash()")
		}
	})
}

// pairsOf splits fuzz input into (key, value) pairs: a key byte, a 2-byte
// value length, the value.
func pairsOf(b []byte) []pair {
	var ps []pair
	for len(b) >= 3 {
		key, n := uint64(b[0]), int(binary.BigEndian.Uint16(b[1:3]))
		b = b[3:]
		n = min(n, len(b))
		ps = append(ps, pair{key, b[:n]})
		b = b[n:]
	}
	return ps
}

func joinPairs(ps []pair) []byte {
	var b []byte
	for _, p := range ps {
		b = append(b, byte(p.key))
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.value)))
		b = append(b, p.value...)
	}
	return b
}

func FuzzVerifier(f *testing.F) {
	key := newEd25519(1)
	l := buildLog(f, key, 5)
	f.Add(joinPairs(l.pairs))
	f.Add(joinPairs(l.pairs[1:]))
	f.Add(joinPairs([]pair{l.pairs[0], l.pairs[2], l.pairs[1]}))
	f.Add(joinPairs([]pair{l.pairs[0], l.pairs[1], l.pairs[1]}))
	f.Add([]byte{})
	sentinels := []error{ErrChainBroken, ErrGap, ErrOrder, ErrBadSignature, ErrMalformed, ErrTimeTravel, ErrNoGenesis}
	f.Fuzz(func(t *testing.T, b []byte) {
		ps := pairsOf(b)
		v := NewVerifier(key.Public())
		var first error
		accepted := 0
		for _, p := range ps {
			err := v.Add(p.key, p.value)
			switch {
			case first != nil && err != first:
				t.Fatalf("Add after %v returned %v", first, err)
			case first == nil && err != nil:
				first = err
			case err == nil:
				if p.key != uint64(accepted) {
					t.Fatalf("accepted key %d as record %d", p.key, accepted)
				}
				accepted++
			}
		}
		head, err := v.Finish()
		if first != nil && err != first {
			t.Fatalf("Finish after %v returned %v", first, err)
		}
		if err == nil {
			if accepted == 0 || head.Seq != uint64(accepted-1) {
				t.Fatalf("head %v after %d records", head, accepted)
			}
			return
		}
		var ve *VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("error %v is a %T, want *VerifyError", err, err)
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v wraps %d sentinels, want 1", err, n)
		}
	})
}
