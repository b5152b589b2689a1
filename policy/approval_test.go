package policy_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	"github.com/countersign/countersign/policy/policytest"
)

// approvalNow is when approvals are checked.
var approvalNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// pendingFixture is a bundle, a withdrawal decided under it that waits for
// two approvals of group treasury, and an approval of it.
func pendingFixture(t *testing.T) (*policy.Bundle, policy.Pending, policy.Approval) {
	t.Helper()
	b := parse(t, testBundle(coldWallet()))
	p := policy.Pending{
		WithdrawalID: "wd-1",
		RequestHash:  sha256.Sum256([]byte("request wd-1")),
		Tier:         policy.Tier{MinAmountSat: 100_000, Approvals: 2, Group: "treasury"},
	}
	a := policy.Approval{
		Verdict: policy.VerdictApprove, WithdrawalID: p.WithdrawalID, RequestHash: p.RequestHash,
		TxID: strings.Repeat("ab", 32), PolicyHash: b.Hash(), Expires: approvalNow.Add(time.Hour),
		Reason: "payout to the bank, ticket 1234",
	}
	return b, p, a
}

// approvalRule returns the rule of an *ApprovalError, "" for nil, and
// fails t for any other error.
func approvalRule(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae *policy.ApprovalError
	if !errors.As(err, &ae) || !errors.Is(err, policy.ErrApproval) {
		t.Fatalf("%v (%T) is not an *ApprovalError matching ErrApproval", err, err)
	}
	if ae.Reason == "" || !strings.HasPrefix(err.Error(), ae.Rule+": ") {
		t.Fatalf("%q does not say why", err)
	}
	return ae.Rule
}

