package signer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Withdrawals, step by step (see DESIGN.md):
//
//  1. SubmitWithdrawal: this node (the coordinator) re-derives the
//     transaction from the intent and PSBT, decides under its policy, and
//     binds the withdrawal id to the request hash in its store, with the
//     decision in its audit log. A refusal ends here, naming the rule.
//  2. drive: the coordinator asks every peer to Bind the id. Each peer
//     re-derives and decides itself and binds the id, or refuses. Signing
//     starts only once a majority of all nodes bound this very request, so
//     two different requests under one id can never both be signed: two
//     majorities always share a node, and a node binds an id once.
//  3. A committee of bound nodes signs: every member re-derives the
//     digests itself before it joins (prepareSigning), and checks the
//     signatures against them (package mpc).
//  4. The coordinator assembles the transaction and releases it only after
//     btcd's script engine accepted every input (bitcoin.Withdrawal.Finalize).

// Withdrawal limits.
const (
	maxPSBT          = 1 << 20
	majorityAttempts = 3
	velocityWindow   = 24 * time.Hour
)

var withdrawalIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// intentFromProto checks an intent's shape; deeper checks (the address, the
// transaction) are the policy's and end in a refusal with a rule.
func intentFromProto(in *pb.WithdrawalIntent) (bitcoin.Intent, error) {
	switch {
	case in == nil:
		return bitcoin.Intent{}, invalid("intent is missing")
	case !withdrawalIDPattern.MatchString(in.WithdrawalId):
		return bitcoin.Intent{}, invalid("intent.withdrawal_id %q: want 1-64 of A-Z a-z 0-9 . _ : -", in.WithdrawalId)
	case !validWalletID(in.WalletId):
		return bitcoin.Intent{}, invalid("intent.wallet_id %q: want w- and 16 hex digits", in.WalletId)
	case networks[in.Network] == "":
		return bitcoin.Intent{}, invalid("intent.network: want one of mainnet, testnet, signet, regtest")
	case in.Asset != "BTC":
		return bitcoin.Intent{}, invalid("intent.asset %q: only BTC is supported", in.Asset)
	case in.Destination == "" || len(in.Destination) > 128:
		return bitcoin.Intent{}, invalid("intent.destination: want an address")
	case in.AmountSat == 0 || in.AmountSat > 21e14:
		return bitcoin.Intent{}, invalid("intent.amount_sat %d: want 1 to 2100000000000000", in.AmountSat)
	case in.FeeCapSat == 0 || in.FeeCapSat > 21e14:
		return bitcoin.Intent{}, invalid("intent.fee_cap_sat %d: want 1 to 2100000000000000", in.FeeCapSat)
	case in.RequestedBy != "" && !officerNamePattern.MatchString(in.RequestedBy):
		return bitcoin.Intent{}, invalid("intent.requested_by %q: want an officer's name", in.RequestedBy)
	}
	return bitcoin.Intent{
		WithdrawalID: in.WithdrawalId, WalletID: in.WalletId, Network: networks[in.Network], Asset: in.Asset,
		Destination: in.Destination, Amount: int64(in.AmountSat), FeeCap: int64(in.FeeCapSat), RequestedBy: in.RequestedBy,
	}, nil
}

// request is a withdrawal request as it arrives: from the backend, or
// from a coordinating peer.
type request struct {
	intent    bitcoin.Intent
	signature []byte // the originating system's, over intent.Canonical()
	psbt      []byte
}

// requestFromProto checks a withdrawal request's intent and sizes.
func requestFromProto(intent *pb.WithdrawalIntent, signature, psbt []byte) (request, error) {
	in, err := intentFromProto(intent)
	if err != nil {
		return request{}, err
	}
	if len(psbt) == 0 || len(psbt) > maxPSBT {
		return request{}, invalid("psbt: %d bytes, want 1 to %d", len(psbt), maxPSBT)
	}
	if len(signature) > keys.MaxSignatureSize {
		return request{}, invalid("intent_signature: %d bytes, at most %d", len(signature), keys.MaxSignatureSize)
	}
	return request{intent: in, signature: signature, psbt: psbt}, nil
}

// errConflict is a withdrawal id offered with a request other than the one
// it is bound to.
var errConflict = errors.New("withdrawal.id_reused")

