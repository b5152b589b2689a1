package signer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Officers, step by step (see DESIGN.md):
//
//   - The policy in force is the accepted bundle with the highest version.
//     The first is the cluster's genesis bundle (installGenesis); each
//     later one arrives over SubmitPolicy and is accepted only with a
//     quorum of signatures by the officers of the bundle in force and a
//     higher version (policy.Accept). Every bundle accepted is kept, with
//     a policy.accepted record holding its bytes and signatures.
//   - A decision that needs approval (policy.Decision.Approval) leaves the
//     withdrawal awaiting. Each SubmitApproval is checked by this node
//     against the bundle that decision used (policy.Bundle.CheckApproval)
//     and logged, counted or not. At quorum the coordinator starts
//     signing; a rejection ends the withdrawal.

// Limits of officer input.
const (
	// maxCarriedApprovals bounds the approvals a signing request carries:
	// a withdrawal keeps at most one per officer of a bundle.
	maxCarriedApprovals = policy.MaxOfficers
)

var officerNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// policies caches parsed bundles; the store is the truth.
type policies struct {
	mu      sync.Mutex
	current *policy.Bundle
	byHash  map[[32]byte]*policy.Bundle
}

// installGenesis installs the cluster's first bundle if this node has
// none: a node never runs without a policy.
func (n *Node) installGenesis() error {
	if _, err := n.store.CurrentPolicy(); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	raw, err := os.ReadFile(n.cfg.GenesisPolicy)
	if err != nil {
		return fmt.Errorf("signer: genesis policy: %w", err)
	}
	sigRaw, err := os.ReadFile(n.cfg.GenesisSignatures)
	if err != nil {
		return fmt.Errorf("signer: genesis policy: %w", err)
	}
	sigs, err := policy.ParseSignatures(sigRaw)
	if err != nil {
		return fmt.Errorf("signer: genesis policy: %w", err)
	}
	b, err := policy.AcceptGenesis(raw, sigs)
	if err != nil {
		return fmt.Errorf("signer: genesis policy: %w", err)
	}
	var signedBy []string
	for _, s := range sigs {
		signedBy = append(signedBy, s.Officer)
	}
	return n.storeBundle(b, sigs, signedBy, nil, "genesis")
}

func (n *Node) storeBundle(b *policy.Bundle, sigs []policy.Signature, signedBy []string, previous *policy.Bundle, from string) error {
	sigJSON, err := json.Marshal(sigs)
	if err != nil {
		return err
	}
	h := b.Hash()
	body := &audit.PolicyAccepted{Version: b.Version, Hash: hex.EncodeToString(h[:]), Bundle: b.Raw(), SignedBy: signedBy, From: from}
	for _, s := range sigs {
		body.Signatures = append(body.Signatures, audit.PolicySignature{Officer: s.Officer, Signature: s.Signature})
	}
	if previous != nil {
		ph := previous.Hash()
		body.Previous = hex.EncodeToString(ph[:])
	}
	rec := &store.Policy{Version: b.Version, Hash: h[:], Bundle: b.Raw(), Signatures: sigJSON, AcceptedAt: n.now().UTC()}
	if err := n.store.PutPolicy(rec, storeEvent(audit.KindPolicyAccepted, body)); err != nil {
		return err
	}
	n.policies.mu.Lock()
	n.policies.current = b
	n.policies.byHash[h] = b
	n.policies.mu.Unlock()
	n.log.Info("policy accepted", "version", b.Version, "hash", hex.EncodeToString(h[:8]), "signed_by", signedBy, "from", from)
	return nil
}

// policyInForce returns the bundle in force.
func (n *Node) policyInForce() (*policy.Bundle, error) {
	n.policies.mu.Lock()
	b := n.policies.current
	n.policies.mu.Unlock()
	if b != nil {
		return b, nil
	}
	p, err := n.store.CurrentPolicy()
	if err != nil {
		return nil, err
	}
	return n.cacheBundle(p)
}

// bundle returns an accepted bundle by its hash.
func (n *Node) bundle(hash []byte) (*policy.Bundle, error) {
	if len(hash) != 32 {
		return nil, fmt.Errorf("%w: no policy hash", errNotFound)
	}
	n.policies.mu.Lock()
	b := n.policies.byHash[[32]byte(hash)]
	n.policies.mu.Unlock()
	if b != nil {
		return b, nil
	}
	p, err := n.store.PolicyByHash(hash)
	if err != nil {
		return nil, err
	}
	return n.cacheBundle(p)
}