func TestCheckApproval(t *testing.T) {
	alice, bob, carol, mallory := policytest.Alice, policytest.Bob, policytest.Carol, policytest.Mallory
	// signIn is p's signature of a's statement in namespace ns.
	signIn := func(t *testing.T, p policytest.Party, ns string, a policy.Approval) []byte {
		sig, err := p.Signer.Sign(ns, a.Statement())
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	other := parse(t, func() policy.Bundle { b := testBundle(coldWallet()); b.Version = 2; return b }())
	cases := []struct {
		name    string
		by      policytest.Party
		edit    func(*policy.Approval)                                    // the statement signed
		signed  func(*testing.T, *policy.SignedApproval, policy.Approval) // after signing
		pending func(*policy.Pending)
		now     time.Time // approvalNow if zero
		rule    string
	}{
		{name: "an officer of the group approves", by: alice},
		{name: "an officer of the group rejects", by: carol, edit: func(a *policy.Approval) { a.Verdict = policy.VerdictReject }},
		{name: "without a reason", by: bob, edit: func(a *policy.Approval) { a.Reason = "" }},
		{name: "for another withdrawal id", by: alice, edit: func(a *policy.Approval) { a.WithdrawalID = "wd-2" }, rule: policy.ApprovalOtherWithdraw},
		{name: "for a withdrawal id with a leading space", by: alice, edit: func(a *policy.Approval) { a.WithdrawalID = " wd-1" }, rule: policy.ApprovalMalformed},
		{name: "for another request under the same id", by: alice, edit: func(a *policy.Approval) { a.RequestHash[0] ^= 1 }, rule: policy.ApprovalOtherWithdraw},
		{name: "under another policy", by: alice, edit: func(a *policy.Approval) { a.PolicyHash = other.Hash() }, rule: policy.ApprovalOtherPolicy},
		{name: "expiring now", by: alice, edit: func(a *policy.Approval) { a.Expires = approvalNow }, rule: policy.ApprovalExpired},
		{name: "expired a second ago", by: alice, edit: func(a *policy.Approval) { a.Expires = approvalNow.Add(-time.Second) }, rule: policy.ApprovalExpired},
		{name: "checked after it expired", by: alice, now: approvalNow.Add(time.Hour + time.Minute), rule: policy.ApprovalExpired},
		{name: "valid a second more", by: alice, edit: func(a *policy.Approval) { a.Expires = approvalNow.Add(time.Second) }},
		{name: "valid for the longest lifetime", by: alice, edit: func(a *policy.Approval) { a.Expires = approvalNow.Add(policy.MaxApprovalLifetime) }},
		{name: "valid for longer", by: alice, edit: func(a *policy.Approval) { a.Expires = approvalNow.Add(policy.MaxApprovalLifetime + time.Second) }, rule: policy.ApprovalTooLong},
		{name: "by a non-officer", by: mallory, rule: policy.ApprovalNotOfficer},
		{name: "by nobody", by: alice, signed: func(_ *testing.T, s *policy.SignedApproval, _ policy.Approval) { s.Officer = "" }, rule: policy.ApprovalNotOfficer},
		{name: "by an officer outside the tier's group", by: alice, pending: func(p *policy.Pending) { p.Tier = policy.Tier{MinAmountSat: 1, Approvals: 1, Group: "security"} }, rule: policy.ApprovalWrongGroup},
		{name: "by the tier's group", by: carol, pending: func(p *policy.Pending) { p.Tier = policy.Tier{MinAmountSat: 1, Approvals: 1, Group: "security"} }},
		{name: "for a tier of no group", by: alice, pending: func(p *policy.Pending) { p.Tier.Group = "" }, rule: policy.ApprovalWrongGroup},
		{
			name: "signed by Bob, claiming to be Alice's", by: bob,
			signed: func(_ *testing.T, s *policy.SignedApproval, _ policy.Approval) { s.Officer = "alice" },
			rule:   policy.ApprovalBadSignature,
		},
		{
			name: "signed by Mallory, claiming to be Alice's", by: mallory,
			signed: func(_ *testing.T, s *policy.SignedApproval, _ policy.Approval) { s.Officer = "alice" },
			rule:   policy.ApprovalBadSignature,
		},
		{
			name: "signed in the policy namespace", by: alice,
			signed: func(t *testing.T, s *policy.SignedApproval, a policy.Approval) {
				s.Signature = signIn(t, alice, keys.NamespacePolicy, a)
			},
			rule: policy.ApprovalBadSignature,
		},
		{
			name: "signed in the intent namespace", by: alice,
			signed: func(t *testing.T, s *policy.SignedApproval, a policy.Approval) {
				s.Signature = signIn(t, alice, keys.NamespaceIntent, a)
			},
			rule: policy.ApprovalBadSignature,
		},
		{
			name: "a rejection turned into an approval", by: alice,
			edit: func(a *policy.Approval) { a.Verdict = policy.VerdictReject },
			signed: func(t *testing.T, s *policy.SignedApproval, a policy.Approval) {
				a.Verdict = policy.VerdictApprove
				s.Statement = a.Statement()
			},
			rule: policy.ApprovalBadSignature,
		},
		{
			name: "its expiry pushed back after signing", by: alice,
			signed: func(t *testing.T, s *policy.SignedApproval, a policy.Approval) {
				a.Expires = a.Expires.Add(time.Hour)
				s.Statement = a.Statement()
			},
			rule: policy.ApprovalBadSignature,
		},
		{name: "unsigned", by: alice, signed: func(_ *testing.T, s *policy.SignedApproval, _ policy.Approval) { s.Signature = nil }, rule: policy.ApprovalBadSignature},
		{name: "by the officer who requested it", by: alice, pending: func(p *policy.Pending) { p.RequestedBy = "alice" }, rule: policy.ApprovalRequester},
		{
			name: "a rejection by the officer who requested it", by: alice,
			edit: func(a *policy.Approval) { a.Verdict = policy.VerdictReject }, pending: func(p *policy.Pending) { p.RequestedBy = "alice" },
			rule: policy.ApprovalRequester,
		},
		{name: "by another officer than the requester", by: bob, pending: func(p *policy.Pending) { p.RequestedBy = "alice" }},
		{
			name: "a statement that is not one", by: alice,
			signed: func(_ *testing.T, s *policy.SignedApproval, _ policy.Approval) {
				s.Statement = []byte("approve wd-1\n")
			},
			rule: policy.ApprovalMalformed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, p, a := pendingFixture(t)
			if tc.edit != nil {
				tc.edit(&a)
			}
			if tc.pending != nil {
				tc.pending(&p)
			}
			s := policytest.Approve(t, tc.by, a)
			if tc.signed != nil {
				tc.signed(t, &s, a)
			}
			now := approvalNow
			if !tc.now.IsZero() {
				now = tc.now
			}
			got, err := b.CheckApproval(s, p, now)
			if rule := approvalRule(t, err); rule != tc.rule {
				t.Fatalf("got %v, want %q", err, tc.rule)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			if !bytes.Equal(got.Statement(), a.Statement()) || !got.Expires.Equal(a.Expires) {
				t.Fatalf("returned %+v, want %+v", got, a)
			}
		})
	}
}

func TestTally(t *testing.T) {
	_, _, base := pendingFixture(t)
	alice, bob, carol, mallory := policytest.Alice, policytest.Bob, policytest.Carol, policytest.Mallory
	approve := func(p policytest.Party) policy.SignedApproval { return policytest.Approve(t, p, base) }
	reject := func(p policytest.Party) policy.SignedApproval {
		a := base
		a.Verdict, a.Reason = policy.VerdictReject, "not on the payout schedule"
		return policytest.Approve(t, p, a)
	}
	again := func(p policytest.Party) policy.SignedApproval {
		a := base
		a.Reason = "approved again, with another reason"
		return policytest.Approve(t, p, a)
	}
	expiredReject := func(p policytest.Party) policy.SignedApproval {
		a := base
		a.Verdict, a.Expires = policy.VerdictReject, approvalNow.Add(-time.Minute)
		return policytest.Approve(t, p, a)
	}
	otherWithdrawal := func(p policytest.Party) policy.SignedApproval {
		a := base
		a.WithdrawalID = "wd-2"
		return policytest.Approve(t, p, a)
	}
	forged := approve(mallory)
	forged.Officer = "bob"

	cases := []struct {
		name      string
		approvals []policy.SignedApproval
		quorum    int    // the tier's approvals; 2 if zero
		requester string // Pending.RequestedBy
		approvers []string
		rejection int            // index of the rejection, -1 for none
		problems  map[int]string // index: rule
		done      bool
	}{
		{name: "none", rejection: -1},
		{name: "two officers", approvals: []policy.SignedApproval{approve(alice), approve(bob)}, approvers: []string{"alice", "bob"}, rejection: -1, done: true},
		{name: "in the order given", approvals: []policy.SignedApproval{approve(carol), approve(alice)}, approvers: []string{"carol", "alice"}, rejection: -1, done: true},
		{name: "one of two", approvals: []policy.SignedApproval{approve(alice)}, approvers: []string{"alice"}, rejection: -1},
		{name: "one of one: done at exactly the quorum", approvals: []policy.SignedApproval{approve(alice)}, quorum: 1, approvers: []string{"alice"}, rejection: -1, done: true},
		{name: "two of three", approvals: []policy.SignedApproval{approve(alice), approve(bob)}, quorum: 3, approvers: []string{"alice", "bob"}, rejection: -1},
		{name: "three of three", approvals: []policy.SignedApproval{approve(alice), approve(bob), approve(carol)}, quorum: 3, approvers: []string{"alice", "bob", "carol"}, rejection: -1, done: true},
		{
			name:      "one officer twice counts once",
			approvals: []policy.SignedApproval{approve(alice), again(alice)},
			approvers: []string{"alice"}, rejection: -1, problems: map[int]string{1: policy.ApprovalDuplicate},
		},
		{
			name:      "one officer twice beside another",
			approvals: []policy.SignedApproval{approve(alice), approve(alice), approve(bob)},
			approvers: []string{"alice", "bob"}, rejection: -1, problems: map[int]string{1: policy.ApprovalDuplicate}, done: true,
		},
		{
			name:      "approvals that do not count",
			approvals: []policy.SignedApproval{approve(mallory), approve(alice), forged, otherWithdrawal(bob)},
			approvers: []string{"alice"}, rejection: -1,
			problems: map[int]string{0: policy.ApprovalNotOfficer, 2: policy.ApprovalBadSignature, 3: policy.ApprovalOtherWithdraw},
		},
		{
			name:      "the requester's approval does not count",
			approvals: []policy.SignedApproval{approve(alice), approve(bob)}, requester: "alice",
			approvers: []string{"bob"}, rejection: -1, problems: map[int]string{0: policy.ApprovalRequester},
		},
		{
			name:      "a rejection ends it, whatever the approvals",
			approvals: []policy.SignedApproval{approve(alice), approve(bob), reject(carol)},
			approvers: []string{"alice", "bob"}, rejection: 2,
		},
		{
			name:      "a rejection first",
			approvals: []policy.SignedApproval{reject(carol), approve(alice), approve(bob)},
			approvers: []string{"alice", "bob"}, rejection: 0,
		},
		{
			name:      "the first of two rejections",
			approvals: []policy.SignedApproval{approve(alice), reject(bob), reject(carol)},
			approvers: []string{"alice"}, rejection: 1,
		},
		{
			name:      "an expired rejection does not count",
			approvals: []policy.SignedApproval{expiredReject(carol), approve(alice), approve(bob)},
			approvers: []string{"alice", "bob"}, rejection: -1, problems: map[int]string{0: policy.ApprovalExpired}, done: true,
		},
		{
			name:      "a rejection by a non-officer does not count",
			approvals: []policy.SignedApproval{reject(mallory), approve(alice), approve(bob)},
			approvers: []string{"alice", "bob"}, rejection: -1, problems: map[int]string{0: policy.ApprovalNotOfficer}, done: true,
		},
		{
			name:      "a rejection by the requester does not count",
			approvals: []policy.SignedApproval{reject(carol), approve(alice), approve(bob)}, requester: "carol",
			approvers: []string{"alice", "bob"}, rejection: -1, problems: map[int]string{0: policy.ApprovalRequester}, done: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, p, _ := pendingFixture(t)
			if tc.quorum != 0 {
				p.Tier.Approvals = tc.quorum
			}
			p.RequestedBy = tc.requester
			tally := b.Tally(tc.approvals, p, approvalNow)
			if !slices.Equal(tally.Approvers, tc.approvers) {
				t.Errorf("approvers %v, want %v", tally.Approvers, tc.approvers)
			}
			switch {
			case tc.rejection < 0 && tally.Rejection != nil:
				t.Errorf("rejection by %s, want none", tally.Rejection.Officer)
			case tc.rejection >= 0 && tally.Rejection != &tc.approvals[tc.rejection]:
				t.Errorf("rejection %v, want approvals[%d]", tally.Rejection, tc.rejection)
			}
			problems := map[int]string{}
			for i, err := range tally.Problems {
				problems[i] = approvalRule(t, err)
			}
			if tc.problems == nil {
				tc.problems = map[int]string{}
			}
			if !maps.Equal(problems, tc.problems) {
				t.Errorf("problems %v, want %v", problems, tc.problems)
			}
			if done := tally.Done(p); done != tc.done {
				t.Errorf("done %t, want %t", done, tc.done)
			}
		})
	}
}