// decide decides a request under the bundle in force, with the wallet's
// velocity by this node's committed history. Callers hold decideMu.
func (n *Node) decide(r request, w *store.Wallet, now time.Time) (policy.Decision, policy.Velocity, error) {
	var spent policy.Velocity
	b, err := n.policyInForce()
	if err != nil {
		return policy.Decision{}, spent, err
	}
	sums, err := n.store.Outflow(r.intent.WalletID, r.intent.WithdrawalID, now.Add(-policy.Day), now.Add(-policy.Week))
	if err != nil {
		return policy.Decision{}, spent, err
	}
	spent.Day, spent.Week = sums[0], sums[1]
	d := b.Decide(policy.Request{Intent: r.intent, IntentSignature: r.signature, PSBT: r.psbt, Wallet: walletKey(w), Spent: spent, Now: now})
	return d, spent, nil
}

// admit decides a withdrawal on this node and binds its id, atomically with
// respect to other decisions (the velocity caps count what was admitted).
// A known id with the same request returns its record; with another
// request it is refused and raised as an alert in the audit log.
func (n *Node) admit(r request, from string, coordinating bool) (*store.Withdrawal, error) {
	in := r.intent
	ib := in.Canonical()
	hash := policy.RequestHash(in, r.psbt)
	n.decideMu.Lock()
	defer n.decideMu.Unlock()
	if existing, err := n.store.Withdrawal(in.WithdrawalID); err == nil {
		if !slices.Equal(existing.Hash, hash[:]) {
			n.audit(storeEvent(audit.KindWithdrawalConflict, &audit.WithdrawalConflict{
				WithdrawalID: in.WithdrawalID, BoundHash: hex.EncodeToString(existing.Hash), OfferedHash: hex.EncodeToString(hash[:]), From: from,
			}))
			n.log.Warn("ALERT: withdrawal id offered with another request", "withdrawal", in.WithdrawalID, "from", from)
			return nil, withRule(errConflict, errConflict.Error(), "withdrawal %s is bound to another intent and transaction (%x…); this one (%x…) is refused on every node", in.WithdrawalID, existing.Hash[:6], hash[:6])
		}
		return existing, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	w, err := n.activeWallet(in.WalletID)
	if err != nil {
		return nil, err
	}
	now := n.now().UTC()
	d, spent, err := n.decide(r, w, now)
	if err != nil {
		return nil, err
	}
	rec := &store.Withdrawal{
		ID: in.WithdrawalID, WalletID: in.WalletID, Intent: ib, PSBT: r.psbt, Hash: hash[:], Status: store.WithdrawalBound,
		Label: d.DestinationLabel, PolicyHash: d.PolicyHash[:], PolicyVersion: d.PolicyVersion, Originator: d.Originator,
		IntentSignature: r.signature, CreatedAt: now, UpdatedAt: now,
	}
	if coordinating {
		rec.Status, rec.Coordinator = store.WithdrawalSigning, n.id
	}
	decided := &audit.WithdrawalDecided{WithdrawalID: in.WithdrawalID, RequestHash: hex.EncodeToString(hash[:]), Allowed: d.Allowed,
		Rule: d.Rule, Reason: d.Reason, PolicyHash: hex.EncodeToString(d.PolicyHash[:]), PolicyVersion: d.PolicyVersion, Originator: d.Originator}
	if d.Withdrawal != nil {
		rec.FeeSat, rec.TxID = d.Withdrawal.Fee, d.Withdrawal.TxID.String()
		decided.TxID, decided.FeeSat = rec.TxID, d.Withdrawal.Fee
		for _, dg := range d.Withdrawal.Digests {
			decided.Digests = append(decided.Digests, hex.EncodeToString(dg[:]))
		}
	}
	switch {
	case !d.Allowed:
		rec.Status, rec.Rule, rec.Reason = store.WithdrawalRefused, d.Rule, d.Reason
	default:
		rec.OutflowSat, decided.OutflowSat = d.Outflow, d.Outflow
		if d.Approval != nil {
			rec.Status = store.WithdrawalAwaiting
			rec.Tier = &store.Tier{MinAmountSat: d.Approval.MinAmountSat, Approvals: d.Approval.Approvals, Group: d.Approval.Group}
			decided.Approvals, decided.ApprovalGroup, decided.TierMinAmountSat = d.Approval.Approvals, d.Approval.Group, d.Approval.MinAmountSat
		}
	}
	decided.DecidedAt, decided.SpentDaySat, decided.SpentWeekSat = now, spent.Day, spent.Week
	received := &audit.WithdrawalReceived{WithdrawalID: in.WithdrawalID, RequestHash: hex.EncodeToString(hash[:]), Intent: ib, PSBT: r.psbt,
		From: from, IntentSignature: string(r.signature)}
	stored, _, err := n.store.BindWithdrawal(rec, storeEvent(audit.KindWithdrawalReceived, received), storeEvent(audit.KindWithdrawalDecided, decided))
	if err != nil {
		return nil, err
	}
	n.log.Info("withdrawal decided", "withdrawal", in.WithdrawalID, "allowed", d.Allowed, "rule", d.Rule, "approvals", decided.Approvals, "from", from)
	n.notify(stored)
	return stored, nil
}

// refusal turns a refused record into the error its submitter gets.
func refusal(w *store.Withdrawal) error {
	return withRule(errRefused, w.Rule, "withdrawal %s refused (%s): %s", w.ID, w.Rule, w.Reason)
}

// SubmitWithdrawal is the backend's entry point.
func (n *Node) SubmitWithdrawal(ctx context.Context, req *pb.SubmitWithdrawalRequest) (*pb.SubmitWithdrawalResponse, error) {
	r, err := requestFromProto(req.Intent, req.IntentSignature, req.Psbt)
	if err != nil {
		return nil, err
	}
	rec, err := n.admit(r, callerOf(ctx).Name, true)
	if err != nil {
		return nil, err
	}
	if rec.Status == store.WithdrawalRefused {
		return nil, refusal(rec)
	}
	if rec.Coordinator == n.id && (rec.Status == store.WithdrawalSigning || rec.Status == store.WithdrawalAwaiting) {
		n.startDriving(rec.ID) // an awaiting withdrawal is bound on a majority now, signed at quorum
	}
	return &pb.SubmitWithdrawalResponse{Withdrawal: n.withdrawalProto(rec)}, nil
}

// Bind is a peer's request to bind a withdrawal id here.
func (n *Node) Bind(ctx context.Context, req *pb.BindRequest) (*pb.BindResponse, error) {
	r, err := requestFromProto(req.Intent, req.IntentSignature, req.Psbt)
	if err != nil {
		return nil, err
	}
	rec, err := n.admit(r, callerOf(ctx).Name, false)
	if err != nil {
		return nil, err
	}
	switch rec.Status {
	case store.WithdrawalRefused:
		return nil, refusal(rec)
	case store.WithdrawalFailed:
		return nil, fmt.Errorf("%w: withdrawal %s failed here: %s", errRefused, rec.ID, rec.Reason)
	}
	return &pb.BindResponse{RequestHash: rec.Hash, Signatures: rec.Signatures}, nil
}

// startDriving runs a coordinator's withdrawal to its end in the
// background, once per withdrawal at a time.
func (n *Node) startDriving(id string) {
	n.driveMu.Lock()
	if n.driving[id] {
		n.rerun[id] = true // its state changed while driving: look again after
		n.driveMu.Unlock()
		return
	}
	n.driving[id] = true
	n.driveMu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			if err := n.drive(id); err != nil && n.ctx.Err() == nil {
				n.fail(id, err.Error())
			}
			n.driveMu.Lock()
			again := n.rerun[id] && n.ctx.Err() == nil
			delete(n.rerun, id)
			if !again {
				delete(n.driving, id)
				n.driveMu.Unlock()
				return
			}
			n.driveMu.Unlock()
		}
	}()
}

