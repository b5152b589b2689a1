package signer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/policy/chain"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/mpc"
)

// protocol is a threshold protocol as package mpc runs it.
type protocol interface {
	Start() ([]mpc.Message, error)
	Check(from string, m mpc.Message) error
	Deliver(from string, m mpc.Message) ([]mpc.Message, error)
	Waiting() []string
}

// Session limits.
const (
	sessionIDLen   = 32
	inboxSize      = 4096
	linkQueueSize  = 1024
	sendAttempts   = 3
	sessionLinger  = 2 * time.Minute // how long an ended session answers late messages
	maxPrepareWait = 2 * time.Minute // how long a prepared session waits for Run
)

// session is one run of a protocol on this node, over the peer transport.
//
// The transport's guarantees, on top of mutual TLS:
//   - the sender of every message is the node named by its certificate;
//   - every message carries the session id, fresh and random per session;
//     messages for sessions this node has not prepared are refused;
//   - a second copy of a message (same sender, same type) is dropped; a
//     different second message is equivocation and aborts the session;
//   - a broadcast is delivered only after every other member has echoed
//     the same digest of it (echo broadcast), so a sender cannot show
//     different members different bytes;
//   - the session ends by its deadline, naming the members it waits for;
//   - an abort is sent to the other members, and nothing leaks: the loop
//     and its senders end with the session.
type session struct {
	id          []byte
	kind        string
	walletID    string
	self        string
	coordinator string
	purpose     string
	members     []string
	items       []chain.SignItem // what a signing session signs, as this node derived it
	timeout     time.Duration
	log         *slog.Logger
	node        *Node

	proto    protocol
	finished func() bool
	// conclude runs once the protocol has finished: it persists what the
	// session produced and returns the outcome to report.
	conclude func() (*pb.RunResponse, error)
	// onEnd runs once when the session ends, whatever the outcome.
	onEnd func(*pb.RunResponse)

	inbox     chan inbound
	startOnce sync.Once
	done      chan struct{}
	outcome   *pb.RunResponse
	prepared  time.Time
	endedAt   time.Time
	mu        sync.Mutex // guards endedAt

	// loop state: touched only by the loop goroutine
	seen    map[msgKey][32]byte
	held    map[msgKey]mpcMessage
	echoes  map[echoKey][32]byte
	links   map[string]*link
	started time.Time
	heads   map[string]bool // members whose log head arrived
}

type msgKey struct{ from, typ string }
type echoKey struct{ echoer, origin, typ string }

type inbound struct {
	from string
	req  *pb.DeliverRequest
	fail error // a link to a peer failed
}

func (s *session) key() string { return hex.EncodeToString(s.id) }

func (s *session) member(id string) bool {
	_, ok := slices.BinarySearch(s.members, id)
	return ok
}

// others are the members other than this node.
func (s *session) others() []string {
	out := make([]string, 0, len(s.members)-1)
	for _, m := range s.members {
		if m != s.self {
			out = append(out, m)
		}
	}
	return out
}

// enqueue hands a message from a peer to the session. It never blocks.
func (s *session) enqueue(in inbound) error {
	select {
	case <-s.done:
		return errSessionEnded
	default:
	}
	select {
	case s.inbox <- in:
		return nil
	default:
		return errInboxFull
	}
}

// run starts the session if it has not started and waits for its end.
func (s *session) run(ctx context.Context) *pb.RunResponse {
	s.startOnce.Do(func() { go s.loop() })
	select {
	case <-s.done:
		return s.outcome
	case <-ctx.Done():
		return aborted("the caller gave up: "+ctx.Err().Error(), nil)
	}
}