func TestStatement(t *testing.T) {
	_, _, a := pendingFixture(t)
	a.RequestHash, a.PolicyHash = [32]byte{0: 0x01, 31: 0xfe}, [32]byte{0: 0xab, 31: 0xcd}
	want := "countersign-approval v1\n" +
		"verdict approve\n" +
		"withdrawal wd-1\n" +
		"request 01000000000000000000000000000000000000000000000000000000000000fe\n" +
		"txid " + strings.Repeat("ab", 32) + "\n" +
		"policy ab000000000000000000000000000000000000000000000000000000000000cd\n" +
		"expires 2026-11-24T13:00:00Z\n" +
		"reason payout to the bank, ticket 1234\n"
	if got := string(a.Statement()); got != want {
		t.Fatalf("statement\n%s\nwant\n%s", got, want)
	}
	// The expiry is written in UTC, whatever the time zone it is given in.
	a.Expires = a.Expires.In(time.FixedZone("UTC+5", 5*3600))
	if got := string(a.Statement()); got != want {
		t.Fatalf("statement in another time zone\n%s", got)
	}
}

func TestParseStatement(t *testing.T) {
	_, _, base := pendingFixture(t)
	for name, edit := range map[string]func(*policy.Approval){
		"an approval":          func(*policy.Approval) {},
		"a rejection":          func(a *policy.Approval) { a.Verdict = policy.VerdictReject },
		"no reason":            func(a *policy.Approval) { a.Reason = "" },
		"the longest reason":   func(a *policy.Approval) { a.Reason = strings.Repeat("r", 200) },
		"a reason in UTF-8":    func(a *policy.Approval) { a.Reason = "payé à la banque" },
		"a reason with spaces": func(a *policy.Approval) { a.Reason = " two  spaces " },
		"zero hashes":          func(a *policy.Approval) { a.RequestHash, a.PolicyHash = [32]byte{}, [32]byte{} },
	} {
		t.Run(name, func(t *testing.T) {
			a := base
			edit(&a)
			st := a.Statement()
			got, err := policy.ParseStatement(st)
			if err != nil {
				t.Fatal(err)
			}
			if got.Verdict != a.Verdict || got.WithdrawalID != a.WithdrawalID || got.RequestHash != a.RequestHash || got.TxID != a.TxID ||
				got.PolicyHash != a.PolicyHash || !got.Expires.Equal(a.Expires) || got.Reason != a.Reason {
				t.Fatalf("parsed %+v, want %+v", got, a)
			}
			if !bytes.Equal(got.Statement(), st) {
				t.Fatal("does not re-encode to its bytes")
			}
		})
	}
}