// drive binds the withdrawal on a majority, has a committee sign it, and
// finalizes it. An error is the reason it failed.
func (n *Node) drive(id string) error {
	rec, err := n.store.Withdrawal(id)
	if err != nil || (rec.Status != store.WithdrawalSigning && rec.Status != store.WithdrawalAwaiting) {
		return err
	}
	in, err := bitcoin.ParseCanonical(rec.Intent)
	if err != nil {
		return err
	}
	w, err := n.activeWallet(rec.WalletID)
	if err != nil {
		return err
	}
	pin := intentProto(in)
	members := w.Nodes
	var mu sync.Mutex
	bound := []string{n.id}
	var recorded [][]byte
	var problems []string
	_ = fanOut(slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == n.id }), func(peer string) error {
		c, err := n.peer(peer)
		var resp *pb.BindResponse
		if err == nil {
			ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
			resp, err = c.Bind(ctx, &pb.BindRequest{Intent: pin, Psbt: rec.PSBT, IntentSignature: rec.IntentSignature})
			cancel()
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %s", peer, statusMessage(err)))
		case !slices.Equal(resp.RequestHash, rec.Hash):
			problems = append(problems, peer+": bound another request")
		default:
			bound = append(bound, peer)
			if len(resp.Signatures) > 0 {
				recorded = resp.Signatures
			}
		}
		return nil
	})
	slices.Sort(bound)
	slices.Sort(problems)
	majority := len(members)/2 + 1
	if len(bound) < majority {
		return fmt.Errorf("bound on %d of %d nodes; signing needs a majority (%d): %s", len(bound), len(members), majority, strings.Join(problems, "; "))
	}
	if len(recorded) > 0 {
		// a committee signed before this node restarted: finish with that
		return n.finalize(rec, recorded, "", nil)
	}
	if rec, err = n.store.Withdrawal(id); err != nil || rec.Status != store.WithdrawalSigning {
		return err // awaiting approval (SubmitApproval starts signing at quorum), or rejected
	}
	req := &pb.SigningRequest{Kind: &pb.SigningRequest_Withdrawal{Withdrawal: &pb.WithdrawalRequest{
		Intent: pin, Psbt: rec.PSBT, IntentSignature: rec.IntentSignature, Approvals: approvalsProto(rec),
	}}}
	var lastErr error
	excluded := map[string]bool{}
	for attempt := 1; attempt <= majorityAttempts; attempt++ {
		committee := []string{n.id}
		for _, m := range bound {
			if len(committee) < w.Threshold && m != n.id && !excluded[m] {
				committee = append(committee, m)
			}
		}
		if len(committee) < w.Threshold {
			break
		}
		slices.Sort(committee)
		n.updateWithdrawal(id, func(r *store.Withdrawal) { r.Committee = committee })
		ctx, cancel := context.WithTimeout(n.ctx, 2*n.timeouts.signing)
		signed, err := n.Sign(ctx, w.ID, req, committee)
		cancel()
		if err == nil {
			var sigs [][]byte
			for _, s := range signed.Signatures {
				sigs = append(sigs, s[:])
			}
			return n.finalize(rec, sigs, signed.SessionID, committee)
		}
		lastErr = err
		n.log.Warn("withdrawal signing attempt failed", "withdrawal", id, "attempt", attempt, "err", err)
		var se *sessionError
		if errors.As(err, &se) {
			for _, m := range se.suspects {
				excluded[m] = true // blamed or silent: try the others
			}
		}
	}
	return fmt.Errorf("signing failed: %v", lastErr)
}

