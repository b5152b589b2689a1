package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
)

// Verdicts of an approval statement.
const (
	VerdictApprove = "approve"
	VerdictReject  = "reject"
)

// Reasons an approval does not count. Stable: written in audit logs.
const (
	ApprovalMalformed      = "approval.malformed"
	ApprovalNotOfficer     = "approval.not_officer"
	ApprovalBadSignature   = "approval.bad_signature"
	ApprovalWrongGroup     = "approval.wrong_group"
	ApprovalOtherWithdraw  = "approval.other_withdrawal"
	ApprovalOtherPolicy    = "approval.other_policy"
	ApprovalExpired        = "approval.expired"
	ApprovalTooLong        = "approval.lifetime_too_long"
	ApprovalRequester      = "approval.by_requester"
	ApprovalDuplicate      = "approval.duplicate"
	ApprovalNotNeeded      = "approval.not_needed"
	ApprovalNotAwaiting    = "approval.not_awaiting" // it needed approvals, but waits for none any more: quorum, signed, rejected or failed
	maxApprovalReason      = 200
	approvalStatementTitle = "countersign-approval v1"
)

// Approval is what an officer signs to approve or reject one withdrawal:
// the withdrawal id, the request hash every node computes from its intent
// and unsigned transaction (so the approval covers exactly those bytes),
// the transaction id for people, the hash of the policy bundle under which
// the withdrawal was decided, and an expiry.
//
// The signed bytes are [Approval.Statement]: lines of text, so that an
// officer signing with `ssh-keygen -Y sign` can read what they sign.
// Compatibility: the statement's first line names its version; a new
// version may add lines, never change one.
type Approval struct {
	Verdict      string
	WithdrawalID string
	RequestHash  [32]byte
	TxID         string
	PolicyHash   [32]byte
	Expires      time.Time
	Reason       string
}

// Statement returns the exact bytes an officer signs, in namespace
// keys.NamespaceApproval.
func (a Approval) Statement() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nverdict %s\nwithdrawal %s\nrequest %x\ntxid %s\npolicy %x\nexpires %s\nreason %s\n",
		approvalStatementTitle, a.Verdict, a.WithdrawalID, a.RequestHash, a.TxID, a.PolicyHash,
		a.Expires.UTC().Format(time.RFC3339), a.Reason)
	return []byte(b.String())
}

// ApprovalError is why an approval does not count.
type ApprovalError struct {
	Rule   string // one of the Approval* reasons
	Reason string
}

func (e *ApprovalError) Error() string { return fmt.Sprintf("%s: %s", e.Rule, e.Reason) }

// ErrApproval is matched by every *ApprovalError.
var ErrApproval = errors.New("policy: approval")

// Is makes errors.Is(err, ErrApproval) hold.
func (e *ApprovalError) Is(target error) bool { return target == ErrApproval }

func approvalErr(rule, format string, a ...any) error {
	return &ApprovalError{Rule: rule, Reason: fmt.Sprintf(format, a...)}
}