func TestParseStatementRefuses(t *testing.T) {
	_, _, a := pendingFixture(t)
	good := string(a.Statement())
	lines := strings.SplitAfter(good, "\n") // lines[8] is ""
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("the statement does not contain %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	reason := func(r string) string { return replace("reason "+a.Reason, "reason "+r) }
	swap := func(i, j int) string {
		l := slices.Clone(lines)
		l[i], l[j] = l[j], l[i]
		return strings.Join(l, "")
	}
	req := fmt.Sprintf("%x", a.RequestHash)
	cases := map[string]string{
		"empty":                          "",
		"another version":                replace("countersign-approval v1", "countersign-approval v2"),
		"no title":                       strings.TrimPrefix(good, lines[0]),
		"a space after the title":        replace("v1\n", "v1 \n"),
		"two spaces after a key":         replace("verdict approve", "verdict  approve"),
		"a space before a key":           replace("\nverdict", "\n verdict"),
		"a tab for a space":              replace("verdict approve", "verdict\tapprove"),
		"a space after a hash":           replace(req+"\n", req+" \n"),
		"a space after the expiry":       replace("13:00:00Z\n", "13:00:00Z \n"),
		"reordered lines":                swap(1, 2),
		"reordered hashes":               swap(3, 5),
		"CRLF line ends":                 strings.ReplaceAll(good, "\n", "\r\n"),
		"no trailing newline":            strings.TrimSuffix(good, "\n"),
		"two trailing newlines":          good + "\n",
		"a line more":                    replace("reason ", "note hi\nreason "),
		"no reason line":                 strings.TrimSuffix(good, lines[7]),
		"a key in capitals":              replace("verdict", "Verdict"),
		"a verdict in capitals":          replace("verdict approve", "verdict APPROVE"),
		"another verdict":                replace("verdict approve", "verdict approved"),
		"no verdict":                     replace("verdict approve", "verdict "),
		"a hash in upper case":           replace(req, strings.ToUpper(req)),
		"a policy hash in upper case":    replace(fmt.Sprintf("%x", a.PolicyHash), strings.ToUpper(fmt.Sprintf("%x", a.PolicyHash))),
		"a short hash":                   replace(req, req[:62]),
		"a long hash":                    replace(req, req+"00"),
		"a hash that is not hex":         replace(req, "zz"+req[2:]),
		"an expiry with an offset":       replace("2026-11-24T13:00:00Z", "2026-11-24T14:00:00+01:00"),
		"an expiry as +00:00":            replace("2026-11-24T13:00:00Z", "2026-11-24T13:00:00+00:00"),
		"an expiry with a fraction":      replace("2026-11-24T13:00:00Z", "2026-11-24T13:00:00.000Z"),
		"an expiry in lower case":        replace("2026-11-24T13:00:00Z", "2026-11-24t13:00:00z"),
		"an expiry as a date":            replace("2026-11-24T13:00:00Z", "2026-11-24"),
		"an expiry as a unix time":       replace("2026-11-24T13:00:00Z", "1795525200"),
		"a tab in the reason":            reason("ok\tgo"),
		"a NUL in the reason":            reason("ok\x00"),
		"a carriage return in a reason":  reason("ok\rreason approved by everyone"),
		"an escape sequence in a reason": reason("\x1b[2Kapproved"),
		"a DEL in the reason":            reason("ok\x7f"),
		"a reason too long":              reason(strings.Repeat("r", 201)),
		"a byte order mark":              "\ufeff" + good,
		"too long":                       reason(strings.Repeat("r", 1100)),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := policy.ParseStatement([]byte(raw))
			if rule := approvalRule(t, err); rule != policy.ApprovalMalformed {
				t.Fatalf("parsed %+v (%v), want %s", got, err, policy.ApprovalMalformed)
			}
		})
	}
}

