package auditlog

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/countersign/countersign/signer/audit"
)

// A Finding is something one node's log says that another node's log
// contradicts, or never saw.
type Finding struct {
	Node string // whose record
	Seq  uint64 // the record
	What string // a stable word: session_unseen, session_mismatch, outcome_mismatch, signed_unseen, signatures_mismatch, decision_mismatch, decision_unseen, signed_not_allowed, log_bad
	// Detail says what differs, naming the other node and its record.
	Detail string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s record %d: %s: %s", f.Node, f.Seq, f.What, f.Detail)
}

// CrossResult is a cross-check of a set of logs.
type CrossResult struct {
	Findings []Finding
	// Compared counts what was compared: sessions, signed withdrawals,
	// decisions.
	Sessions, Signed, Decisions int
	// Absent counts comparisons left out because a member's log was not
	// given, by node.
	Absent map[string]int
}

// at is where a log says something.
type at struct {
	node string
	seq  uint64
}

type sessionView struct {
	at
	started *audit.SessionStarted
}

type endView struct {
	at
	outcome    string // "signed", "ended: …" or "aborted: …"
	signatures []string
}

type signedView struct {
	at
	body *audit.WithdrawalSigned
}

type decidedView struct {
	at
	body *audit.WithdrawalDecided
}

// nodeFacts is what one log says, keyed for comparison.
type nodeFacts struct {
	node     string
	started  map[string]sessionView // by session id
	ended    map[string]endView     // by session id
	signed   map[string][]signedView
	decided  map[string]decidedView // by withdrawal id: the last decision
	verified bool
}

// CrossCheck compares the logs: every session one node started must be in
// the log of every committee member given, with the same committee and
// coordinator and the same outcome (the same signatures); every signed
// withdrawal must be signed in the log of every member of its session with
// the same signatures, and decided there as allowed, with the same request
// hash and digests; and the nodes' decisions on one withdrawal must agree:
// request hash, verdict, digests, txid and fee, and the outflow per asset
// of allowed ones (records of every format, read by their accessors).
// Only verified records are compared; a log that does not verify is a
// finding (log_bad) and is compared up to its first bad record.
func CrossCheck(logs []*Log) *CrossResult {
	res := &CrossResult{Absent: map[string]int{}}
	facts := map[string]*nodeFacts{}
	var order []string
	for _, l := range logs {
		if _, dup := facts[l.Node]; dup {
			res.Findings = append(res.Findings, Finding{Node: l.Node, What: "log_bad", Detail: "two logs of this node given: " + l.Path})
			continue
		}
		f := collect(l, res)
		facts[l.Node] = f
		order = append(order, l.Node)
	}
	slices.Sort(order)
	for _, node := range order {
		f := facts[node]
		for _, sid := range sortedKeys(f.started) {
			res.Sessions++
			checkSession(res, facts, f, sid)
		}
		for _, wid := range sortedKeys(f.signed) {
			for _, sv := range f.signed[wid] {
				res.Signed++
				checkSigned(res, facts, f, wid, sv)
			}
		}
		for _, wid := range sortedKeys(f.decided) {
			res.Decisions++
			checkDecision(res, facts, order, f, wid)
		}
	}
	slices.SortStableFunc(res.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Seq, b.Seq))
	})
	return res
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// collect reads one log's verified records into facts.
func collect(l *Log, res *CrossResult) *nodeFacts {
	f := &nodeFacts{node: l.Node, started: map[string]sessionView{}, ended: map[string]endView{},
		signed: map[string][]signedView{}, decided: map[string]decidedView{}, verified: true}
	for e, err := range l.Records() {
		if err != nil {
			f.verified = false
			res.Findings = append(res.Findings, Finding{Node: l.Node, Seq: errSeq(err, &Summary{}), What: "log_bad",
				Detail: fmt.Sprintf("%v; compared only up to this record (run 'auditor verify')", err)})
			break
		}
		switch e.Kind {
		case audit.KindSessionStarted, audit.KindSessionEnded, audit.KindSessionAborted,
			audit.KindWithdrawalSigned, audit.KindWithdrawalDecided:
		default:
			continue
		}
		b, err := e.Body()
		if err != nil {
			res.Findings = append(res.Findings, Finding{Node: l.Node, Seq: e.Seq, What: "log_bad", Detail: err.Error()})
			continue
		}
		here := at{l.Node, e.Seq}
		switch b := b.(type) {
		case *audit.SessionStarted:
			f.started[b.SessionID] = sessionView{here, b}
		case *audit.SessionEnded:
			f.ended[b.SessionID] = endView{here, b.Outcome, b.Signatures}
		case *audit.SessionAborted:
			f.ended[b.SessionID] = endView{here, "aborted: " + b.Reason, nil}
		case *audit.WithdrawalSigned:
			f.signed[b.WithdrawalID] = append(f.signed[b.WithdrawalID], signedView{here, b})
		case *audit.WithdrawalDecided:
			f.decided[b.WithdrawalID] = decidedView{here, b}
		}
	}
	return f
}