// finalizeLimits are the package's own maxima: what a bound request could
// have passed under any policy.
var finalizeLimits = bitcoin.Limits{
	MaxFee: bitcoin.MaxSatoshi, MaxInputs: policy.MaxInputs, MaxOutputs: bitcoin.MaxOutputs,
	MaxLockTime: bitcoin.LockTimeThreshold - 1, AllowRBF: true, ChangeIndexMax: bitcoin.MaxChangeIndex,
}

// finalize assembles the signed transaction, runs btcd's script engine on
// every input, and records it.
func (n *Node) finalize(rec *store.Withdrawal, sigs [][]byte, sessionID string, committee []string) error {
	in, err := bitcoin.ParseCanonical(rec.Intent)
	if err != nil {
		return err
	}
	w, err := n.activeWallet(rec.WalletID)
	if err != nil {
		return err
	}
	// The policy decided when the id was bound; a later change of policy
	// must not strand signatures made under it. Re-derive the transaction
	// only, within the package's own limits.
	tx, err := bitcoin.Rederive(in, rec.PSBT, walletKey(w), finalizeLimits)
	if err != nil {
		return fmt.Errorf("re-derivation failed at finalization: %v", err)
	}
	d := struct{ Withdrawal *bitcoin.Withdrawal }{tx}
	var raw [][64]byte
	for _, s := range sigs {
		if len(s) != 64 {
			return errors.New("a recorded signature is not 64 bytes")
		}
		raw = append(raw, [64]byte(s))
	}
	signedTx, err := d.Withdrawal.Finalize(raw)
	if err != nil {
		return fmt.Errorf("the signed transaction failed btcd's script engine: %v", err)
	}
	body := &audit.WithdrawalSigned{WithdrawalID: rec.ID, SessionID: sessionID, TxID: d.Withdrawal.TxID.String(), SignedTx: hex.EncodeToString(signedTx)}
	for _, s := range sigs {
		body.Signatures = append(body.Signatures, hex.EncodeToString(s))
	}
	out, err := n.store.UpdateWithdrawal(rec.ID, func(r *store.Withdrawal) ([]store.Event, error) {
		r.Status, r.SignedTx, r.Signatures, r.TxID, r.UpdatedAt = store.WithdrawalSigned, signedTx, sigs, d.Withdrawal.TxID.String(), n.now().UTC()
		if committee != nil {
			r.Committee = committee
		}
		return []store.Event{storeEvent(audit.KindWithdrawalSigned, body)}, nil
	})
	if err != nil {
		return err
	}
	n.log.Info("withdrawal signed", "withdrawal", rec.ID, "txid", out.TxID)
	n.notify(out)
	return nil
}