// TestRequestHash: the hash is computed as documented, and covers every
// byte of the intent and of the PSBT.
func TestRequestHash(t *testing.T) {
	in, psbt, _ := withdrawal(t, allowed, 500_000)
	canonical := in.Canonical()
	msg := fmt.Appendf(nil, "countersign/withdrawal-request/v1\x00%d\x00%s%s", len(canonical), canonical, psbt)
	h := policy.RequestHash(in, psbt)
	if h != sha256.Sum256(msg) {
		t.Fatalf("RequestHash %x is not as documented", h)
	}
	otherIntent := in
	otherIntent.RequestedBy = "alice"
	otherPSBT := bytes.Clone(psbt)
	otherPSBT[len(otherPSBT)-1] ^= 1
	for name, got := range map[string][32]byte{
		"another intent":     policy.RequestHash(otherIntent, psbt),
		"another PSBT":       policy.RequestHash(in, otherPSBT),
		"a PSBT longer":      policy.RequestHash(in, append(bytes.Clone(psbt), 0)),
		"no PSBT":            policy.RequestHash(in, nil),
		"another withdrawal": policy.RequestHash(func() chain.Intent { o := in; o.WithdrawalID = "wd-2"; return o }(), psbt),
	} {
		if got == h {
			t.Errorf("%s: same request hash", name)
		}
	}
}

