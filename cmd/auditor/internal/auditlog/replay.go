package auditlog

// Replay re-runs, from one node's verified log alone, every check the node
// ran, with the very code the node runs (package policy), and compares
// what it gets with what the node recorded:
//
//   - policy.accepted: the first bundle must pass policy.AcceptGenesis, each
//     later one policy.Accept against the bundle then in force, with the
//     same officers counted;
//   - withdrawal.decided: the request hash, the bundle in force, the
//     wallet's 24-hour and 7-day outflow per asset recomputed from the
//     log's earlier decisions, the account nonces the log's earlier
//     decisions hold (account chains), and the whole decision
//     (bundle.Decide with the decision's time), mapped to its record by
//     audit.Decided as the node maps it. A refused request is logged by
//     its transaction's SHA-256 and size, not the transaction: its
//     decision must be a refusal, its request hash, bundle and outflow
//     are checked, and it is counted as not re-derived (ByHash), never
//     as a discrepancy; an allowed decision without its transaction is
//     one;
//   - withdrawal.approval, .approved, .rejected: each approval checked
//     again (CheckApproval, an officer counts once), the quorum and the
//     rejection by policy.Bundle.Tally; an approval not counted because
//     the withdrawal waits for none (approval.not_needed,
//     approval.not_awaiting) must not be for one awaiting approval in the
//     log;
//   - withdrawal.signed: a passing decision (and the quorum, where the
//     decision required one) before it, and each signature valid for the
//     re-derived message and the child key the chain derived for it from
//     the wallet's root.
//
// Every chain of policy/chains replays the same way: the intent is read
// with chain.ParseIntent (both canonical versions), the unsigned
// transaction is re-derived by the wallet's chain behind policy.Decide,
// and signatures are checked for the chain's scheme.
//
// It reads the log as a stream: signatures are checked on a worker pool
// (Log.Records), decisions are re-run and signatures re-verified on
// another, and the state kept is the bundles by hash, the withdrawals still
// open, each wallet's allowed withdrawals of the last 7 days, and the
// account nonces held (see nonces.go).

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
	"github.com/countersign/countersign/signer/audit"
)

// What replay finds, in Finding.What: stable words.
const (
	ReplayBundleRefused     = "bundle_refused"      // a policy.accepted replay does not accept
	ReplayDecisionMismatch  = "decision_mismatch"   // a decision that replay disagrees with
	ReplayApprovalMismatch  = "approval_mismatch"   // an approval replay counts otherwise
	ReplayQuorumMismatch    = "quorum_mismatch"     // withdrawal.approved without replay's quorum
	ReplayRejectionMismatch = "rejection_mismatch"  // withdrawal.rejected without a valid rejection
	ReplaySignedNotAllowed  = "signed_not_allowed"  // signature without a passing decision
	ReplaySignedNotApproved = "signed_not_approved" // signed without approval
	ReplayBadSignature      = "bad_signature"       // signature does not verify
	ReplayWalletKeyMismatch = "wallet_key_mismatch" // a chain code or key given that wallet.created contradicts
	ReplayNotReplayed       = "not_replayed"        // a decision replay could not re-run (no wallet key)
	ReplayOutOfPlace        = "out_of_place"        // a record with nothing before it that it can follow
	ReplayBadBody           = "bad_body"            // a known kind whose body does not parse
	ReplayLogBad            = "log_bad"             // the log has a bad record: replay stopped there
	replayEvictAfter        = policy.Week           // an open withdrawal not awaiting approval is forgotten this long after its decision
)

// ReplayResult is the replay of one log.
type ReplayResult struct {
	Node, Path string
	Records    uint64
	// Decided counts withdrawal.decided records, Agreed those replay
	// re-ran and agrees with in full.
	Decided, Agreed int
	Bundles         int // policy.accepted records checked
	Approvals       int // withdrawal.approval records checked
	Signed          int // withdrawal.signed records checked
	Findings        []Finding

	// ByHash counts the decisions (refusals) whose transaction was logged
	// by its hash only: checked for all but the re-derivation, not re-run.
	ByHash int
}

// A WalletKey is a wallet's root as the auditor was given it: a BIP32
// root (secp256k1 public key and chain code), the root of the wallets of
// every chain countersign signs for today.
type WalletKey = bitcoin.Key

