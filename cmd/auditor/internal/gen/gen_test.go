package gen_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
	"github.com/countersign/countersign/cmd/auditor/internal/gen"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/signer/audit"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestGeneratedLogReplays: a generated log passes verify (against its CA)
// and replay (with the wallet keys gen returns) with no finding; every
// withdrawal is re-run and agreed with, and the traffic holds each kind
// of event replay checks. Without the wallet keys, replay says it could
// not re-run the decisions: so the test can fail.
func TestGeneratedLogReplays(t *testing.T) {
	const records = 4000
	path := filepath.Join(t.TempDir(), "gen.db")
	// 4000 records over 10 days: the 24-hour and 7-day windows roll.
	st, err := gen.Write(path, gen.Options{Records: records, Start: start, Days: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []audit.Kind{audit.KindPolicyAccepted, audit.KindWalletCreated, audit.KindWithdrawalReceived, audit.KindWithdrawalDecided,
		audit.KindWithdrawalApproval, audit.KindWithdrawalApproved, audit.KindWithdrawalSigned, audit.KindSessionStarted,
		audit.KindSessionEnded, audit.KindPeerHead, audit.KindCallRefused} {
		if st.Kinds[k] == 0 {
			t.Errorf("no %s record in %v", k, st.Kinds)
		}
	}
	for _, rule := range []string{policy.RuleDestinationNotAllowed, policy.RuleAmountOverCap} {
		if st.Refused[rule] == 0 {
			t.Errorf("no refusal by %s in %v", rule, st.Refused)
		}
	}
	l, err := auditlog.Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CheckCA(st.CAPEM); err != nil {
		t.Fatal(err)
	}
	if res := auditlog.Verify([]*auditlog.Log{l}, nil); !res.OK() || res.Logs[0].Head != st.Head {
		t.Fatalf("verify: %+v %+v", res.Problems, res.Logs[0])
	}
	keys, err := auditlog.ParseWalletKeys(st.WalletsJSON())
	if err != nil {
		t.Fatal(err)
	}
	res := auditlog.Replay(l, keys, 0)
	for _, f := range res.Findings {
		t.Errorf("replay: seq %d %s: %s", f.Seq, f.What, f.Detail)
	}
	if res.Records != records || res.Decided != int(st.Withdrawals) || res.Agreed != res.Decided || res.Bundles != 3 || res.Signed == 0 || res.Approvals == 0 {
		t.Errorf("replay: %d records, %d decided, %d agreed, %d bundles, %d signed, %d approvals; gen: %d withdrawals",
			res.Records, res.Decided, res.Agreed, res.Bundles, res.Signed, res.Approvals, st.Withdrawals)
	}
	if res := auditlog.Replay(l, nil, 0); len(res.Findings) == 0 || res.Findings[0].What != auditlog.ReplayNotReplayed {
		t.Errorf("replay without the wallet keys: %+v", res.Findings)
	}
}

// TestSameSeedSameTraffic: the seed fixes the traffic and the wallet.
func TestSameSeedSameTraffic(t *testing.T) {
	dir := t.TempDir()
	var stats []*gen.Stats
	for _, name := range []string{"a.db", "b.db"} {
		st, err := gen.Write(filepath.Join(dir, name), gen.Options{Records: 300, Start: start, Days: 2, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, st)
	}
	if string(stats[0].WalletsJSON()) != string(stats[1].WalletsJSON()) || stats[0].Withdrawals != stats[1].Withdrawals {
		t.Errorf("seed 9 twice: wallets %s and %s, %d and %d withdrawals", stats[0].WalletsJSON(), stats[1].WalletsJSON(),
			stats[0].Withdrawals, stats[1].Withdrawals)
	}
}

// benchRecords is the size of BenchmarkReplay's log: large enough that
// replay, not opening the file, dominates.
const benchRecords = 20_000

// BenchmarkReplay replays a generated log from its bbolt file, as
// 'auditor replay -wallets' does (signature checks of the log included),
// and reports records/s. The 1,000,000-record figure in the README comes
// from 'auditor gen' and 'time auditor replay'.
func BenchmarkReplay(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := gen.Write(path, gen.Options{Records: benchRecords, Start: start, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := auditlog.ParseWalletKeys(st.WalletsJSON())
	if err != nil {
		b.Fatal(err)
	}
	l, err := auditlog.Open(path, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for b.Loop() {
		res := auditlog.Replay(l, keys, 0)
		if len(res.Findings) > 0 || res.Records != benchRecords {
			b.Fatalf("%d records, findings %+v", res.Records, res.Findings)
		}
	}
	b.ReportMetric(float64(b.N*benchRecords)/b.Elapsed().Seconds(), "records/s")
}
