package signer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
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
	majorityAttempts = 3

	// maxUnsignedTx is the largest unsigned transaction a node accepts,
	// 730,080 bytes: what the withdrawal.received record of an allowed
	// request can hold beside the largest intent, intent signature and
	// caller, so that every request the node accepts can be logged. The
	// chains read up to chain.MaxUnsignedTxSize (1 MiB), but the record
	// holds the transaction in base64 (4 bytes for every 3) in a body of
	// at most audit.MaxBody (1 MiB). Raising that instead would change
	// the record format (its limits change only with a new version, which
	// every reader of the logs must learn); lowering the node's own limit
	// changes nothing that is logged. 713 KiB is still above any standard
	// previous transaction a PSBT carries (400,000 weight units) and far
	// above a withdrawal of 64 inputs with ordinary ones, or the 128 KiB
	// of an Ethereum transaction.
	maxUnsignedTx = min(chain.MaxUnsignedTxSize, (audit.MaxBody-maxReceivedOverhead)/4*3)

	// maxReceivedOverhead is all of a withdrawal.received body but the
	// transaction, at worst: the intent, its signature and the caller,
	// each byte escaped by encoding/json to at most 6 (\u003c, \ufffd),
	// and within 1 KiB the field names, the withdrawal id, the request
	// hash, and a refused transaction's hash and size.
	maxReceivedOverhead = 6*(chain.MaxIntentSize+keys.MaxSignatureSize+pki.MaxNameLen) + 1<<10
)

// request is a withdrawal request as it arrives: from the backend, or
// from a coordinating peer.
type request struct {
	intent     chain.Intent
	signature  []byte // the originating system's, over intent.Canonical()
	unsignedTx []byte
}

// requestFromProto parses a request's canonical intent and checks its
// chain-neutral shape and sizes: InvalidArgument naming the field and
// rule. Everything else (addresses, amounts on the chain, the
// transaction) is the policy's, and ends in a refusal that is logged.
func requestFromProto(intent, signature, unsignedTx []byte) (request, error) {
	if len(intent) == 0 {
		return request{}, invalid("intent is missing: want its canonical bytes")
	}
	in, err := chain.ParseIntent(intent)
	if err != nil {
		return request{}, invalid("intent: %v", err)
	}
	c, ok := chains.Lookup(in.Chain)
	if !ok {
		return request{}, withRule(errInvalid, string(chain.RuleIntentChain), "intent.chain %q: want one of %v", in.Chain, chains.Names())
	}
	err = in.Check()
	if err == nil {
		err = c.CheckIntent(in, nil) // what the chain checks without the policy
	}
	var rf *chain.Refusal
	switch {
	case errors.As(err, &rf):
		return request{}, withRule(errInvalid, string(rf.Rule), "intent: %v", err)
	case err != nil:
		return request{}, invalid("intent: %v", err)
	}
	if len(unsignedTx) == 0 || len(unsignedTx) > maxUnsignedTx {
		return request{}, invalid("unsigned_tx: %d bytes, want 1 to %d", len(unsignedTx), maxUnsignedTx)
	}
	if len(signature) > keys.MaxSignatureSize {
		return request{}, invalid("intent_signature: %d bytes, at most %d", len(signature), keys.MaxSignatureSize)
	}
	return request{intent: in, signature: signature, unsignedTx: unsignedTx}, nil
}

// errConflict is a withdrawal id offered with a request other than the one
// it is bound to.
var errConflict = errors.New("withdrawal.id_reused")

// decide decides a request under the bundle in force, with the wallet's
// velocity and the account nonces by this node's committed history.
// Callers hold decideMu.
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
	book := &nonceBook{store: n.store, exclude: r.intent.WithdrawalID}
	d := b.Decide(policy.Request{Intent: r.intent, IntentSignature: r.signature, UnsignedTx: r.unsignedTx, Wallet: walletKey(w),
		Spent: spent, Nonces: book, Now: now})
	if book.err != nil {
		return policy.Decision{}, spent, book.err
	}
	return d, spent, nil
}

// nonceBook is the store's account nonces as the policy reads them.
type nonceBook struct {
	store   *store.Store
	exclude string // the withdrawal being decided, which a member may have bound already
	err     error
}