// Replay replays a log. keys are the wallets' roots the auditor holds
// (from a node database's wallets, or a file); each is checked against the
// log's wallet.created record before use. workers re-run decisions (0:
// GOMAXPROCS).
func Replay(l *Log, keys map[string]WalletKey, workers int) *ReplayResult {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	r := &replayer{
		res:     &ReplayResult{Node: l.Node, Path: l.Path},
		given:   keys,
		wallets: map[string]*walletState{},
		bundles: map[[32]byte]*policy.Bundle{},
		open:    map[string]*withdrawal{},
		spends:  map[string]*window{},
		nonces:  newNonceLog(),
		jobs:    make(chan func(), 4*workers),
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range r.jobs {
				job()
			}
		}()
	}
	for e, err := range l.Records() {
		if err != nil {
			seq := r.res.Records
			var ve *audit.VerifyError
			if errors.As(err, &ve) {
				seq = ve.Seq
			}
			r.find(seq, ReplayLogBad, "replay stopped at a bad record (run 'auditor verify'): %v", err)
			break
		}
		r.res.Records++
		r.record(e)
	}
	close(r.jobs)
	wg.Wait()
	r.res.Agreed = int(r.agreed.Load())
	slices.SortStableFunc(r.res.Findings, func(a, b Finding) int { return cmp.Compare(a.Seq, b.Seq) })
	return r.res
}

type replayer struct {
	res     *ReplayResult
	given   map[string]WalletKey
	wallets map[string]*walletState
	bundles map[[32]byte]*policy.Bundle // every bundle the log accepted, by hash
	current *policy.Bundle              // the bundle in force
	open    map[string]*withdrawal      // by withdrawal id
	evict   []evictable                 // open withdrawals in decision order
	spends  map[string]*window          // by wallet: allowed withdrawals of the last 7 days
	nonces  *nonceLog                   // the account nonces the log's allowed decisions hold
	jobs    chan func()
	agreed  atomic.Int64
	// pendingReq is the withdrawal.received just read: its decision
	// follows it (the node writes both in one transaction).
	pendingReq pendingRequest

	mu sync.Mutex // guards res.Findings
}

type walletState struct {
	key      WalletKey
	ok       bool   // key given and matching wallet.created
	problem  string // why not
	reported bool
}

// withdrawal is what replay keeps of a withdrawal until it ends.
type withdrawal struct {
	id          string
	intent      chain.Intent
	requestHash [32]byte
	recvSeq     uint64
	decided     *audit.WithdrawalDecided // as recorded
	decSeq      uint64
	bundle      *policy.Bundle // the one in force at the decision
	pending     policy.Pending
	counted     []policy.SignedApproval // approvals that counted, in order
	approved    bool
	hold        *nonceHold // the account nonce its recorded decision holds, if any
	// done is closed once the re-run decision is in decision (nil if it
	// could not be re-run).
	done     chan struct{}
	decision *policy.Decision
}

type evictable struct {
	id string
	at time.Time
}

func (r *replayer) find(seq uint64, what, format string, a ...any) {
	r.mu.Lock()
	r.res.Findings = append(r.res.Findings, Finding{Node: r.res.Node, Seq: seq, What: what, Detail: fmt.Sprintf(format, a...)})
	r.mu.Unlock()
}

func (r *replayer) record(e *Entry) {
	switch e.Kind {
	case audit.KindPolicyAccepted, audit.KindWalletCreated, audit.KindWithdrawalReceived, audit.KindWithdrawalDecided,
		audit.KindWithdrawalApproval, audit.KindWithdrawalApproved, audit.KindWithdrawalRejected,
		audit.KindWithdrawalSigned, audit.KindWithdrawalFailed:
	default:
		return
	}
	b, err := e.Body()
	if err != nil {
		r.find(e.Seq, ReplayBadBody, "%s: %v", e.Kind, err)
		return
	}
	r.forget(e.Time)
	switch b := b.(type) {
	case *audit.PolicyAccepted:
		r.policy(e, b)
	case *audit.WalletCreated:
		r.walletCreated(e, b)
	case *audit.WithdrawalReceived:
		r.received(e, b)
	case *audit.WithdrawalDecided:
		r.decided(e, b)
	case *audit.WithdrawalApproval:
		r.approval(e, b)
	case *audit.WithdrawalApproved:
		r.approvedRec(e, b)
	case *audit.WithdrawalRejected:
		r.rejected(e, b)
	case *audit.WithdrawalSigned:
		r.signed(e, b)
	case *audit.WithdrawalFailed:
		// A failed withdrawal leaves the velocity, and keeps its nonce:
		// another node may have signed it.
		r.unspend(b.WithdrawalID)
		delete(r.open, b.WithdrawalID)
	}
}

// forget drops open withdrawals decided more than a week before now that
// wait for nothing replay can see (a node that bound a withdrawal another
// committee signed never logs its end): memory stays bounded by the
// traffic of a week.
func (r *replayer) forget(now time.Time) {
	cut := now.Add(-replayEvictAfter)
	i := 0
	for ; i < len(r.evict) && r.evict[i].at.Before(cut); i++ {
		w := r.open[r.evict[i].id]
		if w == nil || w.decided == nil {
			continue
		}
		if w.decided.Approvals > 0 && !w.approved {
			r.evict = append(r.evict, r.evict[i]) // still awaiting approval: keep
			r.evict[len(r.evict)-1].at = now
			continue
		}
		delete(r.open, r.evict[i].id)
	}
	r.evict = r.evict[i:]
}