func (a at) String() string { return fmt.Sprintf("%s record %d", a.node, a.seq) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

// checkSession compares a session f started with every other member's
// view of it; each pair is compared once, from the member first in order.
func checkSession(res *CrossResult, facts map[string]*nodeFacts, f *nodeFacts, sid string) {
	mine := f.started[sid]
	for _, m := range mine.started.Committee {
		if m == f.node {
			continue
		}
		other, given := facts[m]
		if !given {
			res.Absent[m]++
			continue
		}
		theirs, ok := other.started[sid]
		switch {
		case !ok:
			if other.verified {
				res.add(f.node, mine.seq, "session_unseen", "%s session %s (%s, committee %s, coordinator %s): member %s never recorded it",
					mine.started.Kind, short(sid), mine.started.Purpose, strings.Join(mine.started.Committee, ","), mine.started.Coordinator, m)
			}
			continue
		case m < f.node:
			continue // compared from m's side
		case !slices.Equal(theirs.started.Committee, mine.started.Committee) || theirs.started.Coordinator != mine.started.Coordinator ||
			theirs.started.Kind != mine.started.Kind || theirs.started.WalletID != mine.started.WalletID:
			res.add(f.node, mine.seq, "session_mismatch", "session %s: committee %v coordinator %s here, %v coordinator %s at %s",
				short(sid), mine.started.Committee, mine.started.Coordinator, theirs.started.Committee, theirs.started.Coordinator, theirs.at)
		}
		myEnd, myOK := f.ended[sid]
		theirEnd, theirOK := other.ended[sid]
		if myOK && theirOK && (myEnd.outcome != theirEnd.outcome || !slices.Equal(myEnd.signatures, theirEnd.signatures)) {
			if strings.HasPrefix(myEnd.outcome, "aborted") && strings.HasPrefix(theirEnd.outcome, "aborted") {
				continue // both aborted, each for its own reason
			}
			res.add(f.node, myEnd.seq, "outcome_mismatch", "session %s ended %s with %d signatures here, %s with %d signatures at %s",
				short(sid), myEnd.outcome, len(myEnd.signatures), theirEnd.outcome, len(theirEnd.signatures), theirEnd.at)
		}
	}
}

// checkSigned compares a withdrawal f signed with the session that signed
// it, its own decision, and every committee member's log.
func checkSigned(res *CrossResult, facts map[string]*nodeFacts, f *nodeFacts, wid string, sv signedView) {
	d, ok := f.decided[wid]
	switch {
	case !ok:
		res.add(f.node, sv.seq, "signed_not_allowed", "withdrawal %s signed, but this log has no decision on it", wid)
	case !d.body.Allowed:
		res.add(f.node, sv.seq, "signed_not_allowed", "withdrawal %s signed, but this node refused it (%s, record %d)", wid, d.body.Rule, d.seq)
	}
	sid := sv.body.SessionID
	if sid == "" {
		return // finalized from signatures recorded before a restart: no session here
	}
	if end, ok := f.ended[sid]; ok && !slices.Equal(end.signatures, sv.body.Signatures) {
		res.add(f.node, sv.seq, "signatures_mismatch", "withdrawal %s: signatures differ from those session %s ended with (record %d)", wid, short(sid), end.seq)
	}
	started, ok := f.started[sid]
	if !ok {
		res.add(f.node, sv.seq, "session_unseen", "withdrawal %s signed in session %s, which this log never started", wid, short(sid))
		return
	}
	for _, m := range started.started.Committee {
		if m == f.node {
			continue
		}
		other, given := facts[m]
		if !given {
			res.Absent[m]++
			continue
		}
		var match *signedView
		for i, o := range other.signed[wid] {
			if o.body.SessionID == sid || o.body.SessionID == "" {
				match = &other.signed[wid][i]
			}
		}
		switch {
		case match == nil:
			if other.verified {
				res.add(f.node, sv.seq, "signed_unseen", "withdrawal %s signed in session %s: committee member %s never recorded signing it", wid, short(sid), m)
			}
		case !slices.Equal(match.body.Signatures, sv.body.Signatures):
			res.add(f.node, sv.seq, "signatures_mismatch", "withdrawal %s: %d signatures here, other signatures at %s", wid, len(sv.body.Signatures), match.at)
		}
		od, ok := other.decided[wid]
		switch {
		case !ok:
			if other.verified {
				res.add(f.node, sv.seq, "decision_unseen", "withdrawal %s signed with %s, which has no decision on it", wid, m)
			}
		case !od.body.Allowed:
			res.add(f.node, sv.seq, "signed_not_allowed", "withdrawal %s signed with %s, which refused it (%s, %s)", wid, m, od.body.Rule, od.at)
		}
	}
}

// checkDecision compares f's decision on a withdrawal with every other
// node's that decided it; each pair once.
func checkDecision(res *CrossResult, facts map[string]*nodeFacts, order []string, f *nodeFacts, wid string) {
	mine := f.decided[wid].body
	for _, node := range order {
		if node <= f.node {
			continue
		}
		od, ok := facts[node].decided[wid]
		if !ok {
			continue
		}
		theirs := od.body
		var diffs []string
		if theirs.RequestHash != mine.RequestHash {
			diffs = append(diffs, fmt.Sprintf("request hash %s here, %s there", short(mine.RequestHash), short(theirs.RequestHash)))
		}
		if theirs.Allowed != mine.Allowed || theirs.Rule != mine.Rule {
			diffs = append(diffs, fmt.Sprintf("%s here, %s there", verdict(mine), verdict(theirs)))
		}
		if !slices.Equal(theirs.Digests, mine.Digests) {
			diffs = append(diffs, fmt.Sprintf("%d digests here, %d other digests there", len(mine.Digests), len(theirs.Digests)))
		}
		if mine.TxID != "" && theirs.TxID != "" {
			// One transaction: one txid and one fee, on every node.
			fee, asset := mine.FeeOf()
			theirFee, theirAsset := theirs.FeeOf()
			switch {
			case theirs.TxID != mine.TxID:
				diffs = append(diffs, fmt.Sprintf("txid %s here, %s there", short(mine.TxID), short(theirs.TxID)))
			case !theirFee.Equal(fee) || theirAsset != asset:
				diffs = append(diffs, fmt.Sprintf("fee %s here, %s there", showAmount(fee, asset), showAmount(theirFee, theirAsset)))
			}
		}
		if mine.Allowed && theirs.Allowed && !amountsEqual(mine.OutflowOf(), theirs.OutflowOf()) {
			diffs = append(diffs, fmt.Sprintf("outflow %s here, %s there", showAmounts(mine.OutflowOf()), showAmounts(theirs.OutflowOf())))
		}
		if len(diffs) > 0 {
			res.add(f.node, f.decided[wid].seq, "decision_mismatch", "withdrawal %s: %s (%s)", wid, strings.Join(diffs, "; "), od.at)
		}
	}
}

func verdict(d *audit.WithdrawalDecided) string {
	if d.Allowed {
		return "allowed"
	}
	return "refused (" + d.Rule + ")"
}

func (r *CrossResult) add(node string, seq uint64, what, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Node: node, Seq: seq, What: what, Detail: fmt.Sprintf(format, args...)})
}