func (b *nonceBook) Nonce(account string, nonce uint64) policy.NonceState {
	st, err := b.store.Nonce(account, nonce, b.exclude)
	if err != nil {
		b.err = err
		return policy.NonceState{}
	}
	out := policy.NonceState{Known: st.Known, Next: st.Next}
	if h := st.Holder; h != nil {
		out.Holder = h.ID
		out.HolderIntent, _ = chain.ParseIntent(h.Intent)
		out.HolderFee, _ = h.FeeOf()
	}
	return out
}

// admit decides a withdrawal on this node and binds its id, atomically with
// respect to other decisions (the velocity caps and nonces count what was
// admitted). A known id with the same request returns its record; with
// another request it is refused and raised as an alert in the audit log.
func (n *Node) admit(r request, from string, coordinating bool) (*store.Withdrawal, error) {
	in := r.intent
	ib := in.Canonical()
	hash := policy.RequestHash(in, r.unsignedTx)
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
		ID: in.WithdrawalID, WalletID: in.WalletID, Intent: ib, UnsignedTx: r.unsignedTx, Hash: hash[:], Status: store.WithdrawalBound,
		Label: d.DestinationLabel, PolicyHash: d.PolicyHash[:], PolicyVersion: d.PolicyVersion, Originator: d.Originator,
		IntentSignature: r.signature, CreatedAt: now, UpdatedAt: now,
	}
	if coordinating {
		rec.Status, rec.Coordinator = store.WithdrawalSigning, n.id
	}
	decided := audit.Decided(in.WithdrawalID, hash, d, spent, now)
	if d.Tx != nil {
		rec.TxID, rec.Fee, rec.FeeAsset = d.Tx.ID, d.Tx.Fee, d.Tx.FeeAsset
	}
	received := &audit.WithdrawalReceived{WithdrawalID: in.WithdrawalID, RequestHash: hex.EncodeToString(hash[:]), Intent: ib, UnsignedTx: r.unsignedTx,
		From: from, IntentSignature: string(r.signature)}
	switch {
	case !d.Allowed:
		rec.Status, rec.Rule, rec.Reason = store.WithdrawalRefused, d.Rule, d.Reason
		// A refusal is kept and logged by the transaction's hash and size
		// only: what a client makes the node write for a refused call is
		// bounded by the intent and its signature, whatever it sends.
		sum := sha256.Sum256(r.unsignedTx)
		rec.UnsignedTx = nil
		received.UnsignedTx, received.UnsignedTxSHA256, received.UnsignedTxSize = nil, hex.EncodeToString(sum[:]), len(r.unsignedTx)
	default:
		rec.Outflow = decided.Outflow
		if rec.Outflow == nil {
			rec.Outflow = chain.Amounts{}
		}
		if d.Nonce != nil {
			rec.Nonce, rec.Replaces = &store.Nonce{Account: d.Nonce.Account, Nonce: d.Nonce.Nonce}, d.Replaces
		}
		if d.Approval != nil {
			rec.Status = store.WithdrawalAwaiting
			rec.Tier = &store.Tier{Asset: d.Approval.Asset, MinAmount: d.Approval.MinAmount, Approvals: d.Approval.Approvals, Group: d.Approval.Group}
		}
	}
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
	r, err := requestFromProto(req.Intent, req.IntentSignature, req.UnsignedTx)
	if err != nil {
		return nil, err
	}
	caller := callerOf(ctx)
	settle, err := n.refusals.reserve(caller.String(), n.now())
	if err != nil {
		return nil, err
	}
	rec, err := n.admit(r, caller.Name, true)
	settle(errors.Is(err, errConflict) || (err == nil && rec.Status == store.WithdrawalRefused))
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
	r, err := requestFromProto(req.Intent, req.IntentSignature, req.UnsignedTx)
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
	w, err := n.activeWallet(rec.WalletID)
	if err != nil {
		return err
	}
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
			resp, err = c.Bind(ctx, &pb.BindRequest{Intent: rec.Intent, UnsignedTx: rec.Tx(), IntentSignature: rec.IntentSignature})
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
		Intent: rec.Intent, UnsignedTx: rec.Tx(), IntentSignature: rec.IntentSignature, Approvals: approvalsProto(rec),
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

