package signer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// What a client can make a node log, and how much of it: every request
// the node accepts fits in an audit record, a refusal is logged by hash,
// refusals are rate-limited per client, and every approval received is
// logged.

// paddedCoin fabricates a transaction paying the wallet's key at path,
// with a second output of a pad-byte script, so that a PSBT spending it
// (which carries the whole previous transaction) grows by one byte for
// each byte of pad.
func paddedCoin(t testing.TB, root bitcoin.Key, path string, amount int64, pad int) []bitcoin.UTXO {
	t.Helper()
	p, err := bitcoin.ParsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	child, err := root.Derive(p)
	if err != nil {
		t.Fatal(err)
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{9}, 0), nil, nil))
	tx.AddTxOut(wire.NewTxOut(amount, bitcoin.P2WPKHScript(child.PublicKey)))
	tx.AddTxOut(wire.NewTxOut(0, append([]byte{0x6a}, bytes.Repeat([]byte{0x55}, pad)...))) // OP_RETURN and filler
	return []bitcoin.UTXO{{PrevTx: tx, Index: 0, Path: p}}
}

// psbtOfSize builds a valid withdrawal of in whose PSBT is exactly size
// bytes long, by padding the previous transaction it carries.
func (c *testCluster) psbtOfSize(t *testing.T, in bitcoin.Intent, size int) []byte {
	t.Helper()
	root, err := c.nodes[c.ids[0]].node.WalletRoot(in.WalletID)
	if err != nil {
		t.Fatal(err)
	}
	pad := 1 << 16 // past the CompactSize steps: from here size grows with pad one for one
	for range 3 {
		raw := c.build(t, in, paddedCoin(t, root, "m/0/9", 20_000_000, pad))
		if len(raw) == size {
			return raw
		}
		pad += size - len(raw)
	}
	t.Fatalf("no PSBT of %d bytes", size)
	return nil
}

// auditCount is how many records a node's log holds.
func auditCount(t *testing.T, n *Node) int {
	t.Helper()
	count := 0
	if err := n.store.ForEachAudit(func(uint64, []byte) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	return count
}

// verifyLog checks a node's whole log with its certificate's key.
func verifyLog(t *testing.T, c *testCluster, id string) {
	t.Helper()
	cert, err := pki.ParseCertificatePEM(mustRead(t, c.nodes[id].cfg.TLS.Cert))
	if err != nil {
		t.Fatal(err)
	}
	v := audit.NewVerifier(cert.PublicKey)
	if err := c.nodes[id].node.store.ForEachAudit(v.Add); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if _, err := v.Finish(); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
}

// TestUnsignedTxLimitFitsTheLog: an unsigned transaction the node accepts
// is one its audit log can hold. A valid PSBT of 821,853 bytes (under the
// chains' 1 MiB) once got Internal ("audit: malformed record: body of
// 1096505 bytes"), since withdrawal.received holds it in base64. Now one
// of maxUnsignedTx bytes is signed, logged in full, and every log
// verifies; one byte more, or the 821,853 bytes, is InvalidArgument naming
// unsigned_tx and the limit, before anything is written.
func TestUnsignedTxLimitFitsTheLog(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 60 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	node := c.nodes["node-1"].node

	for _, size := range []int{821_853, maxUnsignedTx + 1} {
		in := intent(fmt.Sprintf("wd-over-%d", size), wid, allowedDest, 10_000_000)
		raw := c.psbtOfSize(t, in, size)
		before := auditCount(t, node)
		_, err := c.submit("node-1", in, raw)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), fmt.Sprintf("unsigned_tx: %d bytes, want 1 to %d", size, maxUnsignedTx)) {
			t.Fatalf("a PSBT of %d bytes: got %v, want InvalidArgument naming unsigned_tx and the limit", size, err)
		}
		if got := auditCount(t, node); got != before {
			t.Fatalf("a PSBT of %d bytes: the refused request wrote %d records", size, got-before)
		}
	}

	in := intent("wd-at-limit", wid, allowedDest, 10_000_000)
	raw := c.psbtOfSize(t, in, maxUnsignedTx)
	if _, err := c.submit("node-1", in, raw); err != nil {
		t.Fatalf("a PSBT of %d bytes: %v", maxUnsignedTx, err)
	}
	if w := c.await(t, "node-1", "wd-at-limit"); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("at the limit: %v %s", w.Status, w.Reason)
	}
	for _, id := range c.ids {
		got := records[audit.WithdrawalReceived](t, c.nodes[id].node, audit.KindWithdrawalReceived, "wd-at-limit")
		if len(got) != 1 || !bytes.Equal(got[0].Tx(), raw) {
			t.Fatalf("%s: %d withdrawal.received records of wd-at-limit, or not the whole PSBT", id, len(got))
		}
		verifyLog(t, c, id)
	}
}

