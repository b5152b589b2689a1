package signer

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// ---- PeerService: this node as a session member ----

// Prepare checks a proposed session and, if this node agrees, creates it.
// The coordinator is the caller; it must be a member.
func (n *Node) Prepare(ctx context.Context, req *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	coordinator := callerOf(ctx).Name
	s, err := n.prepare(coordinator, req)
	if err != nil {
		n.log.Warn("refused a session", "coordinator", coordinator, "err", err)
		return nil, err
	}
	return &pb.PrepareResponse{}, n.sessions.add(s)
}

// prepare validates a proposal and builds the session; it runs on the
// coordinator for itself too, so every member applies the same checks.
func (n *Node) prepare(coordinator string, req *pb.PrepareRequest) (*session, error) {
	if len(req.SessionId) != sessionIDLen {
		return nil, invalid("session_id must be %d bytes", sessionIDLen)
	}
	if len(req.Committee) < 2 || !slices.IsSorted(req.Committee) || len(slices.Compact(slices.Clone(req.Committee))) != len(req.Committee) {
		return nil, invalid("committee must be at least 2 distinct node ids, sorted")
	}
	if !slices.Contains(req.Committee, n.id) || !slices.Contains(req.Committee, coordinator) {
		return nil, invalid("committee must include this node and the coordinator")
	}
	for _, m := range req.Committee {
		if _, ok := n.peers[m]; !ok && m != n.id {
			return nil, invalid("committee member %q is not in this cluster", m)
		}
	}
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	s := &session{
		id: slices.Clone(req.SessionId), self: n.id, coordinator: coordinator, members: slices.Clone(req.Committee),
		node: n, inbox: make(chan inbound, inboxSize), done: make(chan struct{}), prepared: n.now(),
		seen: map[msgKey][32]byte{}, held: map[msgKey]mpcMessage{}, echoes: map[echoKey][32]byte{},
	}
	var err error
	switch p := req.Params.(type) {
	case *pb.PrepareRequest_Keygen:
		s.kind, s.walletID = "keygen", p.Keygen.WalletId
		s.timeout = clampTimeout(timeout, KeygenTimeout)
		err = n.prepareKeygen(s, p.Keygen)
	case *pb.PrepareRequest_Signing:
		s.kind, s.walletID = "signing", p.Signing.WalletId
		s.timeout = clampTimeout(timeout, SigningTimeout)
		err = n.prepareSigning(s, p.Signing)
	default:
		return nil, invalid("params: want keygen or signing")
	}
	if err != nil {
		return nil, err
	}
	s.log = n.log.With("session", s.key()[:12], "kind", s.kind, "wallet", s.walletID)
	return s, nil
}

func clampTimeout(asked, limit time.Duration) time.Duration {
	if asked <= 0 || asked > limit {
		return limit
	}
	return asked
}

// Run starts this node's party and answers with its outcome.
func (n *Node) Run(ctx context.Context, req *pb.RunRequest) (*pb.RunResponse, error) {
	s := n.sessions.get(req.SessionId)
	if s == nil {
		return nil, fmt.Errorf("%w: no session %x", errNotFound, req.SessionId)
	}
	if callerOf(ctx).Name != s.coordinator {
		return nil, fmt.Errorf("%w: only the coordinator %s runs this session", errPermission, s.coordinator)
	}
	return s.run(ctx), nil
}

// Deliver hands a peer's message to its session. The sender is the caller's
// certificate identity.
func (n *Node) Deliver(ctx context.Context, req *pb.DeliverRequest) (*pb.DeliverResponse, error) {
	from := callerOf(ctx).Name
	s := n.sessions.get(req.SessionId)
	if s == nil {
		n.metrics.dropped.WithLabelValues("unknown_session").Inc()
		return nil, fmt.Errorf("%w: no session %x on this node", errNotFound, req.SessionId)
	}
	if !s.member(from) || from == n.id {
		n.metrics.dropped.WithLabelValues("not_member").Inc()
		return nil, fmt.Errorf("%w: %s is not a member of session %x", errPermission, from, req.SessionId)
	}
	if m := req.GetMessage(); m != nil && len(m.Payload) > maxPayload {
		n.metrics.dropped.WithLabelValues("oversize").Inc()
		return nil, invalid("payload of %d bytes, limit %d", len(m.Payload), maxPayload)
	}
	if req.Body == nil {
		return nil, invalid("body: want message, echo, abort or head")
	}
	if err := s.enqueue(inbound{from: from, req: req}); err != nil {
		n.metrics.dropped.WithLabelValues("session_ended").Inc()
		return nil, err
	}
	return &pb.DeliverResponse{}, nil
}

// ---- peerClient: this node calling a peer ----

type peerClient struct {
	id, address, pin string
	tls              *tls.Config

	mu   sync.Mutex
	conn *grpc.ClientConn
}

func (p *peerClient) client() (pb.PeerServiceClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		conn, err := grpc.NewClient(p.address,
			grpc.WithTransportCredentials(credentials.NewTLS(p.tls)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)),
		)
		if err != nil {
			return nil, err
		}
		p.conn = conn
	}
	return pb.NewPeerServiceClient(p.conn), nil
}

func (p *peerClient) nodeClient() (pb.NodeServiceClient, error) {
	if _, err := p.client(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return pb.NewNodeServiceClient(p.conn), nil
}

func (p *peerClient) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

func (n *Node) peer(id string) (pb.PeerServiceClient, error) {
	p, ok := n.peers[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a peer", errInvalid, id)
	}
	return p.client()
}

// deliverTo sends one session message to a peer, retrying briefly while the
// peer is unreachable.
func (n *Node) deliverTo(ctx context.Context, peer string, req *pb.DeliverRequest) error {
	c, err := n.peer(peer)
	if err != nil {
		return err
	}
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err = c.Deliver(ctx, req)
		if err == nil || status.Code(err) != codes.Unavailable || attempt == sendAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
			backoff *= 4
		}
	}
}

// maxPayload bounds one peer message (mpc checks its own, tighter limit).
const maxPayload = 2 << 20