func (r *replayer) policy(e *Entry, b *audit.PolicyAccepted) {
	r.res.Bundles++
	sigs := make([]policy.Signature, len(b.Signatures))
	for i, s := range b.Signatures {
		sigs[i] = policy.Signature{Officer: s.Officer, Signature: s.Signature}
	}
	var (
		next     *policy.Bundle
		signedBy []string
		err      error
	)
	if r.current == nil {
		if next, err = policy.AcceptGenesis(b.Bundle, sigs); err == nil {
			for _, s := range sigs {
				signedBy = append(signedBy, s.Officer)
			}
		}
		if b.Previous != "" {
			r.find(e.Seq, ReplayBundleRefused, "the first bundle names a previous bundle %s", b.Previous)
		}
	} else {
		next, signedBy, err = policy.Accept(r.current, b.Bundle, sigs)
		if h := r.current.Hash(); b.Previous != hex.EncodeToString(h[:]) {
			r.find(e.Seq, ReplayBundleRefused, "previous bundle %q, but version %d (%x) was in force", b.Previous, r.current.Version, h)
		}
	}
	if err != nil {
		r.find(e.Seq, ReplayBundleRefused, "policy bundle version %d that replay does not accept: %v", b.Version, err)
		// The node used it: replay the decisions under it all the same, so
		// each finding after this one is about that decision alone.
		if next, err = policy.ParseBundle(b.Bundle); err != nil {
			return
		}
	} else if !slices.Equal(signedBy, b.SignedBy) {
		r.find(e.Seq, ReplayBundleRefused, "signed_by %v, replay counts %v", b.SignedBy, signedBy)
	}
	h := next.Hash()
	if b.Hash != hex.EncodeToString(h[:]) || b.Version != next.Version {
		r.find(e.Seq, ReplayBundleRefused, "the record names version %d hash %s; its bundle is version %d hash %x", b.Version, b.Hash, next.Version, h)
	}
	r.bundles[h] = next
	r.current = next
}

func (r *replayer) walletCreated(e *Entry, b *audit.WalletCreated) {
	ws := &walletState{}
	r.wallets[b.WalletID] = ws
	k, ok := r.given[b.WalletID]
	if !ok {
		ws.problem = fmt.Sprintf("no chain code for wallet %s: give the node's own database or -wallets", b.WalletID)
		return
	}
	ws.key = k
	cch := audit.ChainCodeHash(k.ChainCode)
	switch {
	case b.PublicKey != hex.EncodeToString(k.PublicKey[:]):
		ws.problem = fmt.Sprintf("the key given for wallet %s is %x, wallet.created says %s", b.WalletID, k.PublicKey, b.PublicKey)
		r.find(e.Seq, ReplayWalletKeyMismatch, "%s", ws.problem)
	case b.ChainCodeHash != hex.EncodeToString(cch[:]):
		ws.problem = fmt.Sprintf("the chain code given for wallet %s hashes to %x, wallet.created says %s", b.WalletID, cch, b.ChainCodeHash)
		r.find(e.Seq, ReplayWalletKeyMismatch, "%s", ws.problem)
	default:
		ws.ok = true
	}
}

