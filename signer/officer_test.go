package signer

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tieredRules: withdrawals of 0.2 BTC or more need 2 approvals of group
// treasury (alice, bob, carol); of 0.8 BTC or more, 1 of group security
// (carol alone).
func tieredRules() policy.WalletRules {
	r := coldRules()
	r.ApprovalTiers = []policy.Tier{
		btcTier(20_000_000, 2, "treasury"),
		btcTier(80_000_000, 1, "security"),
	}
	return r
}

// statement is an approval of w as an officer's CLI makes it.
func statement(w *pb.Withdrawal, verdict string, expires time.Time) policy.Approval {
	return policy.Approval{Verdict: verdict, WithdrawalID: w.WithdrawalId, RequestHash: [32]byte(w.RequestHash), TxID: w.GetTx().GetId(),
		PolicyHash: [32]byte(w.PolicyHash), Expires: expires, Reason: "reviewed on my own machine"}
}

// approve sends a signed approval to every node, as the officer CLI does,
// and returns the first error.
func (c *testCluster) approve(t *testing.T, a policy.SignedApproval) error {
	t.Helper()
	var first error
	for _, id := range c.ids {
		_, err := pb.NewOfficerServiceClient(c.dial(id, pki.RoleOfficer)).SubmitApproval(context.Background(),
			&pb.SubmitApprovalRequest{Approval: &pb.Approval{Officer: a.Officer, Statement: a.Statement, Signature: a.Signature}})
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *testCluster) get(t *testing.T, node, id string) *pb.Withdrawal {
	t.Helper()
	resp, err := pb.NewWithdrawalServiceClient(c.dial(node, pki.RoleOfficer)).GetWithdrawal(context.Background(), &pb.GetWithdrawalRequest{WithdrawalId: id})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Withdrawal
}

// waitStatus polls a node until the withdrawal reaches want.
func (c *testCluster) waitStatus(t *testing.T, node, id string, want pb.WithdrawalStatus) *pb.Withdrawal {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := pb.NewWithdrawalServiceClient(c.dial(node, pki.RoleOfficer)).GetWithdrawal(context.Background(), &pb.GetWithdrawalRequest{WithdrawalId: id})
		if err == nil && resp.Withdrawal.Status == want {
			return resp.Withdrawal
		}
		if err != nil && status.Code(err) != codes.NotFound { // not bound there yet
			t.Fatalf("%s: %v", node, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v (%v), want %v", node, id, resp.GetWithdrawal().GetStatus(), err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantRefused checks err's code and that it names rule; a rule code must
// also be in the status's ErrorInfo detail, for clients to read.
func wantRefused(t *testing.T, err error, code codes.Code, rule string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(err.Error(), rule) {
		t.Fatalf("got %v, want %v naming %s", err, code, rule)
	}
	if !ruleCode.MatchString(rule) {
		return
	}
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == rule && info.Domain == ErrorDomain {
			return
		}
	}
	t.Fatalf("%v carries no ErrorInfo detail with reason %s", err, rule)
}

var ruleCode = regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)

func TestApprovals(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, tieredRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	coin := func(amount int64) []bitcoin.UTXO { return funding(t, root, map[string]int64{"m/0/1": amount}) }
	hour := time.Now().Add(time.Hour)

	t.Run("just below the tier: signed without approval", func(t *testing.T) {
		in := intent("wd-below", wid, allowedDest, 19_999_999)
		w, err := c.submit("node-1", in, c.build(t, in, coin(40_000_000)))
		if err != nil || w.Approval != nil {
			t.Fatalf("%v %v", w, err)
		}
		if done := c.await(t, "node-1", "wd-below"); done.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%v %s", done.Status, done.Reason)
		}
	})

	in := intent("wd-tier", wid, allowedDest, 20_000_000) // at the tier
	tierCoin := coin(40_000_000)
	w, err := c.submit("node-1", in, c.build(t, in, tierCoin))
	if err != nil {
		t.Fatal(err)
	}
	if w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL || w.Approval.GetRequired() != 2 || w.Approval.GetGroup() != "treasury" {
		t.Fatalf("at the tier: %v", w)
	}
	for _, id := range c.ids { // bound on every node, waiting there too
		c.waitStatus(t, id, "wd-tier", pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL)
	}

	t.Run("an approval by a non-member does not count", func(t *testing.T) {
		err := c.approve(t, policytest.Approve(t, policytest.Mallory, statement(w, policy.VerdictApprove, hour)))
		wantRefused(t, err, codes.PermissionDenied, policy.ApprovalNotOfficer)
		if !auditHas(t, c.nodes["node-2"].node, audit.KindWithdrawalApproval, `"officer":"mallory","verdict":"approve"`) {
			t.Fatal("the refused approval is not in node-2's log")
		}
	})
	t.Run("an approval replayed onto another withdrawal is refused", func(t *testing.T) {
		other := intent("wd-other", wid, allowedDest, 30_000_000)
		ow, err := c.submit("node-1", other, c.build(t, other, coin(40_000_000)))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range c.ids {
			c.waitStatus(t, id, "wd-other", pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL)
		}
		a := statement(w, policy.VerdictApprove, hour) // wd-tier's request...
		a.WithdrawalID = ow.WithdrawalId               // ...offered for wd-other
		wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Alice, a)), codes.PermissionDenied, policy.ApprovalOtherWithdraw)
	})
	t.Run("an expired approval is refused", func(t *testing.T) {
		err := c.approve(t, policytest.Approve(t, policytest.Alice, statement(w, policy.VerdictApprove, time.Now().Add(-time.Minute))))
		wantRefused(t, err, codes.PermissionDenied, policy.ApprovalExpired)
	})
	t.Run("an approval under another policy is refused", func(t *testing.T) {
		a := statement(w, policy.VerdictApprove, hour)
		a.PolicyHash[0] ^= 1
		wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Alice, a)), codes.PermissionDenied, policy.ApprovalOtherPolicy)
	})
	t.Run("one officer counts once", func(t *testing.T) {
		if err := c.approve(t, policytest.Approve(t, policytest.Alice, statement(w, policy.VerdictApprove, hour))); err != nil {
			t.Fatal(err)
		}
		again := statement(w, policy.VerdictApprove, hour.Add(time.Minute))
		wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Alice, again)), codes.PermissionDenied, policy.ApprovalDuplicate)
		for _, id := range c.ids {
			got := c.get(t, id, "wd-tier")
			if got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL || len(got.Approval.Approvers) != 1 {
				t.Fatalf("%s: %v with approvers %v", id, got.Status, got.Approval.GetApprovers())
			}
		}
	})
	t.Run("at quorum it signs without further action", func(t *testing.T) {
		if err := c.approve(t, policytest.Approve(t, policytest.Bob, statement(w, policy.VerdictApprove, hour))); err != nil {
			t.Fatal(err)
		}
		done := c.await(t, "node-1", "wd-tier")
		if done.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%v %s", done.Status, done.Reason)
		}
		checkSigned(t, done.SignedTx, tierCoin)
		for _, id := range c.ids {
			if !auditHas(t, c.nodes[id].node, audit.KindWithdrawalApproved, `"withdrawal_id":"wd-tier","approvers":["alice","bob"]`) {
				t.Errorf("%s did not log the quorum", id)
			}
		}
		late := c.approve(t, policytest.Approve(t, policytest.Carol, statement(done, policy.VerdictApprove, hour)))
		wantRefused(t, late, codes.FailedPrecondition, "approvals no longer change it")
	})
	t.Run("above the higher tier only its group counts", func(t *testing.T) {
		big := intent("wd-big", wid, allowedDest, 90_000_000)
		bw, err := c.submit("node-2", big, c.build(t, big, coin(95_000_000)))
		if err != nil || bw.Approval.GetGroup() != "security" {
			t.Fatalf("%v %v", bw, err)
		}
		for _, id := range c.ids {
			c.waitStatus(t, id, "wd-big", pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL)
		}
		wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Alice, statement(bw, policy.VerdictApprove, hour))), codes.PermissionDenied, policy.ApprovalWrongGroup)
		t.Run("a rejection ends it on every node", func(t *testing.T) {
			rej := statement(bw, policy.VerdictReject, hour)
			rej.Reason = "destination owner unverified"
			if err := c.approve(t, policytest.Approve(t, policytest.Carol, rej)); err != nil {
				t.Fatal(err)
			}
			for _, id := range c.ids {
				got := c.waitStatus(t, id, "wd-big", pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED)
				if len(got.Rules) != 1 || got.Rules[0] != policy.RuleApprovalRejected || !strings.Contains(got.Reason, "destination owner unverified") {
					t.Fatalf("%s: %v %s", id, got.Rules, got.Reason)
				}
			}
		})
	})
	t.Run("the officer who requested a withdrawal cannot approve it", func(t *testing.T) {
		req := intent("wd-requested", wid, allowedDest, 25_000_000)
		req.RequestedBy = "bob"
		rw, err := c.submit("node-3", req, c.build(t, req, coin(40_000_000)))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range c.ids {
			c.waitStatus(t, id, "wd-requested", pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL)
		}
		wantRefused(t, c.approve(t, policytest.Approve(t, policytest.Bob, statement(rw, policy.VerdictApprove, hour))), codes.PermissionDenied, policy.ApprovalRequester)
	})
}