// ParseStatement reads an approval statement. Only the exact form
// Statement writes is accepted.
func ParseStatement(raw []byte) (Approval, error) {
	if len(raw) > MaxApprovalStatement {
		return Approval{}, approvalErr(ApprovalMalformed, "statement of %d bytes, at most %d", len(raw), MaxApprovalStatement)
	}
	lines := strings.Split(string(raw), "\n")
	want := []string{"verdict", "withdrawal", "request", "txid", "policy", "expires", "reason"}
	if len(lines) != len(want)+2 || lines[0] != approvalStatementTitle || lines[len(lines)-1] != "" {
		return Approval{}, approvalErr(ApprovalMalformed, "not a %q statement of %d lines", approvalStatementTitle, len(want)+1)
	}
	v := map[string]string{}
	for i, key := range want {
		k, val, ok := strings.Cut(lines[i+1], " ")
		if !ok || k != key {
			return Approval{}, approvalErr(ApprovalMalformed, "line %d: want %q", i+2, key)
		}
		v[key] = val
	}
	var a Approval
	a.Verdict, a.WithdrawalID, a.TxID, a.Reason = v["verdict"], v["withdrawal"], v["txid"], v["reason"]
	if a.Verdict != VerdictApprove && a.Verdict != VerdictReject {
		return Approval{}, approvalErr(ApprovalMalformed, "verdict %q: want approve or reject", a.Verdict)
	}
	for key, dst := range map[string]*[32]byte{"request": &a.RequestHash, "policy": &a.PolicyHash} {
		h, err := hex.DecodeString(v[key])
		if err != nil || len(h) != 32 {
			return Approval{}, approvalErr(ApprovalMalformed, "%s: want 64 hex digits", key)
		}
		*dst = [32]byte(h)
	}
	t, err := time.Parse(time.RFC3339, v["expires"])
	if err != nil {
		return Approval{}, approvalErr(ApprovalMalformed, "expires: %v", err)
	}
	a.Expires = t
	if err := CheckReason(a.Reason); err != nil {
		return Approval{}, approvalErr(ApprovalMalformed, "%v", err)
	}
	if !chain.ValidID(a.WithdrawalID) {
		return Approval{}, approvalErr(ApprovalMalformed, "withdrawal: %s is not 1 to %d of [A-Za-z0-9._:-]", chain.Quote(a.WithdrawalID), chain.MaxIDLen)
	}
	if t, err := hex.DecodeString(a.TxID); err != nil || len(t) != 32 || strings.ToLower(a.TxID) != a.TxID {
		return Approval{}, approvalErr(ApprovalMalformed, "txid: want 64 lower-case hex digits")
	}
	if !bytes.Equal(a.Statement(), raw) {
		return Approval{}, approvalErr(ApprovalMalformed, "statement is not in canonical form")
	}
	return a, nil
}

// RequestHash binds a withdrawal id to one intent and one unsigned
// transaction: nodes bind ids to it, and approvals sign it. It is SHA-256
// over the tag "countersign/withdrawal-request/v1", a zero byte, the length
// of the intent's canonical bytes in decimal, a zero byte, those bytes, and
// the unsigned transaction (the PSBT for Bitcoin).
func RequestHash(in chain.Intent, unsignedTx []byte) [32]byte {
	intent := in.Canonical()
	h := sha256.New()
	h.Write([]byte("countersign/withdrawal-request/v1\x00"))
	fmt.Fprintf(h, "%d\x00", len(intent))
	h.Write(intent)
	h.Write(unsignedTx)
	return [32]byte(h.Sum(nil))
}

// CheckReason returns nil if reason may stand in an approval statement:
// at most 200 bytes of UTF-8 on one line, with no control or format
// characters (which could hide or reorder what a reviewer reads).
func CheckReason(reason string) error {
	if len(reason) > maxApprovalReason || !utf8.ValidString(reason) ||
		strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return fmt.Errorf("reason: at most %d bytes of printable UTF-8, no control or format characters", maxApprovalReason)
	}
	return nil
}

// SignedApproval is an officer's approval as it travels and is stored.
type SignedApproval struct {
	Officer   string `json:"officer"`
	Statement []byte `json:"statement"`
	Signature []byte `json:"signature"` // armored SSH signature
}

// Pending describes a withdrawal waiting for approvals, as the node that
// decided it knows it.
type Pending struct {
	WithdrawalID string
	RequestHash  [32]byte
	// Tier is what the decision required.
	Tier Tier
	// RequestedBy is the intent's requesting officer, who may not approve.
	RequestedBy string
}

