package auditlog

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/signer/audit"
)

// A Problem is something wrong with one node's log: its first bad record,
// or a head a peer recorded that the log contradicts.
type Problem struct {
	Node string // whose log
	Path string
	Seq  uint64 // the record the problem is at (for a truncated log: the first record a peer saw that is missing)
	Err  error  // a *audit.VerifyError, or a failure to read the log
	// Peer evidence: which node recorded the contradicted head, at which of
	// its records; empty when the log alone shows the problem.
	SeenBy string
	SeenAt uint64
	// More is how many more heads recorded by peers the log contradicts.
	More int
}

func (p Problem) Error() string {
	s := fmt.Sprintf("%s (%s): %v", p.Node, p.Path, p.Err)
	if p.SeenBy != "" {
		s += fmt.Sprintf(" [head recorded by %s at its record %d]", p.SeenBy, p.SeenAt)
	}
	if p.More > 0 {
		s += fmt.Sprintf(" (and %d more peer heads it contradicts)", p.More)
	}
	return s
}

// Summary is what verification found of one log.
type Summary struct {
	Node, Path string
	Records    uint64     // verified records
	Head       audit.Head // the last verified record
	HeadTime   time.Time
	OK         bool // the whole log verified and no peer contradicts it
	Kinds      map[audit.Kind]int
	// PeerHeads is how many peer.head records it holds; HeadsChecked how
	// many heads of this log other logs recorded and were checked.
	PeerHeads, HeadsChecked int
}

// Result is the verification of a set of logs.
type Result struct {
	Logs     []*Summary
	Problems []Problem
	// Unchecked counts heads recorded of nodes whose logs were not given.
	Unchecked map[string]int
}

// OK reports whether no problem was found.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

// claim is a head of a log recorded in another log.
type claim struct {
	observer string
	at       uint64 // the observer's record
	atTime   time.Time
	head     audit.Head
}

// Verify verifies every log, then checks each log against the heads the
// others recorded of it (kind peer.head): a log that ends before such a
// head is truncated (audit.ErrTruncated), one whose record at that seq has
// another hash was rewritten (audit.ErrChainBroken). Only heads from the
// verified part of a log count as evidence. progress, if not nil, is
// called now and then with a node and how many of its records are done.
func Verify(logs []*Log, progress func(node string, records uint64)) *Result {
	res := &Result{Unchecked: map[string]int{}}
	claims := map[string][]claim{}
	byNode := map[string]int{}
	for i, l := range logs {
		s := &Summary{Node: l.Node, Path: l.Path, Kinds: map[audit.Kind]int{}, OK: true}
		res.Logs = append(res.Logs, s)
		if j, dup := byNode[l.Node]; dup {
			res.Problems = append(res.Problems, Problem{Node: l.Node, Path: l.Path,
				Err: fmt.Errorf("auditlog: %s and %s are both logs of node %s: give each node's log once", logs[j].Path, l.Path, l.Node)})
			s.OK = false
			continue
		}
		byNode[l.Node] = i
		for e, err := range l.Records() {
			if err != nil {
				res.Problems = append(res.Problems, Problem{Node: l.Node, Path: l.Path, Seq: errSeq(err, s), Err: err})
				s.OK = false
				break
			}
			s.Records++
			s.Head, s.HeadTime = e.Head(), e.Time
			s.Kinds[e.Kind]++
			if progress != nil && s.Records%100_000 == 0 {
				progress(l.Node, s.Records)
			}
			if e.Kind != audit.KindPeerHead {
				continue
			}
			s.PeerHeads++
			b, err := e.Body()
			if err != nil {
				res.Problems = append(res.Problems, Problem{Node: l.Node, Path: l.Path, Seq: e.Seq,
					Err: &audit.VerifyError{Seq: e.Seq, Err: audit.ErrMalformed, Problem: err.Error()}})
				s.OK = false
				continue
			}
			ph := b.(*audit.PeerHead)
			h, _ := ph.Head() // ParseBody checked it
			if ph.Peer != l.Node {
				claims[ph.Peer] = append(claims[ph.Peer], claim{observer: l.Node, at: e.Seq, atTime: e.Time, head: h})
			}
		}
	}
	for i, s := range res.Logs {
		if byNode[s.Node] != i {
			continue // a second log of the node
		}
		cs := claims[s.Node]
		delete(claims, s.Node)
		p := checkClaims(logs[i], s, cs)
		if p != nil {
			res.Problems = append(res.Problems, *p)
			s.OK = false
		}
	}
	for node, cs := range claims {
		res.Unchecked[node] = len(cs)
	}
	slices.SortStableFunc(res.Problems, func(a, b Problem) int {
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		return 0
	})
	return res
}

// errSeq is the record a verification error is at.
func errSeq(err error, s *Summary) uint64 {
	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		return ve.Seq
	}
	if s.Records == 0 {
		return 0
	}
	return s.Head.Seq + 1
}

// checkClaims compares a log with the heads others recorded of it, in seq
// order, and returns the first one it contradicts.
func checkClaims(l *Log, s *Summary, cs []claim) *Problem {
	slices.SortFunc(cs, func(a, b claim) int {
		switch {
		case a.head.Seq < b.head.Seq:
			return -1
		case a.head.Seq > b.head.Seq:
			return 1
		}
		return 0
	})
	var first *Problem
	for _, c := range cs {
		if !s.OK && c.head.Seq > s.Head.Seq {
			// beyond the log's first bad record, which is reported already
			continue
		}
		s.HeadsChecked++
		var err error
		if c.head.Seq > s.Head.Seq || s.Records == 0 {
			err = audit.CheckHead(s.Head, c.head)
			var ve *audit.VerifyError
			if errors.As(err, &ve) {
				ve.Problem = fmt.Sprintf("log ends at record %d (%s); %s saw record %d with hash %x at %s: records %d to %d at least are missing",
					s.Head.Seq, s.HeadTime.Format(time.RFC3339), c.observer, c.head.Seq, c.head.Hash[:8], c.atTime.Format(time.RFC3339), s.Head.Seq+1, c.head.Seq)
				if c.atTime.After(s.HeadTime) {
					ve.Problem += " (unless this copy of the log was taken before " + c.observer + " recorded that head)"
				}
			}
		} else {
			got, ok, rerr := l.HeadAt(c.head.Seq)
			switch {
			case rerr != nil:
				err = rerr
			case !ok:
				err = &audit.VerifyError{Seq: c.head.Seq, Err: audit.ErrGap, Problem: "record missing"}
			default:
				err = audit.CheckHead(got, c.head)
				var ve *audit.VerifyError
				if errors.As(err, &ve) {
					ve.Problem = fmt.Sprintf("hash %x differs from the %x %s recorded: the log was rewritten from this record or an earlier one (a fork)",
						got.Hash[:8], c.head.Hash[:8], c.observer)
				}
			}
		}
		if err == nil {
			continue
		}
		if first != nil {
			first.More++
			continue
		}
		first = &Problem{Node: s.Node, Path: s.Path, Seq: c.head.Seq, Err: err, SeenBy: c.observer, SeenAt: c.at}
	}
	return first
}