func (r *replayer) received(e *Entry, b *audit.WithdrawalReceived) {
	in, err := chain.ParseIntent(b.Intent)
	if err != nil {
		r.find(e.Seq, ReplayBadBody, "withdrawal %s: intent: %v", b.WithdrawalID, err)
		return
	}
	tx := b.Tx()
	byHash := len(tx) == 0 && (b.UnsignedTxSHA256 != "" || b.UnsignedTxSize != 0)
	var h [32]byte
	switch {
	case byHash:
		// A refusal logged by the transaction's hash: the request hash
		// covers the transaction's bytes, so replay takes it as logged
		// and the decision must agree with it.
		if sum, err := hex.DecodeString(b.UnsignedTxSHA256); err != nil || len(sum) != 32 || b.UnsignedTxSize < 1 || b.UnsignedTxSize > chain.MaxUnsignedTxSize {
			r.find(e.Seq, ReplayBadBody, "withdrawal %s: unsigned_tx_sha256 %q and unsigned_tx_size %d: want 64 hex digits and 1 to %d bytes",
				b.WithdrawalID, b.UnsignedTxSHA256, b.UnsignedTxSize, chain.MaxUnsignedTxSize)
		}
		h = hashOf(b.RequestHash)
		if b.RequestHash != hex.EncodeToString(h[:]) || in.WithdrawalID != b.WithdrawalID {
			r.find(e.Seq, ReplayDecisionMismatch, "withdrawal %s: request hash %q of intent %s: want 64 hex digits and the intent's withdrawal", b.WithdrawalID, b.RequestHash, in.WithdrawalID)
		}
	default:
		h = policy.RequestHash(in, tx)
		if b.RequestHash != hex.EncodeToString(h[:]) || in.WithdrawalID != b.WithdrawalID {
			r.find(e.Seq, ReplayDecisionMismatch, "withdrawal %s: request hash %s, replay computes %x from the intent and unsigned transaction", b.WithdrawalID, b.RequestHash, h)
		}
		if sum := sha256.Sum256(tx); b.UnsignedTxSHA256 != "" && (b.UnsignedTxSHA256 != hex.EncodeToString(sum[:]) || b.UnsignedTxSize != len(tx)) {
			r.find(e.Seq, ReplayDecisionMismatch, "withdrawal %s: unsigned_tx_sha256 %s of %d bytes, but the transaction logged is %x of %d", b.WithdrawalID, b.UnsignedTxSHA256, b.UnsignedTxSize, sum, len(tx))
		}
	}
	if _, ok := r.open[b.WithdrawalID]; ok {
		r.find(e.Seq, ReplayOutOfPlace, "withdrawal %s received again before it ended", b.WithdrawalID)
	}
	r.open[b.WithdrawalID] = &withdrawal{id: b.WithdrawalID, intent: in, requestHash: h, recvSeq: e.Seq}
	// the transaction and signature go to the decision that follows
	r.pendingReq = pendingRequest{id: b.WithdrawalID, tx: tx, byHash: byHash, sig: []byte(b.IntentSignature), seq: e.Seq}
}

func (r *replayer) decided(e *Entry, d *audit.WithdrawalDecided) {
	r.res.Decided++
	w := r.open[d.WithdrawalID]
	req := r.pendingReq
	r.pendingReq = pendingRequest{}
	if w == nil || w.decided != nil || req.id != d.WithdrawalID {
		r.find(e.Seq, ReplayOutOfPlace, "decision on withdrawal %s without its withdrawal.received just before it", d.WithdrawalID)
		return
	}
	w.decided, w.decSeq = d, e.Seq
	w.bundle = r.current
	tierAsset, tierMin := d.TierOf()
	w.pending = policy.Pending{WithdrawalID: w.id, RequestHash: w.requestHash, RequestedBy: w.intent.RequestedBy,
		Tier: policy.Tier{Asset: tierAsset, MinAmount: tierMin, Approvals: d.Approvals, Group: d.ApprovalGroup}}
	if d.Allowed {
		r.evict = append(r.evict, evictable{w.id, d.DecidedAt})
	} else {
		delete(r.open, w.id)
	}

	var problems []string
	differ := func(field string, logged, replayed any) {
		problems = append(problems, fmt.Sprintf("%s: log %v, replay %v", field, logged, replayed))
	}
	if d.RequestHash != hex.EncodeToString(w.requestHash[:]) {
		differ("request_hash", d.RequestHash, hex.EncodeToString(w.requestHash[:]))
	}
	if r.current == nil {
		differ("policy_hash", d.PolicyHash, "no bundle accepted yet")
	} else if h := r.current.Hash(); d.PolicyHash != hex.EncodeToString(h[:]) {
		differ("policy_hash", d.PolicyHash, fmt.Sprintf("%x (version %d, in force)", h, r.current.Version))
	}
	// The wallet's outflow before this decision, by the log's own history.
	now := d.DecidedAt
	spent, ok := r.spent(w.intent.WalletID, w.id, now)
	if !ok {
		problems = append(problems, "spent: the log's outflow overflows 2^256")
	}
	logged := d.SpentOf()
	if !amountsEqual(logged.Day, spent.Day) {
		differ("spent_day", showAmounts(logged.Day), showAmounts(spent.Day))
	}
	if !amountsEqual(logged.Week, spent.Week) {
		differ("spent_week", showAmounts(logged.Week), showAmounts(spent.Week))
	}
	// What this decision holds, by the record: later decisions see it.
	nonces := r.nonces.at(e.Seq, w.id)
	if d.Allowed {
		r.spends[w.intent.WalletID].add(w.id, now, d.OutflowOf())
		if d.NonceAccount != "" && d.Nonce != nil {
			fee, _ := d.FeeOf()
			w.hold = r.nonces.hold(e.Seq, d.NonceAccount, *d.Nonce, w.id, w.intent, fee)
		}
	}

	if req.byHash {
		// Without the transaction, Decide cannot be re-run: a refusal is
		// checked for all the rest, and an allowed decision must have
		// logged what it allowed.
		if d.Allowed {
			problems = append(problems, "allowed: log true, but its withdrawal.received holds only the transaction's hash: a node logs an allowed request in full")
		}
		if len(problems) > 0 {
			r.find(e.Seq, ReplayDecisionMismatch, "decision that replay disagrees with, withdrawal %s: %s", w.id, strings.Join(problems, "; "))
			return
		}
		r.res.ByHash++
		return
	}
	ws := r.wallets[w.intent.WalletID]
	switch {
	case ws == nil:
		if d.Allowed || len(problems) > 0 {
			r.find(e.Seq, ReplayNotReplayed, "withdrawal %s: wallet %s has no wallet.created record in this log", w.id, w.intent.WalletID)
		} else {
			r.agreed.Add(1) // refused before any key was needed, or not: nothing to compare without the key
		}
		return
	case !ws.ok:
		if !ws.reported {
			ws.reported = true
			r.find(e.Seq, ReplayNotReplayed, "withdrawal %s and every later one of wallet %s: %s", w.id, w.intent.WalletID, ws.problem)
		}
		if len(problems) > 0 {
			r.find(e.Seq, ReplayDecisionMismatch, "decision that replay disagrees with, withdrawal %s: %s", w.id, strings.Join(problems, "; "))
		}
		return
	}
	bundle, key, in := r.current, bitcoin.NeutralKey(ws.key), w.intent
	tx, sig := req.tx, req.sig
	w.done = make(chan struct{})
	seq := e.Seq
	r.jobs <- func() {
		defer close(w.done)
		dec := bundle.Decide(policy.Request{Intent: in, IntentSignature: sig, UnsignedTx: tx, Wallet: key, Spent: spent, Nonces: nonces, Now: now})
		w.decision = &dec
		problems = append(problems, compareDecision(d, audit.Decided(w.id, w.requestHash, dec, spent, now))...)
		if len(problems) > 0 {
			r.find(seq, ReplayDecisionMismatch, "decision that replay disagrees with, withdrawal %s: %s", w.id, strings.Join(problems, "; "))
			return
		}
		r.agreed.Add(1)
	}
}

