package audit

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy/chain"
)

const goldenLogFile = "testdata/log-v1.golden"

// goldenBodies is one record of every kind this package knows, with fixed
// bodies, in the order of a node's day.
func goldenBodies() []struct {
	kind Kind
	body any
} {
	h := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }
	return []struct {
		kind Kind
		body any
	}{
		{KindWalletCreated, WalletCreated{WalletID: "w-0000000000000001", Label: "hot", PublicKey: "02" + h(1), Threshold: 2,
			Nodes: []string{"node-a", "node-b", "node-c"}, SessionID: h(2), ChainCodeHash: h(3)}},
		{KindCallRefused, CallRefused{Caller: "backend", Role: "backend", Method: "/countersign.v1.AuditService/ExportLog", Code: 7, Reason: "role backend may not call it"}},
		{KindWithdrawalReceived, WithdrawalReceived{WithdrawalID: "wd-1", RequestHash: h(4),
			Intent: []byte(`{"v":1,"withdrawal_id":"wd-1","wallet_id":"w-0000000000000001","network":"mainnet","asset":"BTC","destination":"bc1qexample","amount_sat":25000000,"fee_cap_sat":10000}`),
			PSBT:   []byte("psbt\xff\x01"), From: "backend"}},
		{KindWithdrawalDecided, WithdrawalDecided{WithdrawalID: "wd-1", RequestHash: h(4), Allowed: true, PolicyHash: h(5),
			Digests: []string{h(6)}, TxID: h(7), FeeSat: 1200, OutflowSat: 25001200}},
		{KindSessionStarted, SessionStarted{SessionID: h(8), Kind: SessionSigning, WalletID: "w-0000000000000001",
			Committee: []string{"node-a", "node-b"}, Coordinator: "node-a", Purpose: "withdrawal wd-1"}},
		{KindPeerHead, PeerHead{Peer: "node-b", Seq: 41, Hash: h(9), SessionID: h(8)}},
		{KindSessionEnded, SessionEnded{SessionID: h(8), Outcome: "signed", Signatures: []string{h(10) + h(11)}}},
		{KindWithdrawalSigned, WithdrawalSigned{WithdrawalID: "wd-1", SessionID: h(8), TxID: h(7), Signatures: []string{h(10) + h(11)}, SignedTx: "0200"}},
		{KindWithdrawalConflict, WithdrawalConflict{WithdrawalID: "wd-1", BoundHash: h(4), OfferedHash: h(12), From: "backend"}},
		{KindWithdrawalDecided, WithdrawalDecided{WithdrawalID: "wd-2", RequestHash: h(13), Rule: "policy.destination_not_allowed",
			Reason: "bc1qattacker is not on the allowlist", PolicyHash: h(5)}},
		{KindSessionStarted, SessionStarted{SessionID: h(14), Kind: SessionSigning, WalletID: "w-0000000000000001",
			Committee: []string{"node-a", "node-c"}, Coordinator: "node-a", Purpose: "withdrawal wd-3"}},
		{KindSessionAborted, SessionAborted{SessionID: h(14), Reason: "timed out waiting for node-c", Culprits: []string{"node-c"}}},
		{KindWithdrawalFailed, WithdrawalFailed{WithdrawalID: "wd-3", Reason: "signing failed"}},
		{KindWalletDiscarded, WalletDiscarded{WalletID: "w-0000000000000002", Reason: "key generation aborted"}},
		{KindPolicyAccepted, PolicyAccepted{Version: 2, Hash: h(15), Bundle: []byte(`{"format":1,"cluster":"lab","version":2}`),
			Signatures: []PolicySignature{{Officer: "alice", Signature: "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"}},
			SignedBy:   []string{"alice"}, Previous: h(0), From: "officer alice"}},
		{KindPolicyRefused, PolicyRefused{Hash: h(1), Version: 1, Reason: "version 1 is not above the version in force (2): no rollback", From: "officer mallory"}},
		{KindWithdrawalApproval, WithdrawalApproval{WithdrawalID: "wd-4", Officer: "alice", Verdict: "approve",
			Statement: "countersign-approval v1\nverdict approve\n", Signature: "-----BEGIN SSH SIGNATURE-----\n", Counted: true, From: "officer alice"}},
		{KindWithdrawalApproval, WithdrawalApproval{WithdrawalID: "wd-4", Officer: "mallory", Verdict: "approve",
			Statement: "countersign-approval v1\n", Signature: "x", Problem: "approval.not_officer: mallory", From: "officer mallory"}},
		{KindWithdrawalApproved, WithdrawalApproved{WithdrawalID: "wd-4", Approvers: []string{"alice", "bob"}}},
		{KindWithdrawalRejected, WithdrawalRejected{WithdrawalID: "wd-5", Officer: "carol", Reason: "destination owner unverified"}},
		{"future.kind", map[string]int{"written_by": 2}}, // a kind a later version may add
	}
}