func (n *Node) fail(id, reason string) {
	out, err := n.store.UpdateWithdrawal(id, func(r *store.Withdrawal) ([]store.Event, error) {
		if r.Final() {
			return nil, nil
		}
		r.Status, r.Reason, r.UpdatedAt = store.WithdrawalFailed, reason, n.now().UTC()
		return []store.Event{storeEvent(audit.KindWithdrawalFailed, &audit.WithdrawalFailed{WithdrawalID: id, Reason: reason})}, nil
	})
	if err != nil {
		n.log.Error("recording a failed withdrawal", "withdrawal", id, "err", err)
		return
	}
	n.log.Warn("withdrawal failed", "withdrawal", id, "reason", reason)
	n.notify(out)
}

func (n *Node) updateWithdrawal(id string, fn func(r *store.Withdrawal)) {
	out, err := n.store.UpdateWithdrawal(id, func(r *store.Withdrawal) ([]store.Event, error) { fn(r); return nil, nil })
	if err == nil {
		n.notify(out)
	}
}

// resumeWithdrawals picks up, after a restart, what this node was
// coordinating: nothing accepted is lost.
func (n *Node) resumeWithdrawals() {
	ws, err := n.store.Withdrawals("", 1<<30)
	if err != nil {
		n.log.Error("listing withdrawals", "err", err)
		return
	}
	for _, w := range ws {
		if (w.Status == store.WithdrawalSigning || w.Status == store.WithdrawalAwaiting) && w.Coordinator == n.id {
			n.log.Info("resuming withdrawal", "withdrawal", w.ID)
			n.startDriving(w.ID)
		}
	}
}