// TestCheckAnother: an arriving approval by an officer already kept is a
// duplicate, whatever its reason; a rejection by that officer, or an
// approval by another, is checked as CheckApproval checks it.
func TestCheckAnother(t *testing.T) {
	b, p, base := pendingFixture(t)
	again := base
	again.Reason = "approved again, with another reason"
	reject := base
	reject.Verdict, reject.Reason = policy.VerdictReject, "changed my mind"
	for _, tc := range []struct {
		name string
		a    policy.SignedApproval
		kept []string
		rule string
	}{
		{"the first approval", policytest.Approve(t, policytest.Alice, base), nil, ""},
		{"another officer's", policytest.Approve(t, policytest.Bob, base), []string{"alice"}, ""},
		{"the same officer again", policytest.Approve(t, policytest.Alice, again), []string{"alice"}, policy.ApprovalDuplicate},
		{"a rejection after approving", policytest.Approve(t, policytest.Alice, reject), []string{"alice"}, ""},
		{"a non-officer's, kept or not", policytest.Approve(t, policytest.Mallory, base), []string{"mallory"}, policy.ApprovalNotOfficer},
	} {
		_, err := b.CheckAnother(tc.a, p, tc.kept, approvalNow)
		if got := approvalRule(t, err); got != tc.rule {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.rule)
		}
	}
}
