package signer

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/grpc/codes"
)

var replayFixture = flag.String("replay-fixture", "", "write the audit logs, wallet keys and node keys of TestReplayTrail's cluster to this `directory`, for cmd/auditor's replay tests")

// TestReplayTrail runs an officer's day on a 2-of-3 cluster, so that its
// logs hold every step an auditor's replay re-checks: the genesis bundle
// and two policy changes, withdrawals signed, refused by the allowlist and
// by the daily cap (which counts a withdrawal awaiting approval, and stops
// counting it once rejected), approvals that count and approvals that do
// not (a non-officer, an officer twice), a quorum reached and signed, a
// rejection, and a withdrawal left awaiting approval. It checks each node
// logged what it should; with -replay-fixture DIR it writes the logs for
// cmd/auditor (see testdata/replay/README.md there).
func TestReplayTrail(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules()) // version 2
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	coin := func(amount int64) []bitcoin.UTXO { return funding(t, root, map[string]int64{"m/0/1": amount}) }
	hour := time.Now().Add(time.Hour)
	awaitingEverywhere := func(id string) {
		for _, n := range c.ids {
			c.waitStatus(t, n, id, pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL)
		}
	}

	in := intent("wd-1", wid, allowedDest, 20_000_000)
	if _, err := c.submit("node-1", in, c.build(t, in, coin(40_000_000))); err != nil {
		t.Fatal(err)
	}
	if got := c.await(t, "node-1", "wd-1"); got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("wd-1: %v %s", got.Status, got.Reason)
	}
	dmm := intent("wd-dmm", wid, attackerDest, 10_000_000)
	_, err := c.submit("node-3", dmm, c.build(t, dmm, coin(40_000_000)))
	wantRefused(t, err, codes.FailedPrecondition, policy.RuleDestinationNotAllowed)

	// Version 3: approval tiers, and a daily cap of 2 BTC.
	tiered := tieredRules()
	tiered.Assets = btcLimits(100_000_000, 200_000_000, 500_000_000)
	c.writePolicy(t, wid, tiered)

	tierIn := intent("wd-tier", wid, allowedDest, 20_000_000)
	w, err := c.submit("node-1", tierIn, c.build(t, tierIn, coin(40_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	awaitingEverywhere("wd-tier")
	wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Mallory, statement(w, policy.VerdictApprove, hour))), codes.PermissionDenied, policy.ApprovalNotOfficer)
	if err := c.approve(t, policytest.Approve(t, policytest.Alice, statement(w, policy.VerdictApprove, hour))); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Alice, statement(w, policy.VerdictApprove, hour.Add(time.Minute)))), codes.PermissionDenied, policy.ApprovalDuplicate)
	if err := c.approve(t, policytest.Approve(t, policytest.Bob, statement(w, policy.VerdictApprove, hour))); err != nil {
		t.Fatal(err)
	}
	if got := c.await(t, "node-1", "wd-tier"); got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		t.Fatalf("wd-tier: %v %s", got.Status, got.Reason)
	}

	// wd-big waits for the security group and counts toward the cap
	// meanwhile: wd-cap does not fit beside it.
	big := intent("wd-big", wid, allowedDest, 90_000_000)
	bw, err := c.submit("node-2", big, c.build(t, big, coin(95_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	awaitingEverywhere("wd-big")
	capIn := intent("wd-cap", wid, allowedDest, 75_000_000)
	_, err = c.submit("node-3", capIn, c.build(t, capIn, coin(80_000_000)))
	wantRefused(t, err, codes.FailedPrecondition, policy.RuleDailyCapExceeded)
	rej := statement(bw, policy.VerdictReject, hour)
	rej.Reason = "destination owner unverified"
	if err := c.approve(t, policytest.Approve(t, policytest.Carol, rej)); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.ids {
		c.waitStatus(t, n, "wd-big", pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED)
	}
	// Rejected, wd-big no longer counts: the same amount fits now.
	after := intent("wd-after", wid, allowedDest, 75_000_000)
	if _, err := c.submit("node-3", after, c.build(t, after, coin(80_000_000))); err != nil {
		t.Fatal(err)
	}
	awaitingEverywhere("wd-after")

	for _, id := range c.ids {
		n := c.nodes[id].node
		for _, want := range []struct {
			kind audit.Kind
			body string
		}{
			{audit.KindPolicyAccepted, `"version":3`},
			{audit.KindWithdrawalApproved, `"withdrawal_id":"wd-tier","approvers":["alice","bob"]`},
			{audit.KindWithdrawalApproval, `"officer":"mallory"`},
			{audit.KindWithdrawalRejected, `"withdrawal_id":"wd-big","officer":"carol"`},
			{audit.KindWithdrawalDecided, `"withdrawal_id":"wd-after"`},
		} {
			if !auditHas(t, n, want.kind, want.body) {
				t.Errorf("%s did not log %s %s", id, want.kind, want.body)
			}
		}
	}
	if !auditHas(t, c.nodes["node-3"].node, audit.KindWithdrawalDecided, `"rule":"`+policy.RuleDailyCapExceeded+`"`) {
		t.Error("node-3 did not log wd-cap's refusal by the daily cap")
	}
	for _, id := range c.ids {
		c.stop(id)
	}
	if *replayFixture != "" {
		writeReplayFixture(t, c, *replayFixture, map[string]bitcoin.Key{wid: root})
	}
}

// TestChainCodeHash: the hash an auditor checks a chain code with is the
// one the nodes log at key generation.
func TestChainCodeHash(t *testing.T) {
	cc := [32]byte{1, 2, 3}
	if audit.ChainCodeHash(cc) != mpc.ChainCodeHash(cc) {
		t.Fatal("audit.ChainCodeHash and mpc.ChainCodeHash differ")
	}
}

// writeReplayFixture writes each node's audit log alone (no share, no
// wallet), the wallet's public key and chain code as a -wallets file, the
// cluster CA certificate, and each node's TLS key, which signs its log:
// test-only keys, kept so that cmd/auditor's tests can tamper with a record
// and sign the log again as the node would.
func writeReplayFixture(t *testing.T, c *testCluster, dir string, roots map[string]bitcoin.Key) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		src, err := store.OpenAuditLog(filepath.Join(c.nodes[id].cfg.DataDir, "node.db"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, id+".db")
		os.Remove(path)
		w, err := store.CreateAuditLog(path)
		if err != nil {
			t.Fatal(err)
		}
		err = src.Records(func(seq uint64, raw []byte) bool {
			if err := w.Put(seq, raw); err != nil {
				t.Fatal(err)
			}
			return true
		})
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, id+"-key.pem"), mustRead(t, c.nodes[id].cfg.TLS.Key), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]any{}
	for wid, root := range roots {
		keys[wid] = map[string]string{"public_key": hex.EncodeToString(root.PublicKey[:]), "chain_code": hex.EncodeToString(root.ChainCode[:])}
	}
	wallets, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"ca.pem":       mustRead(t, filepath.Join(c.dir, "ca.pem")),
		"wallets.json": append(wallets, '\n'),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote the logs of %s to %s", strings.Join(c.ids, ", "), dir)
}