// withdrawalDigests is a member's own re-derivation of a withdrawal it is
// asked to sign: its binding of the id must match (binding it now if it has
// none), the approvals its decision required must be there (checked here),
// the policy in force must allow it now, and it must not have signed it.
func (n *Node) withdrawalDigests(w *store.Wallet, req *pb.WithdrawalRequest, coordinator string) ([]derived, string, error) {
	r, err := requestFromProto(req.Intent, req.IntentSignature, req.Psbt)
	if err != nil {
		return nil, "", err
	}
	in := r.intent
	if len(req.Approvals) > maxCarriedApprovals {
		return nil, "", invalid("approvals: %d, at most %d", len(req.Approvals), maxCarriedApprovals)
	}
	if in.WalletID != w.ID {
		return nil, "", invalid("intent.wallet_id %s is not the session's wallet %s", in.WalletID, w.ID)
	}
	rec, err := n.admit(r, coordinator, false)
	if err != nil {
		return nil, "", err
	}
	if rec.Status == store.WithdrawalAwaiting {
		n.takeCarriedApprovals(in.WithdrawalID, req.Approvals, coordinator)
		if rec, err = n.store.Withdrawal(in.WithdrawalID); err != nil {
			return nil, "", err
		}
	}
	switch rec.Status {
	case store.WithdrawalRefused:
		return nil, "", refusal(rec)
	case store.WithdrawalAwaiting:
		return nil, "", fmt.Errorf("%w: withdrawal %s awaits approval here: %d of %d approvals of group %s counted", errRefused, in.WithdrawalID,
			len(rec.Approvals), rec.Tier.Approvals, rec.Tier.Group)
	case store.WithdrawalSigned:
		return nil, "", fmt.Errorf("%w: withdrawal %s is already signed; it is never signed twice", errRefused, in.WithdrawalID)
	case store.WithdrawalFailed:
		return nil, "", fmt.Errorf("%w: withdrawal %s failed here: %s", errRefused, in.WithdrawalID, rec.Reason)
	}
	n.decideMu.Lock()
	d, _, err := n.decide(r, w, n.now().UTC())
	n.decideMu.Unlock()
	if err != nil {
		return nil, "", err
	}
	if !d.Allowed {
		return nil, "", withRule(errRefused, d.Rule, "withdrawal %s refused (%s): %s", in.WithdrawalID, d.Rule, d.Reason)
	}
	out := make([]derived, len(d.Withdrawal.Digests))
	for i, h := range d.Withdrawal.Digests {
		child, err := walletKey(w).Derive(d.Withdrawal.Inputs[i].Path)
		if err != nil {
			return nil, "", err
		}
		out[i] = derived{Hash: h, Child: child}
	}
	return out, in.WithdrawalID, nil
}

// memberSigned records, on a committee member, the signatures it helped
// make.
func (n *Node) memberSigned(id, sessionID string, sigs [][64]byte) {
	var raw [][]byte
	body := &audit.WithdrawalSigned{WithdrawalID: id, SessionID: sessionID}
	for _, s := range sigs {
		raw = append(raw, s[:])
		body.Signatures = append(body.Signatures, hex.EncodeToString(s[:]))
	}
	out, err := n.store.UpdateWithdrawal(id, func(r *store.Withdrawal) ([]store.Event, error) {
		if r.Coordinator == n.id {
			r.Signatures = raw // the coordinator records it signed once finalized
			return nil, nil
		}
		body.TxID = r.TxID
		r.Status, r.Signatures, r.UpdatedAt = store.WithdrawalSigned, raw, n.now().UTC()
		return []store.Event{storeEvent(audit.KindWithdrawalSigned, body)}, nil
	})
	if err != nil {
		n.log.Error("recording signatures", "withdrawal", id, "err", err)
		return
	}
	n.notify(out)
}

// ---- reading withdrawals ----

// GetWithdrawal returns a withdrawal as this node knows it.
func (n *Node) GetWithdrawal(_ context.Context, req *pb.GetWithdrawalRequest) (*pb.GetWithdrawalResponse, error) {
	if !withdrawalIDPattern.MatchString(req.WithdrawalId) {
		return nil, invalid("withdrawal_id %q: want 1-64 of A-Z a-z 0-9 . _ : -", req.WithdrawalId)
	}
	w, err := n.store.Withdrawal(req.WithdrawalId)
	if err != nil {
		return nil, err
	}
	return &pb.GetWithdrawalResponse{Withdrawal: n.withdrawalProto(w)}, nil
}

// ListWithdrawals lists withdrawals, newest first.
func (n *Node) ListWithdrawals(_ context.Context, req *pb.ListWithdrawalsRequest) (*pb.ListWithdrawalsResponse, error) {
	if req.WalletId != "" && !validWalletID(req.WalletId) {
		return nil, invalid("wallet_id %q: want w- and 16 hex digits", req.WalletId)
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		return nil, invalid("limit %d: at most 1000", limit)
	}
	ws, err := n.store.Withdrawals(req.WalletId, 1<<30)
	if err != nil {
		return nil, err
	}
	out := &pb.ListWithdrawalsResponse{}
	for _, w := range ws {
		if len(out.Withdrawals) == limit {
			break
		}
		if req.Status == pb.WithdrawalStatus_WITHDRAWAL_STATUS_UNSPECIFIED || statusOf[w.Status] == req.Status {
			out.Withdrawals = append(out.Withdrawals, n.withdrawalProto(w))
		}
	}
	return out, nil
}