func (n *Node) cacheBundle(p *store.Policy) (*policy.Bundle, error) {
	b, err := policy.ParseBundle(p.Bundle)
	if err != nil {
		return nil, fmt.Errorf("signer: stored policy version %d: %w", p.Version, err)
	}
	n.policies.mu.Lock()
	defer n.policies.mu.Unlock()
	n.policies.byHash[b.Hash()] = b
	if cur, err := n.store.CurrentPolicy(); err == nil && cur.Version == b.Version {
		n.policies.current = b
	}
	return b, nil
}

// GetPolicy returns the bundle in force, or an earlier one.
func (n *Node) GetPolicy(_ context.Context, req *pb.GetPolicyRequest) (*pb.GetPolicyResponse, error) {
	var p *store.Policy
	var err error
	switch {
	case req.Version < 0:
		return nil, invalid("version %d: want 0 (in force) or a version", req.Version)
	case req.Version == 0:
		p, err = n.store.CurrentPolicy()
	default:
		p, err = n.store.PolicyVersion(req.Version)
	}
	if err != nil {
		return nil, err
	}
	return &pb.GetPolicyResponse{Policy: policyProto(p)}, nil
}

func policyProto(p *store.Policy) *pb.PolicyBundle {
	out := &pb.PolicyBundle{Bundle: p.Bundle, Hash: p.Hash, Version: p.Version, AcceptedAt: timestamppb.New(p.AcceptedAt)}
	var sigs []policy.Signature
	_ = json.Unmarshal(p.Signatures, &sigs)
	for _, s := range sigs {
		out.Signatures = append(out.Signatures, &pb.BundleSignature{Officer: s.Officer, Signature: s.Signature})
	}
	return out
}

// SubmitPolicy accepts a new bundle signed by a quorum of the officers in
// force. Submitting the bundle in force again returns it.
func (n *Node) SubmitPolicy(ctx context.Context, req *pb.SubmitPolicyRequest) (*pb.SubmitPolicyResponse, error) {
	if len(req.Bundle) == 0 || len(req.Bundle) > policy.MaxBundleSize {
		return nil, invalid("bundle: %d bytes, want 1 to %d", len(req.Bundle), policy.MaxBundleSize)
	}
	if len(req.Signatures) == 0 || len(req.Signatures) > policy.MaxSignatures {
		return nil, invalid("signatures: %d, want 1 to %d", len(req.Signatures), policy.MaxSignatures)
	}
	var sigs []policy.Signature
	for i, s := range req.Signatures {
		if !officerNamePattern.MatchString(s.Officer) || len(s.Signature) == 0 || len(s.Signature) > keys.MaxSignatureSize {
			return nil, invalid("signatures[%d]: want an officer name and an armored SSH signature of at most %d bytes", i, keys.MaxSignatureSize)
		}
		sigs = append(sigs, policy.Signature{Officer: s.Officer, Signature: s.Signature})
	}
	from := callerOf(ctx).String()
	n.decideMu.Lock() // a decision sees one bundle from start to end
	defer n.decideMu.Unlock()
	current, err := n.policyInForce()
	if err != nil {
		return nil, err
	}
	if h := current.Hash(); h == policyHashOf(req.Bundle) {
		p, err := n.store.CurrentPolicy()
		if err != nil {
			return nil, err
		}
		return &pb.SubmitPolicyResponse{Policy: policyProto(p)}, nil
	}
	next, signedBy, err := policy.Accept(current, req.Bundle, sigs)
	if err != nil {
		h := policyHashOf(req.Bundle)
		n.audit(storeEvent(audit.KindPolicyRefused, &audit.PolicyRefused{Hash: hex.EncodeToString(h[:]), Reason: err.Error(), From: from}))
		n.log.Warn("ALERT: policy bundle refused", "from", from, "err", err)
		switch {
		case errors.Is(err, policy.ErrSignatures):
			return nil, fmt.Errorf("%w: %v", errPermission, err)
		case errors.Is(err, policy.ErrVersion):
			return nil, fmt.Errorf("%w: %v", errRefused, err)
		}
		return nil, invalid("%v", err)
	}
	if err := n.storeBundle(next, sigs, signedBy, current, from); err != nil {
		return nil, err
	}
	p, err := n.store.CurrentPolicy()
	if err != nil {
		return nil, err
	}
	return &pb.SubmitPolicyResponse{Policy: policyProto(p), SignedBy: signedBy}, nil
}

// policyHashOf is what Bundle.Hash would be for raw: SHA-256 of the
// exact bytes, also for bytes that do not parse (a refusal logs it).
func policyHashOf(raw []byte) [32]byte { return sha256.Sum256(raw) }