// CheckApproval verifies one signed approval of a withdrawal decided under
// b: the signer is an officer of b in the tier's group, the signature
// verifies, and the statement names this withdrawal, this request and b,
// and has not expired at now. It does not look at other approvals: see
// [Bundle.Tally].
func (b *Bundle) CheckApproval(s SignedApproval, p Pending, now time.Time) (Approval, error) {
	a, err := ParseStatement(s.Statement)
	if err != nil {
		return Approval{}, err
	}
	o, ok := b.Officer(s.Officer)
	if !ok {
		return Approval{}, approvalErr(ApprovalNotOfficer, "%q is not an officer of policy version %d", s.Officer, b.Version)
	}
	if err := keys.Verify(o.Key, keys.NamespaceApproval, s.Statement, s.Signature); err != nil {
		return Approval{}, approvalErr(ApprovalBadSignature, "%s's signature does not verify: %v", s.Officer, err)
	}
	switch {
	case a.WithdrawalID != p.WithdrawalID || a.RequestHash != p.RequestHash:
		return Approval{}, approvalErr(ApprovalOtherWithdraw, "the approval is for withdrawal %s (request %x…), not %s (request %x…)",
			a.WithdrawalID, a.RequestHash[:6], p.WithdrawalID, p.RequestHash[:6])
	case a.PolicyHash != b.Hash():
		return Approval{}, approvalErr(ApprovalOtherPolicy, "the approval names policy %x…; the withdrawal was decided under version %d (%x…)",
			a.PolicyHash[:6], b.Version, b.hash[:6])
	case !now.Before(a.Expires):
		return Approval{}, approvalErr(ApprovalExpired, "the approval expired at %s", a.Expires.UTC().Format(time.RFC3339))
	case a.Expires.Sub(now) > MaxApprovalLifetime:
		return Approval{}, approvalErr(ApprovalTooLong, "the approval is valid until %s, more than %s ahead", a.Expires.UTC().Format(time.RFC3339), MaxApprovalLifetime)
	case p.RequestedBy != "" && s.Officer == p.RequestedBy:
		return Approval{}, approvalErr(ApprovalRequester, "%s requested this withdrawal and may not approve or reject it", s.Officer)
	case !b.InGroup(s.Officer, p.Tier.Group):
		return Approval{}, approvalErr(ApprovalWrongGroup, "%s is not in group %s, which this withdrawal's tier requires", s.Officer, p.Tier.Group)
	}
	return a, nil
}

// CheckAnother is CheckApproval for an approval that arrives after those
// already kept for the withdrawal, whose officers kept lists: an approval
// by an officer who already has one kept is a duplicate, since an officer
// counts once. Nodes and the auditor's replay check each arriving approval
// with it, and [Bundle.Tally] applies the same rule to a whole list, so
// the rule is written once.
func (b *Bundle) CheckAnother(s SignedApproval, p Pending, kept []string, now time.Time) (Approval, error) {
	a, err := b.CheckApproval(s, p, now)
	if err == nil && a.Verdict == VerdictApprove && slices.Contains(kept, s.Officer) {
		return a, duplicate(s.Officer)
	}
	return a, err
}

func duplicate(officer string) error {
	return approvalErr(ApprovalDuplicate, "%s already approved; an officer counts once", officer)
}

// Tally is where a withdrawal's approvals stand.
type Tally struct {
	// Approvers are the distinct officers whose approvals count, in the
	// order given.
	Approvers []string
	// Rejection is the first valid rejection, if any: it ends the
	// withdrawal.
	Rejection *SignedApproval
	// Problems are the approvals that do not count, by index.
	Problems map[int]error
}

// Done reports whether the tier's quorum is reached with no rejection.
func (t Tally) Done(p Pending) bool {
	return t.Rejection == nil && len(t.Approvers) >= p.Tier.Approvals
}

// Tally counts approvals: each officer at most once.
func (b *Bundle) Tally(approvals []SignedApproval, p Pending, now time.Time) Tally {
	t := Tally{Problems: map[int]error{}}
	for i, s := range approvals {
		a, err := b.CheckApproval(s, p, now)
		if err != nil {
			t.Problems[i] = err
			continue
		}
		if a.Verdict == VerdictReject {
			if t.Rejection == nil {
				t.Rejection = &approvals[i]
			}
			continue
		}
		if slices.Contains(t.Approvers, s.Officer) {
			t.Problems[i] = duplicate(s.Officer)
			continue
		}
		t.Approvers = append(t.Approvers, s.Officer)
	}
	return t
}
