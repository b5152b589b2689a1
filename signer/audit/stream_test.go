package audit

import (
	"crypto"
	"errors"
	"runtime"
	"testing"
	"time"
)

// source returns the pairs as a Pairs.
func source(pairs []pair) Pairs {
	return func(yield func(uint64, []byte) bool) error {
		for _, p := range pairs {
			if !yield(p.key, p.value) {
				return nil
			}
		}
		return nil
	}
}

// streamPairs is verifyPairs with Stream.
func streamPairs(pub crypto.PublicKey, pairs []pair, peer *Head, workers int) (Head, error) {
	var head Head
	var atPeer *Head
	for v, err := range Stream(pub, source(pairs), workers) {
		if err != nil {
			return Head{}, err
		}
		head = v.Head()
		if v.Hash != v.Record.Hash() {
			return Head{}, errors.New("Verified.Hash is not the record's hash")
		}
		if peer != nil && v.Seq == peer.Seq {
			h := head
			atPeer = &h
		}
	}
	if peer != nil {
		got := head
		if atPeer != nil {
			got = *atPeer
		}
		return head, CheckHead(got, *peer)
	}
	return head, nil
}

func TestStreamYieldsEveryRecord(t *testing.T) {
	l := ecdsaLog()
	i := 0
	for v, err := range Stream(l.key.Public(), source(l.pairs), 2) {
		if err != nil {
			t.Fatal(err)
		}
		if v.Seq != uint64(i) || string(v.Body) != string(l.recs[i].Body) {
			t.Fatalf("record %d: got seq %d", i, v.Seq)
		}
		i++
	}
	if i != len(l.recs) {
		t.Fatalf("%d records, want %d", i, len(l.recs))
	}
}

func TestStreamStorageError(t *testing.T) {
	l := ecdsaLog()
	broken := errors.New("disk on fire")
	src := func(yield func(uint64, []byte) bool) error {
		for _, p := range l.pairs[:700] {
			if !yield(p.key, p.value) {
				return nil
			}
		}
		return broken
	}
	n := 0
	var last error
	for _, err := range Stream(l.key.Public(), src, 2) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if n != 700 || !errors.Is(last, ErrStorage) || !errors.Is(last, broken) {
		t.Fatalf("%d records then %v; want 700 then an ErrStorage wrapping %v", n, last, broken)
	}
}

// TestStreamStopsEarly breaks out of the loop and checks that every
// goroutine the stream started has ended.
func TestStreamStopsEarly(t *testing.T) {
	l := ecdsaLog()
	before := runtime.NumGoroutine()
	for _, stopAt := range []int{0, 1, 300, 999} {
		n := 0
		for _, err := range Stream(l.key.Public(), source(l.pairs), 3) {
			if err != nil {
				t.Fatal(err)
			}
			if n == stopAt {
				break
			}
			n++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		t.Fatalf("%d goroutines after the loops, %d before", got, before)
	}
}

func BenchmarkVerifyStream(b *testing.B) {
	l := ecdsaLog()
	pub := l.key.Public()
	for b.Loop() {
		n := 0
		for _, err := range Stream(pub, source(l.pairs), 0) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != len(l.pairs) {
			b.Fatalf("%d records", n)
		}
	}
	b.ReportMetric(float64(b.N*len(l.pairs))/b.Elapsed().Seconds(), "records/s")
}