// SubmitApproval records an officer's approval or rejection.
func (n *Node) SubmitApproval(ctx context.Context, req *pb.SubmitApprovalRequest) (*pb.SubmitApprovalResponse, error) {
	a := req.Approval
	switch {
	case a == nil:
		return nil, invalid("approval is missing")
	case !officerNamePattern.MatchString(a.Officer):
		return nil, invalid("approval.officer %q: want a-z, 0-9, _ and -, starting with a letter", a.Officer)
	case len(a.Statement) == 0 || len(a.Statement) > policy.MaxApprovalStatement:
		return nil, invalid("approval.statement: want 1 to %d bytes", policy.MaxApprovalStatement)
	case len(a.Signature) == 0 || len(a.Signature) > keys.MaxSignatureSize:
		return nil, invalid("approval.signature: want an armored SSH signature of at most %d bytes", keys.MaxSignatureSize)
	}
	st, err := policy.ParseStatement(a.Statement)
	if err != nil {
		return nil, invalid("approval.statement: %v", err)
	}
	from := callerOf(ctx).String()
	settle, err := n.refusals.reserve(from, n.now())
	if err != nil {
		return nil, err
	}
	rec, err := n.recordApproval(st.WithdrawalID, policy.SignedApproval{Officer: a.Officer, Statement: a.Statement, Signature: a.Signature}, from)
	settle(errors.Is(err, errRefused) || errors.Is(err, errPermission)) // an approval that does not count, logged
	if err != nil {
		return nil, err
	}
	if rec.Coordinator == n.id && rec.Status == store.WithdrawalSigning {
		n.startDriving(rec.ID)
	}
	return &pb.SubmitApprovalResponse{Withdrawal: n.withdrawalProto(rec)}, nil
}

