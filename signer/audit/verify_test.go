package audit

import (
	"crypto"
	"errors"
	"fmt"
	"testing"
	"time"
)

// reencode decodes value, lets edit change the record, and encodes it again
// without signing it again.
func reencode(t *testing.T, value []byte, edit func(*Record)) []byte {
	t.Helper()
	r, err := Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	edit(r)
	return r.Encode()
}

// resign decodes value, lets edit change the record, and signs it with key.
func resign(t *testing.T, value []byte, key crypto.Signer, edit func(*Record)) []byte {
	t.Helper()
	r, err := Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	edit(r)
	if err := r.sign(key); err != nil {
		t.Fatal(err)
	}
	return r.Encode()
}

func without(ps []pair, keys ...uint64) []pair {
	var out []pair
	for _, p := range ps {
		drop := false
		for _, k := range keys {
			drop = drop || p.key == k
		}
		if !drop {
			out = append(out, p)
		}
	}
	return out
}

func TestVerifyTampering(t *testing.T) {
	l := ecdsaLog()
	pub := l.key.Public()
	other := newECDSA()
	last := l.recs[len(l.recs)-1]

	tests := []struct {
		name   string
		tamper func(t *testing.T, ps []pair) []pair
		peer   *Head // a head a peer saw, checked with CheckHead
		seq    uint64
		want   error // nil: the log verifies
		msg    string
	}{
		{
			name:   "intact",
			tamper: func(t *testing.T, ps []pair) []pair { return ps },
		},
		{
			name:   "intact, head a peer saw",
			tamper: func(t *testing.T, ps []pair) []pair { return ps },
			peer:   &Head{Seq: 950, Hash: l.recs[950].Hash()},
		},
		{
			name: "edited body",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = reencode(t, ps[500].value, func(r *Record) { r.Body[len(r.Body)/2] ^= 1 })
				return ps
			},
			seq: 500, want: ErrBadSignature,
		},
		{
			name: "edited kind",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = reencode(t, ps[500].value, func(r *Record) { r.Kind = KindWalletDiscarded })
				return ps
			},
			seq: 500, want: ErrBadSignature,
		},
		{
			name: "edited time",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = reencode(t, ps[500].value, func(r *Record) { r.Time = r.Time.Add(time.Nanosecond) })
				return ps
			},
			seq: 500, want: ErrBadSignature,
		},
		{
			name: "edited time, backwards",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = reencode(t, ps[500].value, func(r *Record) { r.Time = r.Time.Add(-time.Hour) })
				return ps
			},
			seq: 500, want: ErrBadSignature,
		},
		{
			name: "edited prev",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[812].value = reencode(t, ps[812].value, func(r *Record) { r.Prev[0] ^= 1 })
				return ps
			},
			seq: 812, want: ErrChainBroken,
			msg: "audit: record 812: hash chain broken: prev does not match record 811",
		},
		{
			name: "edited signature",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = reencode(t, ps[500].value, func(r *Record) { r.Sig[len(r.Sig)-1] ^= 1 })
				return ps
			},
			seq: 500, want: ErrBadSignature,
		},
		{
			name:   "deleted middle record",
			tamper: func(t *testing.T, ps []pair) []pair { return without(ps, 500) },
			seq:    500, want: ErrGap,
			msg: "audit: record 500: record missing: next stored record is 501",
		},
		{
			name:   "deleted records",
			tamper: func(t *testing.T, ps []pair) []pair { return without(ps, 500, 501, 502) },
			seq:    500, want: ErrGap,
		},
		{
			name:   "deleted first record",
			tamper: func(t *testing.T, ps []pair) []pair { return ps[1:] },
			seq:    0, want: ErrNoGenesis,
		},
		{
			name:   "deleted all records",
			tamper: func(t *testing.T, ps []pair) []pair { return nil },
			seq:    0, want: ErrNoGenesis,
		},
		{
			name: "swapped two records",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[300].value, ps[600].value = ps[600].value, ps[300].value
				return ps
			},
			seq: 300, want: ErrOrder,
			msg: "audit: record 300: record out of order: storage key 300 holds record 600",
		},
		{
			name: "swapped two records, seqs edited to match",
			tamper: func(t *testing.T, ps []pair) []pair {
				a, b := ps[300].value, ps[301].value
				ps[300].value = reencode(t, b, func(r *Record) { r.Seq = 300 })
				ps[301].value = reencode(t, a, func(r *Record) { r.Seq = 301 })
				return ps
			},
			seq: 300, want: ErrChainBroken,
		},
		{
			name: "record re-signed with another key",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = resign(t, ps[500].value, other, func(r *Record) { r.Body = []byte(`{}`) })
				return ps
			},
			seq: 500, want: ErrBadSignature,
		},
		{
			name: "record signed by another key appended",
			tamper: func(t *testing.T, ps []pair) []pair {
				kind, body := testBody(1000)
				r, err := Next(last, kind, body, t0.Add(time.Hour), other)
				if err != nil {
					t.Fatal(err)
				}
				return append(ps, pair{r.Seq, r.Encode()})
			},
			seq: 1000, want: ErrBadSignature,
		},
		{
			name: "record from a fork",
			tamper: func(t *testing.T, ps []pair) []pair {
				alt, err := Next(l.recs[498], KindWalletDiscarded, []byte(`{"wallet_id":"w1","reason":"fork"}`), t0.Add(time.Second), l.key)
				if err != nil {
					t.Fatal(err)
				}
				kind, body := testBody(500)
				fork, err := Next(alt, kind, body, t0.Add(time.Second), l.key)
				if err != nil {
					t.Fatal(err)
				}
				ps[500].value = fork.Encode()
				return ps
			},
			seq: 500, want: ErrChainBroken,
		},
		{
			name: "duplicated record",
			tamper: func(t *testing.T, ps []pair) []pair {
				// Record 500 stored twice; the records after it moved up by one.
				out := append([]pair(nil), ps[:501]...)
				for _, p := range ps[500:] {
					out = append(out, pair{p.key + 1, p.value})
				}
				return out
			},
			seq: 501, want: ErrOrder,
		},
		{
			name: "repeated key",
			tamper: func(t *testing.T, ps []pair) []pair {
				out := append([]pair(nil), ps[:501]...)
				return append(out, ps[500:]...)
			},
			seq: 500, want: ErrOrder,
			msg: "audit: record 500: record out of order: storage key 500 repeated",
		},
		{
			name: "keys going backwards",
			tamper: func(t *testing.T, ps []pair) []pair {
				out := append([]pair(nil), ps[:501]...)
				return append(out, ps[200:]...)
			},
			seq: 200, want: ErrOrder,
		},
		{
			name: "signed record going back in time",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = resign(t, ps[500].value, l.key, func(r *Record) { r.Time = l.recs[499].Time.Add(-time.Nanosecond) })
				return ps
			},
			seq: 500, want: ErrTimeTravel,
		},
		{
			name: "signed record with the time of its predecessor",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = resign(t, ps[500].value, l.key, func(r *Record) { r.Time = l.recs[499].Time })
				return ps[:501]
			},
		},
		{
			name: "signed record 0 that is not genesis",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[0].value = resign(t, ps[1].value, l.key, func(r *Record) { r.Seq, r.Prev = 0, [32]byte{} })
				return ps
			},
			seq: 0, want: ErrNoGenesis,
		},
		{
			name: "signed second genesis",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = resign(t, ps[500].value, l.key, func(r *Record) { r.Kind, r.Body = KindGenesis, l.recs[0].Body })
				return ps
			},
			seq: 500, want: ErrMalformed,
		},
		{
			name: "genesis naming another key",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[0].value = resign(t, ps[0].value, l.key, func(r *Record) { r.Body = genesisBody(t, other) })
				ps[1].value = resign(t, ps[1].value, l.key, func(r *Record) { r.Prev = hashOf(t, ps[0].value) })
				return ps[:2]
			},
			seq: 0, want: ErrBadSignature,
		},
		{
			name: "genesis without a certificate",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[0].value = resign(t, ps[0].value, l.key, func(r *Record) { r.Body = []byte(`{"node_id":"node-a","format":1}`) })
				return ps[:1]
			},
			seq: 0, want: ErrMalformed,
		},
		{
			name: "bytes appended to a record",
			tamper: func(t *testing.T, ps []pair) []pair {
				ps[500].value = append(ps[500].value, 0)
				return ps
			},
			seq: 500, want: ErrMalformed,
		},
		{
			name:   "truncated tail",
			tamper: func(t *testing.T, ps []pair) []pair { return ps[:900] },
			peer:   &Head{Seq: 950, Hash: l.recs[950].Hash()},
			seq:    950, want: ErrTruncated,
			msg: "audit: record 950: log truncated: log ends at record 899, a peer saw record 950",
		},
		{
			name: "tail rewritten with the node's key",
			tamper: func(t *testing.T, ps []pair) []pair {
				prev := l.recs[899]
				for i := 900; i < 1000; i++ {
					r, err := Next(prev, KindWalletDiscarded, []byte(`{}`), prev.Time, l.key)
					if err != nil {
						t.Fatal(err)
					}
					ps[i].value = r.Encode()
					prev = r
				}
				return ps
			},
			peer: &Head{Seq: 950, Hash: l.recs[950].Hash()},
			seq:  950, want: ErrChainBroken,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := tt.tamper(t, l.pairsCopy())
			head, err := verifyPairs(pub, ps, tt.peer)
			for _, workers := range []int{1, 3} {
				sHead, sErr := streamPairs(pub, ps, tt.peer, workers)
				if fmt.Sprint(sErr) != fmt.Sprint(err) || sHead != head {
					t.Fatalf("Stream with %d workers: %v, %v; Verifier: %v, %v", workers, sHead, sErr, head, err)
				}
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if lastPair := ps[len(ps)-1]; head.Seq != lastPair.key || head.Hash != hashOf(t, lastPair.value) {
					t.Fatalf("head %v, want the last record's", head)
				}
				return
			}
			wantVerifyError(t, err, tt.seq, tt.want)
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err, tt.msg)
			}
		})
	}
}