func (s *session) loop() {
	s.started = time.Now()
	s.links = map[string]*link{}
	linkCtx, cancelLinks := context.WithTimeout(s.node.ctx, s.timeout+10*time.Second)
	var wg sync.WaitGroup
	for _, peer := range s.others() {
		l := &link{peer: peer, queue: make(chan *pb.DeliverRequest, linkQueueSize)}
		s.links[peer] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(linkCtx, s)
		}()
	}
	defer func() {
		for _, l := range s.links {
			close(l.queue)
		}
		go func() { wg.Wait(); cancelLinks() }()
	}()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("session panicked", "panic", r)
			s.end(aborted(fmt.Sprintf("internal error: %v", r), nil))
		}
	}()

	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	s.node.audit(sessionStartedEvent(s))
	s.sendHead()
	startedAt := time.Now()
	msgs, err := s.proto.Start()
	s.log.Debug("protocol started", "took", time.Since(startedAt), "messages", len(msgs))
	if err != nil {
		s.fail(err)
		return
	}
	s.route(msgs)
	for !s.ended() {
		select {
		case in := <-s.inbox:
			s.handle(in)
		case <-timer.C:
			w := s.waiting()
			s.end(aborted(fmt.Sprintf("timed out after %s waiting for %s", s.timeout, strings.Join(w, ", ")), w))
		case <-s.node.ctx.Done():
			s.end(aborted("node shutting down", nil))
		}
	}
}

// cancel aborts the session from outside its loop. A session whose loop
// never started ends here; a running one is told through its inbox, so
// only the loop goroutine ever touches its state.
func (s *session) cancel(reason string) {
	claimed := false
	s.startOnce.Do(func() { claimed = true }) // the loop can no longer start
	if claimed {
		s.end(aborted(reason, nil))
		return
	}
	_ = s.enqueue(inbound{fail: errors.New(reason)})
}

func (s *session) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waiting names the members the session still needs something from: those
// the protocol waits for, except senders whose message arrived and is held
// for echoes, and the members whose echoes are missing.
func (s *session) waiting() []string {
	heldFrom := map[string]bool{}
	var w []string
	for k := range s.held {
		heldFrom[k.from] = true
		for _, m := range s.members {
			if m != s.self && m != k.from {
				if _, ok := s.echoes[echoKey{m, k.from, k.typ}]; !ok {
					w = append(w, m)
				}
			}
		}
	}
	for _, m := range s.proto.Waiting() {
		if !heldFrom[m] {
			w = append(w, m)
		}
	}
	slices.Sort(w)
	w = slices.Compact(w)
	if len(w) == 0 {
		return []string{"(nobody: local processing)"}
	}
	return w
}

func (s *session) handle(in inbound) {
	if in.fail != nil {
		s.end(aborted(in.fail.Error(), nil))
		return
	}
	switch b := in.req.Body.(type) {
	case *pb.DeliverRequest_Message:
		s.onMessage(in.from, mpc.Message{Type: b.Message.Type, Payload: b.Message.Payload, Broadcast: b.Message.Broadcast})
	case *pb.DeliverRequest_Echo:
		s.onEcho(in.from, b.Echo)
	case *pb.DeliverRequest_Abort:
		s.end(aborted(fmt.Sprintf("%s aborted the session: %s", in.from, b.Abort.Reason), b.Abort.Culprits))
	case *pb.DeliverRequest_Head:
		s.onHead(in.from, b.Head)
	}
}

// sendHead tells every other member the head of this node's audit log, on
// the links ahead of any protocol message.
func (s *session) sendHead() {
	h := s.node.store.Head()
	for _, l := range s.links {
		l.send(&pb.DeliverRequest{SessionId: s.id, Body: &pb.DeliverRequest_Head{Head: &pb.LogHead{Seq: h.Seq, Hash: h.Hash[:]}}})
	}
}

// onHead records a member's log head in this node's audit log: once per
// member and session. A malformed head aborts the session, naming its
// sender.
func (s *session) onHead(from string, h *pb.LogHead) {
	if s.heads[from] {
		s.node.metrics.dropped.WithLabelValues("duplicate").Inc()
		return
	}
	body, err := peerHeadBody(from, s.key(), h)
	if err != nil {
		s.end(aborted(fmt.Sprintf("%s sent a malformed log head: %v", from, err), []string{from}))
		return
	}
	if s.heads == nil {
		s.heads = map[string]bool{}
	}
	s.heads[from] = true
	s.node.audit(storeEvent(audit.KindPeerHead, body))
}

// peerHeadBody checks a log head a peer sent and returns the audit body
// that records it.
func peerHeadBody(from, sessionID string, h *pb.LogHead) (*audit.PeerHead, error) {
	if h == nil {
		return nil, errors.New("no head")
	}
	if len(h.Hash) != sha256.Size {
		return nil, fmt.Errorf("hash of %d bytes, want %d", len(h.Hash), sha256.Size)
	}
	body := &audit.PeerHead{Peer: from, Seq: h.Seq, Hash: hex.EncodeToString(h.Hash), SessionID: sessionID}
	if _, err := body.Head(); err != nil { // the checks an auditor applies
		return nil, err
	}
	return body, nil
}