func TestPolicyBundles(t *testing.T) {
	c := newTestCluster(t, 3, 2)
	wid := c.importFixtureWallet(t)
	v2 := c.writePolicy(t, wid, coldRules())
	for _, id := range c.ids {
		if !auditHas(t, c.nodes[id].node, audit.KindPolicyAccepted, `"version":2`) {
			t.Fatalf("%s did not log policy version 2", id)
		}
	}
	proposal := c.nextPolicy(t, func(b *policy.Bundle) {
		r := b.Wallets[wid]
		r.Destinations = append(r.Destinations, policy.Destination{Address: attackerDest, Label: "exchange hot wallet"})
	})
	for _, tc := range []struct {
		name string
		raw  []byte
		sigs []policy.Signature
		code codes.Code
		want string
	}{
		{"too few signatures", proposal, policytest.SignBundle(t, proposal, policytest.Alice), codes.PermissionDenied, "changing the policy takes 2"},
		{"a forged signature", proposal, append(policytest.SignBundle(t, proposal, policytest.Alice),
			policy.Signature{Officer: "bob", Signature: policytest.SignBundle(t, proposal, policytest.Mallory)[0].Signature}),
			codes.PermissionDenied, "bob's signature does not verify"},
		{"a non-officer's signature", proposal, policytest.SignBundle(t, proposal, policytest.Alice, policytest.Mallory), codes.PermissionDenied, `"mallory" is not an officer`},
		{"signatures over other bytes", proposal, policytest.SignBundle(t, append([]byte(" "), proposal...), policytest.Alice, policytest.Bob), codes.PermissionDenied, "does not verify"},
		{"the bundle in force again", v2.Raw(), nil, codes.OK, ""}, // idempotent
		{"not a bundle", []byte(`{"format": 1, "cluster": "test"}`), nil, codes.InvalidArgument, "policy: bundle"},
		{"a lower version (the genesis again)", policytest.Marshal(t, policytest.Genesis("test")), policytest.SignBundle(t, policytest.Marshal(t, policytest.Genesis("test")), policytest.Alice, policytest.Bob),
			codes.FailedPrecondition, "no rollback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := tc.sigs
			if sigs == nil {
				sigs = policytest.SignBundle(t, tc.raw, policytest.Alice, policytest.Bob)
			}
			for _, id := range c.ids {
				_, err := c.submitPolicy(id, tc.raw, sigs)
				if status.Code(err) != tc.code || (tc.want != "" && !strings.Contains(err.Error(), tc.want)) {
					t.Fatalf("%s: got %v, want %v naming %q", id, err, tc.code, tc.want)
				}
				if tc.code != codes.OK && !auditHas(t, c.nodes[id].node, audit.KindPolicyRefused, "") {
					t.Fatalf("%s did not log the refusal", id)
				}
				if b, _ := c.nodes[id].node.policyInForce(); b.Version != 2 {
					t.Fatalf("%s: version %d in force", id, b.Version)
				}
			}
		})
	}
	t.Run("bad officer input names the field", func(t *testing.T) {
		st := policy.Approval{Verdict: policy.VerdictApprove, WithdrawalID: "wd-1", TxID: strings.Repeat("0", 64), Expires: time.Now().Add(time.Hour)}.Statement()
		officer := pb.NewOfficerServiceClient(c.dial("node-1", pki.RoleOfficer))
		for _, tc := range []struct {
			name string
			a    *pb.Approval
			want string
		}{
			{"no approval", nil, "approval is missing"},
			{"an officer name in capitals", &pb.Approval{Officer: "Alice", Statement: st, Signature: []byte("x")}, "approval.officer"},
			{"no statement", &pb.Approval{Officer: "alice", Signature: []byte("x")}, "approval.statement"},
			{"a statement too long", &pb.Approval{Officer: "alice", Statement: make([]byte, 2<<10), Signature: []byte("x")}, "approval.statement"},
			{"a signature too long", &pb.Approval{Officer: "alice", Statement: st, Signature: make([]byte, 9<<10)}, "approval.signature"},
			{"a statement not in canonical form", &pb.Approval{Officer: "alice", Statement: append(st, ' '), Signature: []byte("x")}, "approval.malformed"},
		} {
			_, err := officer.SubmitApproval(context.Background(), &pb.SubmitApprovalRequest{Approval: tc.a})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: got %v, want InvalidArgument naming %s", tc.name, err, tc.want)
			}
		}
		_, err := c.submitPolicy("node-1", v2.Raw(), make([]policy.Signature, policy.MaxSignatures+1))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "signatures") {
			t.Errorf("too many bundle signatures: got %v", err)
		}
	})
	t.Run("a signing request carrying more approvals than officers is refused", func(t *testing.T) {
		in := intent("wd-carry", wid, allowedDest, 10_000_000)
		carried := make([]*pb.Approval, policy.MaxOfficers+1)
		for i := range carried {
			carried[i] = &pb.Approval{Officer: "alice"}
		}
		sid := make([]byte, 32)
		sid[0] = 7
		asNode2 := c.dialWith("node-1", filepath.Join(c.dir, "ca.pem"), filepath.Join(c.dir, "nodes", "node-2", "node.pem"), filepath.Join(c.dir, "nodes", "node-2", "node-key.pem"))
		_, err := pb.NewPeerServiceClient(asNode2).Prepare(context.Background(), &pb.PrepareRequest{SessionId: sid, Committee: []string{"node-1", "node-2"},
			Params: &pb.PrepareRequest_Signing{Signing: &pb.SigningParams{WalletId: wid, Request: &pb.SigningRequest{Kind: &pb.SigningRequest_Withdrawal{
				Withdrawal: &pb.WithdrawalRequest{Intent: neutral(in).Canonical(), UnsignedTx: []byte("psbt"), Approvals: carried}}}}}})
		wantRefused(t, err, codes.InvalidArgument, "approvals: 65, at most 64")
	})
	t.Run("a compromised backend cannot reach a destination off a cold wallet's allowlist", func(t *testing.T) {
		root, _ := c.nodes["node-1"].node.WalletRoot(wid)
		utxos := funding(t, root, map[string]int64{"m/0/0": 40_000_000})
		in := intent("wd-backend", wid, attackerDest, 10_000_000)
		in.RequestedBy = "alice" // whatever it claims
		for _, id := range c.ids {
			_, err := c.submit(id, in, c.build(t, in, utxos)) // consistent intent and PSBT, ledger-signed
			wantRefused(t, err, codes.FailedPrecondition, policy.RuleDestinationNotAllowed)
			in.WithdrawalID += "x"
		}
	})
	t.Run("intents must be signed by the wallet's originator", func(t *testing.T) {
		root, _ := c.nodes["node-1"].node.WalletRoot(wid)
		utxos := funding(t, root, map[string]int64{"m/0/0": 40_000_000})
		in := intent("wd-sig", wid, allowedDest, 10_000_000)
		psbt := c.build(t, in, utxos)
		_, err := c.submitSigned("node-1", in, psbt, nil)
		wantRefused(t, err, codes.FailedPrecondition, policy.RuleIntentUnsigned)

		in.WithdrawalID = "wd-sig-2"
		_, err = c.submitSigned("node-2", in, psbt, policytest.SignIntent(t, neutral(in), policytest.Mallory))
		wantRefused(t, err, codes.FailedPrecondition, policy.RuleIntentSignature)

		signed := intent("wd-sig-3", wid, allowedDest, 10_000_000)
		sig := policytest.SignIntent(t, neutral(signed), policytest.Ledger)
		altered := signed
		altered.Amount = 30_000_000 // middleware changed it after the ledger signed
		_, err = c.submitSigned("node-3", altered, c.build(t, altered, utxos), sig)
		wantRefused(t, err, codes.FailedPrecondition, policy.RuleIntentSignature)
	})
}