// TestGoldenLog is a known-answer log of every kind: genesis, then one
// record of each body type, signed with the golden Ed25519 key. It pins
// the encoding, hashing, signing and the JSON of every body; a change to
// any of them changes this file and needs a new format version (or, for a
// body, a new optional field only).
func TestGoldenLog(t *testing.T) {
	checkGoldenLog(t, goldenLogFile, goldenBodies())
}

// goldenChainFile holds the records the chain seam added: intents of
// version 2 (any chain, amounts as decimal strings), unsigned transactions
// of any chain, and decisions with per-asset amounts, tiers and account
// nonces. Logs of log-v1.golden's form still verify beside them.
const goldenChainFile = "testdata/log-v1-chains.golden"

func goldenChainBodies() []struct {
	kind Kind
	body any
} {
	h := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }
	nonce := uint64(7)
	return []struct {
		kind Kind
		body any
	}{
		{KindWithdrawalReceived, WithdrawalReceived{WithdrawalID: "wd-eth-1", RequestHash: h(4),
			Intent:     []byte(`{"v":2,"withdrawal_id":"wd-eth-1","wallet_id":"w-0000000000000003","chain":"ethereum","network":"sepolia","asset":"USDC","destination":"0x52908400098527886E0F7030069857D2E4169EE7","amount":"2500000","fee_cap":"2100000000000000"}`),
			UnsignedTx: []byte("\x02\xf8\x01"), From: "backend", IntentSignature: "-----BEGIN SSH SIGNATURE-----\n"}},
		{KindWithdrawalDecided, WithdrawalDecided{WithdrawalID: "wd-eth-1", RequestHash: h(4), Allowed: true, PolicyHash: h(5), PolicyVersion: 3,
			Digests: []string{h(6)}, TxID: h(6), Fee: chain.AmountOf(1_500_000_000_000_000), FeeAsset: "ETH",
			Outflow:  chain.Amounts{"USDC": chain.AmountOf(2_500_000), "ETH": chain.AmountOf(1_500_000_000_000_000)},
			SpentDay: chain.Amounts{"USDC": chain.AmountOf(1_000_000)}, SpentWeek: chain.Amounts{"USDC": chain.AmountOf(9_000_000)},
			Approvals: 2, ApprovalGroup: "treasury", TierAsset: "USDC", TierMinAmount: chain.AmountOf(1_000_000),
			NonceAccount: "ethereum:11155111:0x52908400098527886e0f7030069857d2e4169ee7", Nonce: &nonce,
			DecidedAt: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), Originator: "ledger"}},
		{KindWithdrawalDecided, WithdrawalDecided{WithdrawalID: "wd-eth-2", RequestHash: h(7), Rule: "nonce.reused",
			Reason: "nonce 7 is bound to withdrawal wd-eth-1", PolicyHash: h(5), PolicyVersion: 3, TxID: h(8), Digests: []string{h(8)},
			Fee: chain.AmountOf(21_000), FeeAsset: "ETH"}},
		{KindWithdrawalSigned, WithdrawalSigned{WithdrawalID: "wd-eth-1", SessionID: h(9), TxID: h(10), Signatures: []string{h(11) + h(12)}, SignedTx: "02f8"}},
	}
}

func TestGoldenChainLog(t *testing.T) {
	checkGoldenLog(t, goldenChainFile, goldenChainBodies())
}

func checkGoldenLog(t *testing.T, goldenLogFile string, bodies []struct {
	kind Kind
	body any
}) {
	key, golden := goldenLog(t)
	recs := golden[:1]
	prev := recs[0]
	at := time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)
	for i, b := range bodies {
		body, err := Body(b.body)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Next(prev, b.kind, body, at.Add(time.Duration(i)*time.Second), key)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		prev = r
	}
	got := formatGolden(key, recs)
	if *update {
		if err := os.WriteFile(goldenLogFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenLogFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("records differ from %s: the format, hashing, signing or a body's JSON changed.\ngot:\n%s", goldenLogFile, got)
	}

	// The file checks itself: it verifies as a log, and every body parses.
	pub, hashes, records := readGolden(t, want)
	if len(records) != len(bodies)+1 || len(hashes) != len(records) {
		t.Fatalf("%s: %d records and %d hashes", goldenLogFile, len(records), len(hashes))
	}
	src := func(yield func(uint64, []byte) bool) error {
		for i, b := range records {
			if !yield(uint64(i), b) {
				break
			}
		}
		return nil
	}
	n := 0
	for v, err := range Stream(pub, src, 2) {
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v.Hash[:], hashes[n]) {
			t.Errorf("record %d: hash %x, file says %x", n, v.Hash, hashes[n])
		}
		if _, err := v.ParseBody(); err != nil && (v.Kind.Known() || !strings.Contains(err.Error(), "unknown kind")) {
			t.Errorf("record %d (%s): %v", n, v.Kind, err)
		}
		n++
	}
	if n != len(records) {
		t.Fatalf("%d records verified, want %d", n, len(records))
	}
}