// WatchWithdrawal streams a withdrawal's state and its changes until it is
// final.
func (n *Node) WatchWithdrawal(req *pb.WatchWithdrawalRequest, stream pb.WithdrawalService_WatchWithdrawalServer) error {
	if !withdrawalIDPattern.MatchString(req.WithdrawalId) {
		return invalid("withdrawal_id %q: want 1-64 of A-Z a-z 0-9 . _ : -", req.WithdrawalId)
	}
	ch, stop := n.subscribe(req.WithdrawalId)
	defer stop()
	w, err := n.store.Withdrawal(req.WithdrawalId)
	if err != nil {
		return err
	}
	for {
		if err := stream.Send(&pb.WatchWithdrawalResponse{Withdrawal: n.withdrawalProto(w)}); err != nil {
			return err
		}
		if w.Final() {
			return nil
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-n.ctx.Done():
			return fmt.Errorf("%w: node shutting down", errUnavailable)
		case w = <-ch:
		}
	}
}

// subscribe delivers every later change of one withdrawal; a slow watcher
// gets the latest state.
func (n *Node) subscribe(id string) (<-chan *store.Withdrawal, func()) {
	ch := make(chan *store.Withdrawal, 1)
	n.watchMu.Lock()
	n.watchers[id] = append(n.watchers[id], ch)
	n.watchMu.Unlock()
	return ch, func() {
		n.watchMu.Lock()
		n.watchers[id] = slices.DeleteFunc(n.watchers[id], func(c chan *store.Withdrawal) bool { return c == ch })
		if len(n.watchers[id]) == 0 {
			delete(n.watchers, id)
		}
		n.watchMu.Unlock()
	}
}

func (n *Node) notify(w *store.Withdrawal) {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	for _, ch := range n.watchers[w.ID] {
		select {
		case <-ch: // drop the stale state
		default:
		}
		ch <- w
	}
}

var statusOf = map[store.WithdrawalStatus]pb.WithdrawalStatus{
	store.WithdrawalRefused:  pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED,
	store.WithdrawalAwaiting: pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL,
	store.WithdrawalBound:    pb.WithdrawalStatus_WITHDRAWAL_STATUS_RECEIVED,
	store.WithdrawalSigning:  pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNING,
	store.WithdrawalSigned:   pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED,
	store.WithdrawalFailed:   pb.WithdrawalStatus_WITHDRAWAL_STATUS_FAILED,
}

func (n *Node) withdrawalProto(w *store.Withdrawal) *pb.Withdrawal {
	in, _ := bitcoin.ParseCanonical(w.Intent)
	out := &pb.Withdrawal{
		Intent: intentProto(in), Status: statusOf[w.Status], Reason: w.Reason, RequestHash: w.Hash, Psbt: w.PSBT,
		Txid: w.TxID, SignedTx: w.SignedTx, FeeSat: uint64(w.FeeSat), Coordinator: w.Coordinator, Committee: w.Committee,
		CreatedAt: timestamppb.New(w.CreatedAt), UpdatedAt: timestamppb.New(w.UpdatedAt), DestinationLabel: w.Label,
		IntentSignature: w.IntentSignature, PolicyHash: w.PolicyHash, PolicyVersion: w.PolicyVersion, Originator: w.Originator,
		Approval: n.approvalState(w),
	}
	if w.Rule != "" {
		out.Rules = []string{w.Rule}
	}
	if w.Status != store.WithdrawalSigned {
		out.Txid = w.TxID // known from the unsigned transaction
	}
	return out
}

func intentProto(in bitcoin.Intent) *pb.WithdrawalIntent {
	var network pb.Network
	for k, v := range networks {
		if v == in.Network {
			network = k
		}
	}
	return &pb.WithdrawalIntent{WithdrawalId: in.WithdrawalID, WalletId: in.WalletID, Network: network, Asset: in.Asset,
		Destination: in.Destination, AmountSat: uint64(in.Amount), FeeCapSat: uint64(in.FeeCap), RequestedBy: in.RequestedBy}
}