// finalize assembles the signed transaction, has the chain check it
// (Bitcoin: btcd's script engine on every input; Ethereum: the sender
// recovered to the wallet's address), and records it.
func (n *Node) finalize(rec *store.Withdrawal, sigs [][]byte, sessionID string, committee []string) error {
	tx, err := n.rederiveBound(rec)
	if err != nil {
		return fmt.Errorf("re-derivation failed at finalization: %v", err)
	}
	var raw [][64]byte
	for _, s := range sigs {
		if len(s) != 64 {
			return errors.New("a recorded signature is not 64 bytes")
		}
		raw = append(raw, [64]byte(s))
	}
	done, err := tx.Finish(raw)
	if err != nil {
		return fmt.Errorf("the signed transaction failed its check: %v", err)
	}
	body := &audit.WithdrawalSigned{WithdrawalID: rec.ID, SessionID: sessionID, TxID: done.TxID, SignedTx: hex.EncodeToString(done.Raw)}
	for _, s := range sigs {
		body.Signatures = append(body.Signatures, hex.EncodeToString(s))
	}
	out, err := n.store.UpdateWithdrawal(rec.ID, func(r *store.Withdrawal) ([]store.Event, error) {
		r.Status, r.SignedTx, r.Signatures, r.TxID, r.UpdatedAt = store.WithdrawalSigned, done.Raw, sigs, done.TxID, n.now().UTC()
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

// rederiveBound re-derives a bound withdrawal's transaction with the
// chain parameters of the bundle its decision used. The policy decided
// when the id was bound; a later change of policy must not strand
// signatures made under it, so only the transaction is re-derived, within
// no fee cap of the policy's.
func (n *Node) rederiveBound(rec *store.Withdrawal) (*chain.Tx, error) {
	in, err := chain.ParseIntent(rec.Intent)
	if err != nil {
		return nil, err
	}
	w, err := n.activeWallet(rec.WalletID)
	if err != nil {
		return nil, err
	}
	b, err := n.bundle(rec.PolicyHash)
	if err != nil {
		return nil, err
	}
	rules, ok := b.Wallets[rec.WalletID]
	if !ok {
		return nil, fmt.Errorf("policy version %d has no rules for wallet %s", b.Version, rec.WalletID)
	}
	c, params := rules.ChainOf()
	return c.Rederive(in, rec.Tx(), walletKey(w), params, chain.Limits{MaxFee: noFeeCap})
}

// noFeeCap is 2^256-1: finalization re-derives within the intent's fee cap
// only.
var noFeeCap = chain.MustAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")

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

// withdrawalItems is a member's own re-derivation of a withdrawal it is
// asked to sign: its binding of the id must match (binding it now if it has
// none), the approvals its decision required must be there (checked here),
// the policy in force must allow it now, and it must not have signed it.
func (n *Node) withdrawalItems(w *store.Wallet, req *pb.WithdrawalRequest, coordinator string) ([]chain.SignItem, string, error) {
	r, err := requestFromProto(req.Intent, req.IntentSignature, req.UnsignedTx)
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
	return d.Tx.Sign, in.WithdrawalID, nil
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
	if !chain.ValidID(req.WithdrawalId) {
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
	if !chain.ValidID(req.WithdrawalId) {
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
	in, _ := chain.ParseIntent(w.Intent)
	fee, feeAsset := w.FeeOf()
	out := &pb.Withdrawal{
		WithdrawalId: w.ID, WalletId: w.WalletID, Chain: in.Chain, Network: in.Network, Intent: w.Intent,
		Status: statusOf[w.Status], Reason: w.Reason, RequestHash: w.Hash, UnsignedTx: w.Tx(),
		SignedTx: w.SignedTx, Coordinator: w.Coordinator, Committee: w.Committee,
		CreatedAt: timestamppb.New(w.CreatedAt), UpdatedAt: timestamppb.New(w.UpdatedAt), DestinationLabel: w.Label,
		IntentSignature: w.IntentSignature, PolicyHash: w.PolicyHash, PolicyVersion: w.PolicyVersion, Originator: w.Originator,
		Approval: n.approvalState(w), Replaces: w.Replaces,
	}
	if w.TxID != "" {
		out.Tx = &pb.TxRef{Id: w.TxID, Fee: fee.String(), FeeAsset: feeAsset}
	}
	if w.Nonce != nil {
		out.Nonce = &pb.AccountNonce{Account: w.Nonce.Account, Nonce: w.Nonce.Nonce}
	}
	if w.Rule != "" {
		out.Rules = []string{w.Rule}
	}
	return out
}