func (s *session) onMessage(from string, m mpc.Message) {
	k := msgKey{from, m.Type}
	d := sha256.Sum256(m.Payload)
	if prev, ok := s.seen[k]; ok {
		if prev == d {
			s.node.metrics.dropped.WithLabelValues("duplicate").Inc()
			return
		}
		s.end(aborted(fmt.Sprintf("%s sent two different %s messages", from, m.Type), []string{from}))
		return
	}
	s.seen[k] = d
	if err := s.proto.Check(from, m); err != nil {
		s.fail(err)
		return
	}
	if !m.Broadcast {
		s.deliver(from, m)
		return
	}
	for _, peer := range s.others() {
		if peer != from {
			s.links[peer].send(&pb.DeliverRequest{SessionId: s.id, Body: &pb.DeliverRequest_Echo{Echo: &pb.Echo{Origin: from, Type: m.Type, Digest: d[:]}}})
		}
	}
	s.held[k] = m
	s.release(k)
}

func (s *session) onEcho(echoer string, e *pb.Echo) {
	if !s.member(e.Origin) || e.Origin == echoer || e.Origin == s.self || len(e.Digest) != sha256.Size {
		s.end(aborted(fmt.Sprintf("%s sent a malformed echo", echoer), []string{echoer}))
		return
	}
	k := echoKey{echoer, e.Origin, e.Type}
	d := [32]byte(e.Digest)
	if prev, ok := s.echoes[k]; ok {
		if prev != d {
			s.end(aborted(fmt.Sprintf("%s echoed two different digests of %s from %s", echoer, e.Type, e.Origin), []string{echoer}))
		}
		return
	}
	s.echoes[k] = d
	mk := msgKey{e.Origin, e.Type}
	if _, ok := s.held[mk]; ok {
		s.release(mk)
	} else if mine, ok := s.seen[mk]; ok && mine != d {
		s.inconsistent(mk, echoer)
	}
}

// release delivers a held broadcast once every other member has echoed it,
// and aborts if any echo differs from what this node received.
func (s *session) release(k msgKey) {
	mine := s.seen[k]
	complete := true
	for _, m := range s.members {
		if m == s.self || m == k.from {
			continue
		}
		d, ok := s.echoes[echoKey{m, k.from, k.typ}]
		if !ok {
			complete = false
			continue
		}
		if d != mine {
			s.inconsistent(k, m)
			return
		}
	}
	if complete {
		m := s.held[k]
		delete(s.held, k)
		s.deliver(k.from, m)
	}
}

func (s *session) inconsistent(k msgKey, witness string) {
	s.node.metrics.dropped.WithLabelValues("inconsistent_broadcast").Inc()
	s.end(aborted(fmt.Sprintf("inconsistent broadcast: %s sent %s to %s differently than to %s", k.from, k.typ, witness, s.self), []string{k.from}))
}

func (s *session) deliver(from string, m mpc.Message) {
	out, err := s.proto.Deliver(from, m)
	if err != nil {
		s.fail(err)
		return
	}
	s.route(out)
	if s.finished() {
		outcome, err := s.conclude()
		if err != nil {
			s.log.Error("concluding session", "err", err)
			s.end(aborted("could not conclude: "+err.Error(), nil))
			return
		}
		s.end(outcome)
	}
}

func (s *session) route(msgs []mpc.Message) {
	for _, m := range msgs {
		to := m.To
		if m.Broadcast {
			to = s.others()
		}
		req := deliverMessage(s.id, m)
		for _, peer := range to {
			if l, ok := s.links[peer]; ok {
				l.send(req)
			}
		}
	}
}

// fail ends the session with a protocol error, naming culprits if known.
func (s *session) fail(err error) {
	var culprits []string
	if me, ok := err.(*mpc.Error); ok {
		culprits = me.Culprits
	}
	s.end(aborted(err.Error(), culprits))
}