// clock is a test clock that can jump ahead.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// TestRollingCaps runs many withdrawals through the 24-hour and 7-day caps,
// with a node restarting in between: the caps come from each node's
// committed history.
func TestRollingCaps(t *testing.T) {
	clk := &clock{}
	c := newTestCluster(t, 3, 2, Options{Now: clk.Now, SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	rules := coldRules()
	rules.Assets, rules.MaxFee = btcLimits(30_000_000, 65_000_000, 100_000_000), chain.AmountOf(50_000)
	c.writePolicy(t, wid, rules)
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	paths := map[string]int64{}
	for i := range 6 {
		paths[fmt.Sprintf("m/0/%d", i)] = 40_000_000
	}
	utxos := funding(t, root, paths)
	n := 0
	try := func(node string, amount int64) error {
		n++
		in := intent(fmt.Sprintf("wd-cap-%d", n), wid, allowedDest, amount)
		if _, err := c.submit(node, in, c.build(t, in, utxos[n-1:n])); err != nil {
			return err
		}
		if w := c.await(t, node, in.WithdrawalID); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%s: %v %s", in.WithdrawalID, w.Status, w.Reason)
		}
		return nil
	}
	for range 2 { // 2 × (0.3 BTC + fee) of a 0.65 BTC day
		if err := try("node-1", 30_000_000); err != nil {
			t.Fatal(err)
		}
	}
	c.stop("node-2")
	c.start("node-2")
	wantRefused(t, try("node-2", 10_000_000), codes.FailedPrecondition, policy.RuleDailyCapExceeded)

	clk.advance(25 * time.Hour) // a new day, the same week
	if err := try("node-2", 30_000_000); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, try("node-3", 10_000_000), codes.FailedPrecondition, policy.RuleWeeklyCapExceeded)
	for _, id := range c.ids {
		if !auditHas(t, c.nodes[id].node, audit.KindWithdrawalDecided, `"spent_day":{"BTC":"`) {
			t.Errorf("%s records no velocity with its decisions", id)
		}
	}
}