// TestReceivedBodyAtLimit: a withdrawal.received body with a transaction
// of maxUnsignedTx bytes fits in a record with every other field at its
// largest and escaped at its worst.
func TestReceivedBodyAtLimit(t *testing.T) {
	worst := func(n int) string { return strings.Repeat("<", n) } // \u003c: 6 bytes each
	body := audit.WithdrawalReceived{
		WithdrawalID: strings.Repeat("w", chain.MaxIDLen), RequestHash: strings.Repeat("ab", 32),
		Intent:          json.RawMessage(`"` + worst(chain.MaxIntentSize-2) + `"`),
		From:            worst(pki.MaxNameLen),
		IntentSignature: strings.Repeat("\x01", keys.MaxSignatureSize),
		UnsignedTx:      bytes.Repeat([]byte{0xff}, maxUnsignedTx),
		// never set beside UnsignedTx, but counted
		UnsignedTxSHA256: strings.Repeat("cd", 32), UnsignedTxSize: maxUnsignedTx,
	}
	raw, err := audit.Body(body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the largest withdrawal.received body: %d bytes of %d", len(raw), audit.MaxBody)
	if maxUnsignedTx < 700_000 || maxUnsignedTx > chain.MaxUnsignedTxSize {
		t.Fatalf("maxUnsignedTx is %d", maxUnsignedTx)
	}
}

// records returns the parsed bodies of a node's records of kind that
// concern withdrawal id, and the total size of every record of the log.
func records[T any](t *testing.T, n *Node, kind audit.Kind, id string) []*T {
	t.Helper()
	var out []*T
	err := n.store.ForEachAudit(func(_ uint64, raw []byte) error {
		r, err := audit.Decode(raw)
		if err != nil || r.Kind != kind {
			return err
		}
		var probe struct {
			WithdrawalID string `json:"withdrawal_id"`
		}
		if err := json.Unmarshal(r.Body, &probe); err != nil || probe.WithdrawalID != id {
			return err
		}
		b, err := r.ParseBody()
		if err != nil {
			return err
		}
		out = append(out, b.(*T))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// auditBytes is the size of a node's whole log, record encodings summed.
func auditBytes(t *testing.T, n *Node) int {
	t.Helper()
	size := 0
	if err := n.store.ForEachAudit(func(_ uint64, raw []byte) error { size += len(raw); return nil }); err != nil {
		t.Fatal(err)
	}
	return size
}

// TestRefusalsLoggedByHash: a refused request is logged by the hash and
// size of its unsigned transaction, not the transaction, and the store
// keeps no copy of it either, so that each refused call grows the log by
// a bounded amount (30 refused 760 KB submissions once grew node.db from
// 16 MB to 90 MB). An allowed request is still logged in full.
func TestRefusalsLoggedByHash(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	node := c.nodes["node-2"].node

	garbage := bytes.Repeat([]byte{0x70, 0x73, 0x62, 0x74, 0xff}, 600_000/5) // "psbt\xff"... that is no PSBT
	dmm := intent("wd-dmm", wid, attackerDest, 10_000_000)
	refused := []struct {
		in bitcoin.Intent
		tx []byte
	}{{dmm, c.build(t, dmm, funding(t, root, map[string]int64{"m/0/1": 20_000_000}))}}
	for i := range 5 {
		refused = append(refused, struct {
			in bitcoin.Intent
			tx []byte
		}{intent(fmt.Sprintf("wd-garbage-%d", i), wid, allowedDest, 10_000_000), garbage})
	}
	before := auditBytes(t, node)
	for _, r := range refused {
		_, err := c.submit("node-2", r.in, r.tx)
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("%s: got %v, want a refusal", r.in.WithdrawalID, err)
		}
		got := records[audit.WithdrawalReceived](t, node, audit.KindWithdrawalReceived, r.in.WithdrawalID)
		if len(got) != 1 {
			t.Fatalf("%s: %d withdrawal.received records", r.in.WithdrawalID, len(got))
		}
		rec := got[0]
		sum := sha256.Sum256(r.tx)
		hash := policy.RequestHash(neutral(r.in), r.tx)
		if len(rec.Tx()) != 0 || rec.UnsignedTxSHA256 != hex.EncodeToString(sum[:]) || rec.UnsignedTxSize != len(r.tx) ||
			rec.RequestHash != hex.EncodeToString(hash[:]) || rec.IntentSignature == "" || len(rec.Intent) == 0 {
			t.Fatalf("%s: withdrawal.received holds %d bytes of transaction, sha256 %q, size %d, request hash %s",
				r.in.WithdrawalID, len(rec.Tx()), rec.UnsignedTxSHA256, rec.UnsignedTxSize, rec.RequestHash)
		}
		stored, err := node.store.Withdrawal(r.in.WithdrawalID)
		if err != nil || len(stored.Tx()) != 0 || !bytes.Equal(stored.Hash, hash[:]) {
			t.Fatalf("%s: the store holds %d bytes of transaction (%v)", r.in.WithdrawalID, len(stored.Tx()), err)
		}
		// the same request again is the same refusal, by its hash
		if _, err := c.submit("node-2", r.in, r.tx); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("%s again: %v", r.in.WithdrawalID, err)
		}
	}
	grew, bound := auditBytes(t, node)-before, len(refused)*maxRefusalRecordBytes
	if grew > bound {
		t.Fatalf("%d refusals grew the log by %d bytes, more than %d", len(refused), grew, bound)
	}
	t.Logf("%d refusals of up to %d bytes each grew the log by %d bytes", len(refused), len(garbage), grew)

	in := intent("wd-ok", wid, allowedDest, 10_000_000)
	tx := c.build(t, in, funding(t, root, map[string]int64{"m/0/2": 20_000_000}))
	if _, err := c.submit("node-2", in, tx); err != nil {
		t.Fatal(err)
	}
	if got := records[audit.WithdrawalReceived](t, node, audit.KindWithdrawalReceived, "wd-ok"); len(got) != 1 || !bytes.Equal(got[0].Tx(), tx) {
		t.Fatalf("an allowed request is not logged in full: %d records", len(got))
	}
	if w := c.await(t, "node-2", "wd-ok"); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("wd-ok: %v %s", w.Status, w.Reason)
	}
}

// maxRefusalRecordBytes bounds what one refused request adds to the log:
// withdrawal.received with the intent, its signature and the
// transaction's hash, and withdrawal.decided with the rule.
const maxRefusalRecordBytes = 8 << 10

// TestRefusalRateLimit: a client refused too often is answered
// ResourceExhausted before any decision or log write, until its bucket
// refills; other clients are not affected.
func TestRefusalRateLimit(t *testing.T) {
	clk := &clock{}
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second, Now: clk.Now})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	node := c.nodes["node-3"].node
	garbage := []byte("no psbt")

	refusals := 0
	for ; refusals < 1000; refusals++ {
		_, err := c.submit("node-3", intent(fmt.Sprintf("wd-r-%d", refusals), wid, allowedDest, 1000), garbage)
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("refusal %d: %v", refusals, err)
		}
	}
	if refusals != refusalBurst {
		t.Fatalf("throttled after %d refusals, want %d", refusals, refusalBurst)
	}
	records, id := auditCount(t, node), fmt.Sprintf("wd-r-%d", refusals+1)
	_, err := c.submit("node-3", intent(id, wid, allowedDest, 1000), garbage)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("over the limit: %v", err)
	}
	if got := auditCount(t, node); got != records {
		t.Fatalf("a throttled call wrote %d records", got-records)
	}
	if _, err := node.store.Withdrawal(id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a throttled call was decided: %v", err)
	}
	// another node keeps its own count
	if _, err := c.submit("node-1", intent(id, wid, allowedDest, 1000), garbage); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("node-1: %v", err)
	}
	// the bucket refills
	clk.advance(refusalEvery)
	if _, err := c.submit("node-3", intent(id+"-later", wid, allowedDest, 1000), garbage); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("after %v: %v", refusalEvery, err)
	}
	if _, err := c.submit("node-3", intent(id+"-again", wid, allowedDest, 1000), garbage); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("one token refilled, two used: %v", err)
	}
}