// end records the outcome once, tells the other members if it is an abort,
// and writes it to the audit log. Only the loop goroutine calls it, or
// cancel when the loop can never start.
func (s *session) end(outcome *pb.RunResponse) {
	if s.ended() {
		return
	}
	if a := outcome.GetAborted(); a != nil {
		s.log.Warn("session aborted", "reason", a.Reason, "culprits", a.Culprits)
		for _, l := range s.links {
			l.send(&pb.DeliverRequest{SessionId: s.id, Body: &pb.DeliverRequest_Abort{Abort: a}})
		}
		s.node.audit(sessionAbortedEvent(s, a))
		s.node.metrics.sessions.WithLabelValues(s.kind, "aborted").Inc()
	} else {
		s.log.Info("session ended", "took", time.Since(s.started).Round(time.Millisecond))
		s.node.metrics.sessions.WithLabelValues(s.kind, "ok").Inc()
	}
	if !s.started.IsZero() {
		s.node.metrics.sessionSeconds.WithLabelValues(s.kind).Observe(time.Since(s.started).Seconds())
	}
	s.outcome = outcome
	s.mu.Lock()
	s.endedAt = time.Now()
	s.mu.Unlock()
	if s.onEnd != nil {
		s.onEnd(outcome)
	}
	close(s.done)
}

func deliverMessage(sid []byte, m mpc.Message) *pb.DeliverRequest {
	return &pb.DeliverRequest{SessionId: sid, Body: &pb.DeliverRequest_Message{Message: &pb.ProtocolMessage{Type: m.Type, Payload: m.Payload, Broadcast: m.Broadcast}}}
}

func aborted(reason string, culprits []string) *pb.RunResponse {
	return &pb.RunResponse{Outcome: &pb.RunResponse_Aborted{Aborted: &pb.Aborted{Reason: reason, Culprits: culprits}}}
}

// link sends one session's messages to one peer, in order.
type link struct {
	peer  string
	queue chan *pb.DeliverRequest
	dead  bool
}

func (l *link) send(req *pb.DeliverRequest) {
	if l.dead {
		return
	}
	select {
	case l.queue <- req:
	default:
		l.dead = true // the session aborts when the peer times out
	}
}

func (l *link) run(ctx context.Context, s *session) {
	failed := false
	for req := range l.queue {
		if failed {
			continue // drain
		}
		if err := l.deliver(ctx, s, req); err != nil {
			failed = true
			if req.GetAbort() == nil {
				_ = s.enqueue(inbound{fail: fmt.Errorf("cannot reach %s: %v", l.peer, err)})
			}
		}
	}
}

// abortDelivery bounds the delivery of an abort. An abort is sent even when
// the node is shutting down (its context is cancelled then): that is when
// the other members most need to hear it rather than wait out a timeout.
const abortDelivery = 2 * time.Second

func (l *link) deliver(ctx context.Context, s *session, req *pb.DeliverRequest) error {
	if req.GetAbort() != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortDelivery)
		defer cancel()
		ctx = actx
	}
	return s.node.deliverTo(ctx, l.peer, req)
}

// sessions is the node's table of sessions, by id.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	used map[string]time.Time // every session id seen recently: never reused
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, used: map[string]time.Time{}}
}

func (t *sessions) add(s *session) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := s.key()
	if _, ok := t.used[k]; ok {
		return fmt.Errorf("%w: session id %s was used before", errRefused, k[:16])
	}
	t.used[k] = time.Now()
	t.byID[k] = s
	return nil
}

func (t *sessions) get(id []byte) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[hex.EncodeToString(id)]
}

func (t *sessions) active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.byID {
		if !s.ended() {
			n++
		}
	}
	return n
}

// sweep drops sessions that ended a while ago and aborts prepared sessions
// that were never run.
func (t *sessions) sweep(now time.Time) {
	t.mu.Lock()
	var stale []*session
	for k, s := range t.byID {
		s.mu.Lock()
		endedAt := s.endedAt
		s.mu.Unlock()
		switch {
		case !endedAt.IsZero() && now.Sub(endedAt) > sessionLinger:
			delete(t.byID, k)
		case endedAt.IsZero() && now.Sub(s.prepared) > maxPrepareWait+s.timeout:
			stale = append(stale, s)
		}
	}
	for k, at := range t.used {
		if now.Sub(at) > 24*time.Hour {
			delete(t.used, k)
		}
	}
	t.mu.Unlock()
	for _, s := range stale {
		s.cancel("prepared but never run by the coordinator")
	}
}

type mpcMessage = mpc.Message