// pendingRequest is the withdrawal.received a decision follows: a node
// writes the two records together.
type pendingRequest struct {
	id      string
	tx, sig []byte
	byHash  bool // the transaction was logged by its hash only
	seq     uint64
}

// spent is what the node's Outflow counted before the decision on
// withdrawal exclude of wallet at now (see window).
func (r *replayer) spent(wallet, exclude string, now time.Time) (policy.Velocity, bool) {
	w := r.spends[wallet]
	if w == nil {
		w = newWindow()
		r.spends[wallet] = w
	}
	return w.velocity(now, exclude)
}

// unspend removes a rejected or failed withdrawal from the velocity.
func (r *replayer) unspend(id string) {
	if w := r.open[id]; w != nil && r.spends[w.intent.WalletID] != nil {
		r.spends[w.intent.WalletID].remove(id)
	}
}

// compareDecision lists how a recorded decision differs from the record
// the re-run decision makes (audit.Decided, as the node's admit makes it),
// field by field, through the accessors that read records of every
// format. The velocity and request hash are compared before it, from the
// log's own history.
func compareDecision(d, want *audit.WithdrawalDecided) []string {
	var out []string
	differ := func(field string, logged, replayed any) {
		out = append(out, fmt.Sprintf("%s: log %v, replay %v", field, logged, replayed))
	}
	if d.Allowed != want.Allowed {
		differ("allowed", d.Allowed, fmt.Sprintf("%v (%s)", want.Allowed, orNone(want.Rule)))
	}
	if d.Rule != want.Rule {
		differ("rule", orNone(d.Rule), orNone(want.Rule))
	}
	if d.Originator != want.Originator {
		differ("originator", orNone(d.Originator), orNone(want.Originator))
	}
	if d.PolicyHash != want.PolicyHash || d.PolicyVersion != want.PolicyVersion {
		differ("policy", fmt.Sprintf("version %d %s", d.PolicyVersion, d.PolicyHash), fmt.Sprintf("version %d %s", want.PolicyVersion, want.PolicyHash))
	}
	if d.TxID != want.TxID {
		differ("txid", orNone(d.TxID), orNone(want.TxID))
	}
	fee, feeAsset := d.FeeOf()
	wantFee, wantAsset := want.FeeOf()
	if !fee.Equal(wantFee) || feeAsset != wantAsset {
		differ("fee", showAmount(fee, feeAsset), showAmount(wantFee, wantAsset))
	}
	if o, wo := d.OutflowOf(), want.OutflowOf(); !amountsEqual(o, wo) {
		differ("outflow", showAmounts(o), showAmounts(wo))
	}
	if !slices.Equal(d.Digests, want.Digests) {
		differ("digests", d.Digests, want.Digests)
	}
	asset, min := d.TierOf()
	wantTierAsset, wantMin := want.TierOf()
	if d.Approvals != want.Approvals || d.ApprovalGroup != want.ApprovalGroup || asset != wantTierAsset || !min.Equal(wantMin) {
		differ("approval tier", fmt.Sprintf("%d of %q from %s", d.Approvals, d.ApprovalGroup, showAmount(min, asset)),
			fmt.Sprintf("%d of %q from %s", want.Approvals, want.ApprovalGroup, showAmount(wantMin, wantTierAsset)))
	}
	if d.NonceAccount != want.NonceAccount || !equalNonce(d.Nonce, want.Nonce) || d.Replaces != want.Replaces {
		differ("nonce", showNonce(d), showNonce(want))
	}
	return out
}