func hashOf(t *testing.T, value []byte) [32]byte {
	t.Helper()
	r, err := Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	return r.Hash()
}

func TestVerifierKeepsFirstError(t *testing.T) {
	l := ecdsaLog()
	v := NewVerifier(l.key.Public())
	for _, p := range l.pairs[:10] {
		if err := v.Add(p.key, p.value); err != nil {
			t.Fatal(err)
		}
	}
	first := v.Add(12, l.pairs[12].value)
	wantVerifyError(t, first, 10, ErrGap)
	if err := v.Add(10, l.pairs[10].value); err != first {
		t.Errorf("Add after an error: %v, want the first error %v", err, first)
	}
	if _, err := v.Finish(); err != first {
		t.Errorf("Finish after an error: %v, want the first error %v", err, first)
	}
}

func TestVerifierKeys(t *testing.T) {
	ed := newEd25519(1)
	l := buildLog(t, ed, 3)
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want error
	}{
		{"Ed25519", ed.Public(), nil},
		{"another Ed25519 key", newEd25519(2).Public(), ErrBadSignature},
		{"ECDSA key", newECDSA().Public(), ErrBadSignature},
		{"no key", nil, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyPairs(tt.pub, l.pairs, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantVerifyError(t, err, 0, tt.want)
		})
	}
}

func TestCheckHead(t *testing.T) {
	h := func(seq uint64, b byte) Head { return Head{Seq: seq, Hash: [32]byte{b}} }
	tests := []struct {
		name      string
		got, want Head
		err       error
	}{
		{"same head", h(7, 1), h(7, 1), nil},
		{"log ends before", h(6, 1), h(7, 1), ErrTruncated},
		{"other hash", h(7, 2), h(7, 1), ErrChainBroken},
		{"compared with a later record", h(8, 1), h(7, 1), ErrOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHead(tt.got, tt.want)
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantVerifyError(t, err, tt.want.Seq, tt.err)
		})
	}
}

func TestVerifyErrorWithoutProblem(t *testing.T) {
	err := error(&VerifyError{Seq: 3, Err: ErrGap})
	if got, want := err.Error(), "audit: record 3: record missing"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, ErrGap) {
		t.Error("does not wrap ErrGap")
	}
}

func BenchmarkVerify(b *testing.B) {
	l := ecdsaLog()
	pub := l.key.Public()
	for b.Loop() {
		v := NewVerifier(pub)
		for _, p := range l.pairs {
			if err := v.Add(p.key, p.value); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := v.Finish(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(l.pairs))/b.Elapsed().Seconds(), "records/s")
}