// TestEveryApprovalLogged: every approval a node receives is logged, those
// that do not count with their problem: also one for a withdrawal that
// needs none (approval.not_needed) and one that arrives after the
// withdrawal was signed (approval.not_awaiting).
func TestEveryApprovalLogged(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, tieredRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	coin := func(amount int64) []bitcoin.UTXO { return funding(t, root, map[string]int64{"m/0/1": amount}) }
	hour := time.Now().Add(time.Hour)

	logged := func(id, officer, rule string) {
		t.Helper()
		for _, n := range c.ids {
			var found bool
			for _, a := range records[audit.WithdrawalApproval](t, c.nodes[n].node, audit.KindWithdrawalApproval, id) {
				if a.Officer == officer {
					found = !a.Counted && strings.HasPrefix(a.Problem, rule+":") && a.Verdict == policy.VerdictApprove && a.Signature != "" && a.Statement != ""
				}
			}
			if !found {
				t.Errorf("%s: no withdrawal.approval of %s by %s, not counted, problem %s", n, id, officer, rule)
			}
		}
	}

	small := intent("wd-small", wid, allowedDest, 10_000_000)
	sw, err := c.submit("node-1", small, c.build(t, small, coin(40_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	if done := c.await(t, "node-1", "wd-small"); done.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED { // bound on every node first
		t.Fatalf("wd-small: %v %s", done.Status, done.Reason)
	}
	wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Alice, statement(sw, policy.VerdictApprove, hour))), codes.FailedPrecondition, policy.ApprovalNotNeeded)
	logged("wd-small", "alice", policy.ApprovalNotNeeded)

	in := intent("wd-tier", wid, allowedDest, 20_000_000)
	w, err := c.submit("node-1", in, c.build(t, in, coin(40_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		c.waitStatus(t, id, "wd-tier", pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL)
	}
	for _, p := range []policytest.Party{policytest.Alice, policytest.Bob} {
		if err := c.approve(t, policytest.Approve(t, p, statement(w, policy.VerdictApprove, hour))); err != nil {
			t.Fatal(err)
		}
	}
	if done := c.await(t, "node-1", "wd-tier"); done.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("wd-tier: %v %s", done.Status, done.Reason)
	}
	late := c.approve(t, policytest.Approve(t, policytest.Carol, statement(w, policy.VerdictApprove, hour)))
	wantRefused(t, late, codes.FailedPrecondition, policy.ApprovalNotAwaiting)
	logged("wd-tier", "carol", policy.ApprovalNotAwaiting)
}