// recordApproval checks one approval against the bundle the withdrawal was
// decided under, logs it, and keeps it if it counts; at quorum the
// withdrawal goes on to signing, and a rejection refuses it.
func (n *Node) recordApproval(id string, s policy.SignedApproval, from string) (*store.Withdrawal, error) {
	n.decideMu.Lock()
	defer n.decideMu.Unlock()
	rec, err := n.store.Withdrawal(id)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(rec.Approvals, func(a store.Approval) bool {
		return a.Officer == s.Officer && string(a.Statement) == string(s.Statement)
	}) {
		return rec, nil // delivered again: already counted
	}
	// An approval for a withdrawal that waits for none is refused, and
	// logged like every approval received.
	var closed *policy.ApprovalError
	switch {
	case rec.Tier == nil:
		closed = &policy.ApprovalError{Rule: policy.ApprovalNotNeeded, Reason: fmt.Sprintf("withdrawal %s needs no approval", id)}
	case rec.Status != store.WithdrawalAwaiting:
		closed = &policy.ApprovalError{Rule: policy.ApprovalNotAwaiting, Reason: fmt.Sprintf("withdrawal %s is %s; approvals no longer change it", id, rec.Status)}
	}
	if closed != nil {
		event := &audit.WithdrawalApproval{WithdrawalID: id, Officer: s.Officer, Statement: string(s.Statement), Signature: string(s.Signature),
			Problem: closed.Error(), From: from}
		if a, err := policy.ParseStatement(s.Statement); err == nil {
			event.Verdict = a.Verdict
		}
		n.audit(storeEvent(audit.KindWithdrawalApproval, event))
		n.log.Info("approval does not count: the withdrawal awaits none", "withdrawal", id, "officer", s.Officer, "problem", closed, "from", from)
		return nil, withRule(errRefused, closed.Rule, "%s (%s)", closed.Reason, closed.Rule)
	}
	b, err := n.bundle(rec.PolicyHash)
	if err != nil {
		return nil, err
	}
	in, err := chain.ParseIntent(rec.Intent)
	if err != nil {
		return nil, err
	}
	pending := pendingOf(rec, in)
	now := n.now()
	var kept []string
	for _, a := range rec.Approvals {
		kept = append(kept, a.Officer)
	}
	st, problem := b.CheckAnother(s, pending, kept, now)
	event := &audit.WithdrawalApproval{WithdrawalID: id, Officer: s.Officer, Verdict: st.Verdict, Statement: string(s.Statement),
		Signature: string(s.Signature), Counted: problem == nil, From: from}
	if problem != nil {
		event.Problem = problem.Error()
		if event.Verdict == "" {
			if a, err := policy.ParseStatement(s.Statement); err == nil {
				event.Verdict = a.Verdict
			}
		}
		n.audit(storeEvent(audit.KindWithdrawalApproval, event))
		n.log.Warn("approval does not count", "withdrawal", id, "officer", s.Officer, "problem", problem, "from", from)
		rule := policy.ApprovalMalformed
		var ae *policy.ApprovalError
		if errors.As(problem, &ae) {
			rule = ae.Rule
		}
		return nil, withRule(errPermission, rule, "approval of withdrawal %s by %s does not count: %v", id, s.Officer, problem)
	}
	out, err := n.store.UpdateWithdrawal(id, func(r *store.Withdrawal) ([]store.Event, error) {
		r.Approvals = append(r.Approvals, store.Approval{Officer: s.Officer, Statement: s.Statement, Signature: s.Signature, ReceivedAt: now.UTC()})
		r.UpdatedAt = now.UTC()
		events := []store.Event{storeEvent(audit.KindWithdrawalApproval, event)}
		t := b.Tally(signedApprovals(r.Approvals), pending, now)
		switch {
		case t.Rejection != nil:
			rej, _ := policy.ParseStatement(t.Rejection.Statement)
			r.Status, r.Rule = store.WithdrawalRefused, policy.RuleApprovalRejected
			r.Reason = fmt.Sprintf("rejected by officer %s: %s", t.Rejection.Officer, rej.Reason)
			events = append(events, storeEvent(audit.KindWithdrawalRejected, &audit.WithdrawalRejected{WithdrawalID: id, Officer: t.Rejection.Officer, Reason: rej.Reason}))
		case t.Done(pending):
			r.Status = store.WithdrawalBound
			if r.Coordinator == n.id {
				r.Status = store.WithdrawalSigning
			}
			events = append(events, storeEvent(audit.KindWithdrawalApproved, &audit.WithdrawalApproved{WithdrawalID: id, Approvers: t.Approvers}))
		}
		return events, nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("approval recorded", "withdrawal", id, "officer", s.Officer, "verdict", st.Verdict, "status", out.Status)
	n.notify(out)
	return out, nil
}

func pendingOf(rec *store.Withdrawal, in chain.Intent) policy.Pending {
	p := policy.Pending{WithdrawalID: rec.ID, RequestHash: [32]byte(rec.Hash), RequestedBy: in.RequestedBy}
	if rec.Tier != nil {
		asset, min := rec.Tier.Threshold()
		p.Tier = policy.Tier{Asset: asset, MinAmount: min, Approvals: rec.Tier.Approvals, Group: rec.Tier.Group}
	}
	return p
}

func signedApprovals(as []store.Approval) []policy.SignedApproval {
	out := make([]policy.SignedApproval, len(as))
	for i, a := range as {
		out[i] = policy.SignedApproval{Officer: a.Officer, Statement: a.Statement, Signature: a.Signature}
	}
	return out
}

// approvalState is what the withdrawal needs and has, for display.
func (n *Node) approvalState(rec *store.Withdrawal) *pb.ApprovalState {
	if rec.Tier == nil {
		return nil
	}
	asset, min := rec.Tier.Threshold()
	out := &pb.ApprovalState{Required: uint32(rec.Tier.Approvals), Group: rec.Tier.Group, TierAsset: asset, TierMinAmount: min.String(),
		Approvals: approvalsProto(rec), Problems: map[string]string{}}
	b, err := n.bundle(rec.PolicyHash)
	in, ierr := chain.ParseIntent(rec.Intent)
	if err != nil || ierr != nil {
		return out
	}
	t := b.Tally(signedApprovals(rec.Approvals), pendingOf(rec, in), n.now())
	out.Approvers = t.Approvers
	for i, p := range t.Problems {
		out.Problems[rec.Approvals[i].Officer] = p.Error()
	}
	return out
}

// approvalsProto returns a withdrawal's kept approvals, to carry to the
// committee.
func approvalsProto(rec *store.Withdrawal) []*pb.Approval {
	var out []*pb.Approval
	for _, a := range rec.Approvals {
		out = append(out, &pb.Approval{Officer: a.Officer, Statement: a.Statement, Signature: a.Signature})
	}
	return out
}

// takeCarriedApprovals records, on a member, approvals the coordinator
// carried that this node has not received itself. Each is checked here as
// if an officer had sent it; those that do not count are logged and
// ignored.
func (n *Node) takeCarriedApprovals(id string, carried []*pb.Approval, from string) {
	for _, a := range carried {
		if a == nil || len(a.Statement) > policy.MaxApprovalStatement || len(a.Signature) > keys.MaxSignatureSize {
			continue
		}
		if _, err := n.recordApproval(id, policy.SignedApproval{Officer: a.Officer, Statement: a.Statement, Signature: a.Signature}, from); err != nil {
			n.log.Debug("carried approval not taken", "withdrawal", id, "officer", a.Officer, "err", err)
		}
	}
}