func equalNonce(a, b *uint64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func showNonce(d *audit.WithdrawalDecided) string {
	s := "(none)"
	if d.NonceAccount != "" || d.Nonce != nil {
		n := "?"
		if d.Nonce != nil {
			n = fmt.Sprint(*d.Nonce)
		}
		s = fmt.Sprintf("%s of %s", n, orNone(d.NonceAccount))
	}
	if d.Replaces != "" {
		s += ", replacing " + d.Replaces
	}
	return s
}

// amountsEqual reports whether a and b hold the same amount of every
// asset, a missing asset being 0.
func amountsEqual(a, b chain.Amounts) bool {
	for k, v := range a {
		if !v.Equal(b[k]) {
			return false
		}
	}
	for k, v := range b {
		if !v.Equal(a[k]) {
			return false
		}
	}
	return true
}

// showAmounts writes amounts in base units, by asset: "100000 BTC, 7 ETH".
func showAmounts(a chain.Amounts) string {
	var parts []string
	for _, asset := range slices.Sorted(func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
	}) {
		if !a[asset].IsZero() {
			parts = append(parts, showAmount(a[asset], asset))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func showAmount(a chain.Amount, asset string) string {
	if asset == "" {
		return a.String()
	}
	return a.String() + " " + asset
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// awaiting returns the open withdrawal id if it waits for approvals, or
// reports why an approval record cannot follow.
func (r *replayer) awaiting(seq uint64, id, kind string) *withdrawal {
	w := r.open[id]
	switch {
	case w == nil || w.decided == nil:
		r.find(seq, ReplayOutOfPlace, "%s for withdrawal %s, which is not awaiting approval in this log", kind, id)
		return nil
	case !w.decided.Allowed || w.decided.Approvals == 0:
		r.find(seq, ReplayOutOfPlace, "%s for withdrawal %s, whose decision required no approval", kind, id)
		return nil
	case w.approved:
		r.find(seq, ReplayOutOfPlace, "%s for withdrawal %s after its quorum was recorded", kind, id)
		return nil
	}
	return w
}

func (r *replayer) approval(e *Entry, a *audit.WithdrawalApproval) {
	r.res.Approvals++
	if rule := ruleOf(a.Problem); !a.Counted && (rule == policy.ApprovalNotNeeded || rule == policy.ApprovalNotAwaiting) {
		r.closedApproval(e, a, rule)
		return
	}
	w := r.awaiting(e.Seq, a.WithdrawalID, "approval")
	if w == nil {
		return
	}
	b := r.bundles[hashOf(w.decided.PolicyHash)]
	if b == nil {
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s: the decision's bundle %s is not in this log", w.id, w.decided.PolicyHash)
		return
	}
	s := policy.SignedApproval{Officer: a.Officer, Statement: []byte(a.Statement), Signature: []byte(a.Signature)}
	var kept []string
	for _, c := range w.counted {
		kept = append(kept, c.Officer)
	}
	st, problem := b.CheckAnother(s, w.pending, kept, e.Time)
	if problem == nil && len(w.counted) >= policy.MaxOfficers {
		problem = &policy.ApprovalError{Rule: policy.ApprovalDuplicate, Reason: "too many approvals recorded"}
	}
	switch {
	case a.Counted && problem != nil:
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s counted, but replay does not count it: %v", w.id, a.Officer, problem)
	case !a.Counted && problem == nil:
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s not counted (%s), but replay counts it", w.id, a.Officer, a.Problem)
	case !a.Counted && ruleOf(a.Problem) != ruleOf(problem.Error()):
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s refused as %s, replay refuses it as %s", w.id, a.Officer, ruleOf(a.Problem), ruleOf(problem.Error()))
	case a.Counted && a.Verdict != st.Verdict:
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s: verdict %q, the statement says %q", w.id, a.Officer, a.Verdict, st.Verdict)
	}
	if a.Counted && problem == nil {
		w.counted = append(w.counted, s)
	}
}

// closedApproval checks an approval the node did not count because the
// withdrawal waited for none: approval.not_needed for one whose decision
// required no approval (or refused it), approval.not_awaiting for one that
// required approvals but no longer waits for them. What replay can see of
// the withdrawal must agree; one that ended, or is not in this log's last
// week, waits for nothing replay can see.
func (r *replayer) closedApproval(e *Entry, a *audit.WithdrawalApproval, rule string) {
	w := r.open[a.WithdrawalID]
	if w == nil || w.decided == nil {
		return
	}
	needs := w.decided.Allowed && w.decided.Approvals > 0
	switch {
	case rule == policy.ApprovalNotNeeded && needs:
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s not counted (%s), but its decision requires %d approvals of group %s",
			w.id, a.Officer, rule, w.decided.Approvals, w.decided.ApprovalGroup)
	case rule == policy.ApprovalNotAwaiting && !needs:
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s not counted (%s), but its decision required no approval", w.id, a.Officer, rule)
	case rule == policy.ApprovalNotAwaiting && !w.approved:
		r.find(e.Seq, ReplayApprovalMismatch, "approval of withdrawal %s by %s not counted (%s), but the withdrawal is awaiting approval in this log", w.id, a.Officer, rule)
	}
}

func ruleOf(problem string) string {
	rule, _, _ := strings.Cut(problem, ":")
	return rule
}

func hashOf(h string) [32]byte {
	var out [32]byte
	if b, err := hex.DecodeString(h); err == nil && len(b) == 32 {
		out = [32]byte(b)
	}
	return out
}

func (r *replayer) approvedRec(e *Entry, a *audit.WithdrawalApproved) {
	w := r.awaiting(e.Seq, a.WithdrawalID, "withdrawal.approved")
	if w == nil {
		return
	}
	w.approved = true
	b := r.bundles[hashOf(w.decided.PolicyHash)]
	if b == nil {
		r.find(e.Seq, ReplayQuorumMismatch, "withdrawal %s approved, but its decision's bundle is not in this log", w.id)
		return
	}
	t := b.Tally(w.counted, w.pending, e.Time)
	if !t.Done(w.pending) || !slices.Equal(t.Approvers, a.Approvers) {
		r.find(e.Seq, ReplayQuorumMismatch, "withdrawal %s approved by %v; replay counts %v of the %d of group %s required%s",
			w.id, a.Approvers, t.Approvers, w.pending.Tier.Approvals, w.pending.Tier.Group, rejectedNote(t))
	}
}

func rejectedNote(t policy.Tally) string {
	if t.Rejection != nil {
		return ", and a rejection by " + t.Rejection.Officer
	}
	return ""
}

func (r *replayer) rejected(e *Entry, a *audit.WithdrawalRejected) {
	w := r.awaiting(e.Seq, a.WithdrawalID, "withdrawal.rejected")
	if w == nil {
		return
	}
	if b := r.bundles[hashOf(w.decided.PolicyHash)]; b == nil {
		r.find(e.Seq, ReplayRejectionMismatch, "withdrawal %s rejected, but its decision's bundle is not in this log", w.id)
	} else if t := b.Tally(w.counted, w.pending, e.Time); t.Rejection == nil || t.Rejection.Officer != a.Officer {
		r.find(e.Seq, ReplayRejectionMismatch, "withdrawal %s rejected by %s, but replay finds no valid rejection by that officer before it", w.id, a.Officer)
	}
	r.unspend(w.id)
	r.nonces.release(e.Seq, w.hold) // a rejected withdrawal is never signed: its nonce is free again
	delete(r.open, w.id)
}

func (r *replayer) signed(e *Entry, s *audit.WithdrawalSigned) {
	r.res.Signed++
	w := r.open[s.WithdrawalID]
	if w == nil || w.decided == nil || !w.decided.Allowed {
		r.find(e.Seq, ReplaySignedNotAllowed, "signature without a passing decision: withdrawal %s has no allowed decision open in this log", s.WithdrawalID)
		return
	}
	delete(r.open, w.id)
	if w.decided.Approvals > 0 && !w.approved {
		r.find(e.Seq, ReplaySignedNotApproved, "signed without approval: withdrawal %s required %d approvals of group %s, and no withdrawal.approved came before",
			w.id, w.decided.Approvals, w.decided.ApprovalGroup)
	}
	// A chain whose transaction id changes with its signatures (Ethereum:
	// the signing hash is decided, the transaction hash is signed) is
	// checked below by assembling the signed result again.
	renamed := s.TxID != "" && s.TxID != w.decided.TxID
	if w.done == nil {
		if renamed {
			r.find(e.Seq, ReplayDecisionMismatch, "withdrawal %s signed as txid %s, decided as %s", w.id, s.TxID, w.decided.TxID)
		}
		return // not replayed: reported at the decision
	}
	seq := e.Seq
	r.jobs <- func() {
		<-w.done // dequeued before this job: running or done
		d := w.decision
		if !d.Allowed {
			r.find(seq, ReplaySignedNotAllowed, "signature without a passing decision: replay refuses withdrawal %s (%s)", w.id, d.Rule)
			return
		}
		c, ok := chains.Lookup(w.intent.Chain)
		if !ok { // Decide allowed it: its chain is known
			r.find(seq, ReplayBadSignature, "signature does not verify: withdrawal %s is on chain %q, which this auditor does not know", w.id, w.intent.Chain)
			return
		}
		if len(s.Signatures) != len(d.Tx.Sign) {
			r.find(seq, ReplayBadSignature, "signature does not verify: withdrawal %s has %d signatures for %d inputs", w.id, len(s.Signatures), len(d.Tx.Sign))
			return
		}
		sigs := make([][64]byte, len(s.Signatures))
		verified := true
		for i, sigHex := range s.Signatures {
			if err := verifySignature(c.Scheme(), d.Tx.Sign[i], sigHex); err != nil {
				r.find(seq, ReplayBadSignature, "signature does not verify: withdrawal %s input %d: %v", w.id, i, err)
				verified = false
				continue
			}
			raw, _ := hex.DecodeString(sigHex)
			sigs[i] = [64]byte(raw)
		}
		if !renamed {
			return
		}
		if !verified {
			r.find(seq, ReplayDecisionMismatch, "withdrawal %s signed as txid %s, decided as %s", w.id, s.TxID, w.decided.TxID)
			return
		}
		done, err := d.Tx.Finish(sigs)
		switch {
		case err != nil:
			r.find(seq, ReplayBadSignature, "signature does not verify: withdrawal %s: its signed transaction does not check: %v", w.id, err)
		case s.TxID != done.TxID:
			r.find(seq, ReplayDecisionMismatch, "withdrawal %s signed as txid %s, decided as %s; its signatures make %s", w.id, s.TxID, w.decided.TxID, done.TxID)
		case s.SignedTx != "" && s.SignedTx != hex.EncodeToString(done.Raw):
			r.find(seq, ReplayDecisionMismatch, "withdrawal %s: the signed transaction recorded is not the one its decision and signatures make", w.id)
		}
	}
}

// verifySignature checks a signature, hex of 64 bytes, over what one sign
// item of a re-derived transaction signs, with its child key (see
// chain.Verify, the one definition of a signature over a sign item).
func verifySignature(scheme chain.Scheme, item chain.SignItem, sigHex string) error {
	raw, err := hex.DecodeString(sigHex)
	if err != nil || len(raw) != 64 {
		return fmt.Errorf("not 64 bytes of hex")
	}
	return chain.Verify(scheme, item, raw)
}

// ParseWalletKeys reads a -wallets file: a JSON object of wallet id to
// {"public_key": hex, "chain_code": hex}.
func ParseWalletKeys(raw []byte) (map[string]WalletKey, error) {
	var f map[string]struct {
		PublicKey string `json:"public_key"`
		ChainCode string `json:"chain_code"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("wallets: want {\"w-…\": {\"public_key\": hex, \"chain_code\": hex}}: %w", err)
	}
	out := map[string]WalletKey{}
	for id, w := range f {
		pk, err1 := hex.DecodeString(w.PublicKey)
		cc, err2 := hex.DecodeString(w.ChainCode)
		if err1 != nil || err2 != nil || len(pk) != 33 || len(cc) != 32 {
			return nil, fmt.Errorf("wallets: %s: want a 33-byte public_key and a 32-byte chain_code, in hex", id)
		}
		out[id] = WalletKey{PublicKey: [33]byte(pk), ChainCode: [32]byte(cc)}
	}
	return out, nil
}

// WalletKeys returns the wallets' roots held in a node's own database (none
// in a log fetched or exported alone).
func (l *Log) WalletKeys() (map[string]WalletKey, error) {
	ws, err := l.store.Wallets()
	if err != nil {
		return nil, err
	}
	out := map[string]WalletKey{}
	for _, w := range ws {
		if len(w.PublicKey) == 33 && len(w.ChainCode) == 32 {
			out[w.ID] = WalletKey{PublicKey: [33]byte(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}
		}
	}
	return out, nil
}
