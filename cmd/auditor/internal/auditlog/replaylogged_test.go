package auditlog

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
)

// officersDay is the fixture of a real cluster's officer's day (see
// cmd/auditor/testdata/replay/README.md), with the nodes' test-only keys.
const officersDay = "../../testdata/replay"

// logRecord is one record of a log being rewritten.
type logRecord struct {
	kind audit.Kind
	body []byte
	at   time.Time
}

// fixtureLog returns the genesis record and every later record of a
// node's log in the fixture.
func fixtureLog(t *testing.T, node string) (*audit.Record, []logRecord) {
	t.Helper()
	l, err := store.OpenAuditLog(filepath.Join(officersDay, node+".db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var genesis *audit.Record
	var recs []logRecord
	err = l.Records(func(_ uint64, raw []byte) bool {
		r, err := audit.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if genesis == nil {
			genesis = r
			return true
		}
		recs = append(recs, logRecord{r.Kind, append([]byte(nil), r.Body...), r.Time})
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return genesis, recs
}

// writeSigned writes the log of genesis and recs, chained and signed with
// the node's own key as the node would, and returns its path.
func writeSigned(t *testing.T, node string, genesis *audit.Record, recs []logRecord) string {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(officersDay, node+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.SignerFromKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), node+".db")
	w, err := store.CreateAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	prev := genesis
	if err := w.Put(0, genesis.Encode()); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		next, err := audit.Next(prev, r.kind, r.body, r.at, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Put(next.Seq, next.Encode()); err != nil {
			t.Fatal(err)
		}
		prev = next
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// replayFile verifies and replays the log at path with the fixture's
// wallet keys.
func replayFile(t *testing.T, path string) *ReplayResult {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(officersDay, "wallets.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseWalletKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if res := Verify([]*Log{l}, nil); !res.OK() {
		t.Fatalf("the rewritten log does not verify: %+v", res.Problems)
	}
	return Replay(l, keys, 2)
}

// body re-encodes a record's body, changed by edit.
func body[T any](t *testing.T, r logRecord, edit func(b *T)) []byte {
	t.Helper()
	v, err := audit.ParseBody(r.kind, r.body)
	if err != nil {
		t.Fatal(err)
	}
	b := v.(*T)
	edit(b)
	out, err := audit.Body(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// byHash logs a withdrawal.received as a node logs a refused request: the
// transaction's SHA-256 and size instead of the transaction.
func byHash(b *audit.WithdrawalReceived) {
	tx := b.Tx()
	sum := sha256.Sum256(tx)
	b.UnsignedTx, b.PSBT, b.UnsignedTxSHA256, b.UnsignedTxSize = nil, nil, hex.EncodeToString(sum[:]), len(tx)
}

// receivedOf returns the index in recs of withdrawal id's
// withdrawal.received.
func receivedOf(t *testing.T, recs []logRecord, id string) int {
	t.Helper()
	for i, r := range recs {
		if r.kind == audit.KindWithdrawalReceived && strings.Contains(string(r.body), `"withdrawal_id":"`+id+`"`) {
			return i
		}
	}
	t.Fatalf("no withdrawal.received of %s", id)
	return 0
}

// TestReplayRefusalsByHash: a refusal whose transaction a node logged by
// its hash is checked for all but the re-derivation and counted as such,
// never as a discrepancy; an allowed decision whose transaction was not
// logged is one, and so is a request hash the decision does not share.
func TestReplayRefusalsByHash(t *testing.T) {
	genesis, recs := fixtureLog(t, "node-3")
	base := replayFile(t, writeSigned(t, "node-3", genesis, recs))
	if len(base.Findings) > 0 || base.Decided != 6 || base.Agreed != 6 || base.ByHash != 0 {
		t.Fatalf("the fixture as it is: %+v", base)
	}
	// node-3 refused wd-dmm (the allowlist) and wd-cap (the daily cap)
	refusals := func(edit func(b *audit.WithdrawalReceived)) []logRecord {
		out := append([]logRecord(nil), recs...)
		for _, id := range []string{"wd-dmm", "wd-cap"} {
			i := receivedOf(t, out, id)
			out[i].body = body(t, out[i], func(b *audit.WithdrawalReceived) {
				byHash(b)
				if id == "wd-dmm" && edit != nil {
					edit(b)
				}
			})
		}
		return out
	}

	got := replayFile(t, writeSigned(t, "node-3", genesis, refusals(nil)))
	if len(got.Findings) > 0 || got.Decided != 6 || got.Agreed != 4 || got.ByHash != 2 {
		t.Fatalf("refusals logged by hash: %+v", got)
	}

	tests := []struct {
		name string
		recs func() []logRecord
		seq  uint64 // of the finding
		what string
		says string
	}{
		{"an allowed request logged by hash", func() []logRecord {
			out := refusals(nil)
			i := receivedOf(t, out, "wd-1")
			out[i].body = body(t, out[i], byHash)
			return out
		}, 5, ReplayDecisionMismatch, "holds only the transaction's hash"},
		{"a request hash the decision does not share", func() []logRecord {
			return refusals(func(b *audit.WithdrawalReceived) { b.RequestHash = strings.Repeat("ab", 32) })
		}, 7, ReplayDecisionMismatch, "request_hash: log"},
		{"no transaction hash", func() []logRecord {
			return refusals(func(b *audit.WithdrawalReceived) { b.UnsignedTxSHA256 = "zz" })
		}, 6, ReplayBadBody, "unsigned_tx_sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := replayFile(t, writeSigned(t, "node-3", genesis, tt.recs()))
			if !hasFinding(res, tt.seq, tt.what, tt.says) {
				t.Fatalf("want %s at seq %d saying %q, got %+v", tt.what, tt.seq, tt.says, res.Findings)
			}
		})
	}
}

func hasFinding(res *ReplayResult, seq uint64, what, says string) bool {
	for _, f := range res.Findings {
		if f.Seq == seq && f.What == what && strings.Contains(f.Detail, says) {
			return true
		}
	}
	return false
}

// TestReplayClosedApprovals: an approval a node logged as not counted
// because the withdrawal waited for none (approval.not_needed: its
// decision required none or refused it; approval.not_awaiting: after its
// quorum, signature or end) replays without a finding, unless the log
// shows the withdrawal awaiting approval, or contradicts the rule.
func TestReplayClosedApprovals(t *testing.T) {
	genesis1, recs1 := fixtureLog(t, "node-1")
	genesis3, recs3 := fixtureLog(t, "node-3")
	var template *audit.WithdrawalApproval // carol's rejection of wd-big, as logged
	for _, r := range recs1 {
		if r.kind == audit.KindWithdrawalApproval && strings.Contains(string(r.body), `"officer":"carol"`) {
			v, err := audit.ParseBody(r.kind, r.body)
			if err != nil {
				t.Fatal(err)
			}
			template = v.(*audit.WithdrawalApproval)
		}
	}
	if template == nil {
		t.Fatal("no approval by carol in node-1's log")
	}
	closed := func(id, rule string, counted bool) logRecord {
		a := *template
		a.WithdrawalID, a.Counted, a.Problem, a.From = id, counted, rule+": withdrawal "+id+" waits for no approval", "officer/officer"
		if counted {
			a.Problem = ""
		}
		raw, err := audit.Body(&a)
		if err != nil {
			t.Fatal(err)
		}
		return logRecord{kind: audit.KindWithdrawalApproval, body: raw}
	}
	// insert puts records after the record of kind about withdrawal id.
	insert := func(recs []logRecord, kind audit.Kind, id string, add ...logRecord) ([]logRecord, uint64) {
		for i, r := range recs {
			if r.kind == kind && strings.Contains(string(r.body), `"withdrawal_id":"`+id+`"`) {
				for j := range add {
					add[j].at = r.at
				}
				out := append(append(append([]logRecord(nil), recs[:i+1]...), add...), recs[i+1:]...)
				return out, uint64(i + 2) // the genesis is seq 0
			}
		}
		t.Fatalf("no %s of %s", kind, id)
		return nil, 0
	}

	// node-1 signed wd-1 (no approval needed) and wd-tier (after its quorum)
	ok1, _ := insert(recs1, audit.KindWithdrawalSigned, "wd-1", closed("wd-1", policy.ApprovalNotNeeded, false))
	ok1, _ = insert(ok1, audit.KindWithdrawalSigned, "wd-tier", closed("wd-tier", policy.ApprovalNotAwaiting, false))
	// node-3 refused wd-dmm, and bound wd-tier once approved
	ok3, _ := insert(recs3, audit.KindWithdrawalDecided, "wd-dmm", closed("wd-dmm", policy.ApprovalNotNeeded, false))
	ok3, _ = insert(ok3, audit.KindWithdrawalApproved, "wd-tier", closed("wd-tier", policy.ApprovalNotAwaiting, false))
	for node, log := range map[string]struct {
		genesis *audit.Record
		recs    []logRecord
	}{"node-1": {genesis1, ok1}, "node-3": {genesis3, ok3}} {
		res := replayFile(t, writeSigned(t, node, log.genesis, log.recs))
		if len(res.Findings) > 0 {
			t.Errorf("%s: %+v", node, res.Findings)
		}
	}

	tests := []struct {
		name     string
		add      logRecord
		after    audit.Kind
		id       string
		what     string
		says     string
		node     string
		genesis  *audit.Record
		original []logRecord
	}{
		{name: "not awaiting, but it awaits", original: recs3, node: "node-3", genesis: genesis3, after: audit.KindWithdrawalDecided, id: "wd-after",
			add: closed("wd-after", policy.ApprovalNotAwaiting, false), what: ReplayApprovalMismatch, says: "awaiting approval in this log"},
		{name: "not needed, but required", original: recs3, node: "node-3", genesis: genesis3, after: audit.KindWithdrawalDecided, id: "wd-after",
			add: closed("wd-after", policy.ApprovalNotNeeded, false), what: ReplayApprovalMismatch, says: "requires 2 approvals of group treasury"},
		{name: "not awaiting, but never needed", original: recs3, node: "node-3", genesis: genesis3, after: audit.KindWithdrawalDecided, id: "wd-1",
			add: closed("wd-1", policy.ApprovalNotAwaiting, false), what: ReplayApprovalMismatch, says: "required no approval"},
		{name: "counted after the signature", original: recs1, node: "node-1", genesis: genesis1, after: audit.KindWithdrawalSigned, id: "wd-tier",
			add: closed("wd-tier", policy.ApprovalNotAwaiting, true), what: ReplayOutOfPlace, says: "not awaiting approval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, seq := insert(tt.original, tt.after, tt.id, tt.add)
			res := replayFile(t, writeSigned(t, tt.node, tt.genesis, recs))
			if !hasFinding(res, seq, tt.what, tt.says) {
				t.Fatalf("want %s at seq %d saying %q, got %+v", tt.what, seq, tt.says, res.Findings)
			}
		})
	}
}
