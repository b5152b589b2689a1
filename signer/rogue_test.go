package signer

import (
	"context"
	"crypto/rand"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/countersign/countersign/signer/store"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// roguePeer stands in for a real node: it holds that node's certificate and
// key share, answers PeerService calls on its address, and, when a session
// runs, does whatever the test's act does instead of following the protocol.
type roguePeer struct {
	pb.UnimplementedPeerServiceServer
	id     string
	share  *mpc.Share
	wallet *store.Wallet
	peers  map[string]pb.PeerServiceClient
	srv    *grpc.Server

	mu   sync.Mutex
	act  func(ctx context.Context, r *roguePeer, prep *pb.PrepareRequest)
	prep *pb.PrepareRequest
	got  chan *pb.DeliverRequest
}

// newRoguePeer stops the cluster's node id and takes its place.
func newRoguePeer(t *testing.T, c *testCluster, id, walletID string) *roguePeer {
	t.Helper()
	tn := c.nodes[id]
	c.stop(id)
	nodeDir := filepath.Dir(tn.cfg.TLS.Cert)
	caPEM, certPEM, keyPEM, err := readTLSFiles(tn.cfg.TLS)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.SignerFromKeyPEM(keyPEM)
	st, err := store.Open(filepath.Join(tn.cfg.DataDir, "node.db"), key, audit.Genesis{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.Wallet(walletID)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := st.SealedShare(walletID)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := hsm.OpenSoftware(filepath.Join(nodeDir, "sealer.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sealer.Unseal(shareLabel(walletID), sealed)
	if err != nil {
		t.Fatal(err)
	}
	share, err := mpc.ParseShare(plain)
	if err != nil {
		t.Fatal(err)
	}
	r := &roguePeer{id: id, share: share, wallet: w, peers: map[string]pb.PeerServiceClient{}, got: make(chan *pb.DeliverRequest, 1024)}
	for _, other := range c.ids {
		if other == id {
			continue
		}
		tlsCfg, err := pki.ClientTLS(caPEM, certPEM, keyPEM, other, "")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(c.nodes[other].cfg.Listen, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		r.peers[other] = pb.NewPeerServiceClient(conn)
	}
	serverTLS, err := pki.ServerTLS(caPEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	pb.RegisterPeerServiceServer(r.srv, r)
	lis, err := net.Listen("tcp", tn.cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	go r.srv.Serve(lis)
	t.Cleanup(r.srv.Stop)
	return r
}

func (r *roguePeer) Prepare(_ context.Context, req *pb.PrepareRequest) (*pb.PrepareResponse, error) {
	r.mu.Lock()
	r.prep = req
	r.mu.Unlock()
	return &pb.PrepareResponse{}, nil
}

// Run misbehaves, then waits for the honest nodes to give up on the session.
func (r *roguePeer) Run(ctx context.Context, req *pb.RunRequest) (*pb.RunResponse, error) {
	r.mu.Lock()
	prep, act := r.prep, r.act
	r.mu.Unlock()
	if act != nil {
		act(ctx, r, prep)
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case <-ctx.Done():
			return aborted("rogue", nil), nil
		case <-timeout:
			return aborted("rogue", nil), nil
		case got := <-r.got:
			if got.GetAbort() != nil && bytesEqual(got.SessionId, req.SessionId) {
				return aborted("rogue", nil), nil
			}
		}
	}
}

func (r *roguePeer) Deliver(_ context.Context, req *pb.DeliverRequest) (*pb.DeliverResponse, error) {
	select {
	case r.got <- req:
	default:
	}
	return &pb.DeliverResponse{}, nil
}

// roundOne runs the real protocol as the rogue's node would, with fresh
// randomness, and returns its round-one messages.
func (r *roguePeer) roundOne(t *testing.T, prep *pb.PrepareRequest) []mpc.Message {
	items, err := signingItems(r.wallet.ID, walletRoot(r.wallet), prep.GetSigning().GetRequest())
	if err != nil {
		t.Error(err)
		return nil
	}
	digests, err := mpcDigests(items)
	if err != nil {
		t.Error(err)
		return nil
	}
	s, err := mpc.NewSigning(r.id, prep.Committee, r.share, r.wallet.Threshold, digests)
	if err != nil {
		t.Error(err)
		return nil
	}
	msgs, err := s.Start()
	if err != nil {
		t.Error(err)
	}
	return msgs
}

func (r *roguePeer) send(ctx context.Context, to string, sid []byte, m mpc.Message) error {
	_, err := r.peers[to].Deliver(ctx, deliverMessage(sid, m))
	return err
}

func broadcastOf(msgs []mpc.Message) mpc.Message {
	for _, m := range msgs {
		if m.Broadcast {
			return m
		}
	}
	panic("no broadcast in round one")
}

// TestMisbehavingPeer has node-3 misbehave inside real signing sessions
// with node-1 and node-2. Each time the honest nodes must survive, abort
// the session, and report it (with the culprit where it can be named).
func TestMisbehavingPeer(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 6 * time.Second})
	w, _, err := c.createWallet("node-1", "hot")
	if err != nil {
		t.Fatal(err)
	}
	rogue := newRoguePeer(t, c, "node-3", w.WalletId)
	all := []string{"node-1", "node-2", "node-3"}

	cases := []struct {
		name       string
		act        func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest)
		wantReason string
		culprit    bool
	}{
		{"equivocating broadcast", func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest) {
			a, b := broadcastOf(r.roundOne(t, prep)), broadcastOf(r.roundOne(t, prep))
			r.send(ctx, "node-1", prep.SessionId, a)
			r.send(ctx, "node-2", prep.SessionId, b)
		}, "inconsistent broadcast: node-3 sent", true},
		{"two different messages of one type", func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest) {
			r.send(ctx, "node-1", prep.SessionId, broadcastOf(r.roundOne(t, prep)))
			r.send(ctx, "node-1", prep.SessionId, broadcastOf(r.roundOne(t, prep)))
		}, "node-3 sent two different", true},
		{"message of another protocol", func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest) {
			r.send(ctx, "node-1", prep.SessionId, mpc.Message{Type: "0/binance.tsslib.ecdsa.keygen.KGRound1Message", Payload: []byte{1, 2, 3}, Broadcast: true})
		}, "bad message from node-3", true},
		{"undecodable payload", func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest) {
			m := broadcastOf(r.roundOne(t, prep))
			m.Payload = m.Payload[:len(m.Payload)/2]
			r.send(ctx, "node-2", prep.SessionId, m)
		}, "bad message from node-3", true},
		{"malformed log head", func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest) {
			r.peers["node-1"].Deliver(ctx, &pb.DeliverRequest{SessionId: prep.SessionId, Body: &pb.DeliverRequest_Head{Head: &pb.LogHead{Seq: 3, Hash: []byte{1, 2}}}})
		}, "node-3 sent a malformed log head", true},
		{"silence", func(context.Context, *testing.T, *roguePeer, *pb.PrepareRequest) {}, "timed out after 6s waiting for", false},
		{"duplicates are dropped, not fatal", func(ctx context.Context, t *testing.T, r *roguePeer, prep *pb.PrepareRequest) {
			m := broadcastOf(r.roundOne(t, prep))
			r.send(ctx, "node-2", prep.SessionId, m)
			for range 3 {
				r.send(ctx, "node-1", prep.SessionId, m)
			}
		}, "timed out after 6s waiting for", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dupBefore := testutil.ToFloat64(c.nodes["node-1"].node.metrics.dropped.WithLabelValues("duplicate"))
			rogue.mu.Lock()
			rogue.act = func(ctx context.Context, r *roguePeer, prep *pb.PrepareRequest) { tc.act(ctx, t, r, prep) }
			rogue.mu.Unlock()
			challenge := make([]byte, 32)
			rand.Read(challenge)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.nodes["node-1"].node.Sign(ctx, w.WalletId, &pb.SigningRequest{Kind: &pb.SigningRequest_SelfTest{SelfTest: &pb.SelfTest{Challenge: challenge}}}, all)
			if err == nil || !strings.Contains(err.Error(), tc.wantReason) {
				t.Fatalf("got %v, want an abort saying %q", err, tc.wantReason)
			}
			if strings.Contains(tc.wantReason, "timed out") && !regexp.MustCompile(`waiting for [a-z0-9, -]*node-3`).MatchString(err.Error()) {
				t.Fatalf("the timeout does not name node-3: %v", err)
			}
			if tc.culprit && !strings.Contains(err.Error(), "culprits: node-3") {
				t.Fatalf("culprit not named: %v", err)
			}
			if strings.HasPrefix(tc.name, "duplicates") && testutil.ToFloat64(c.nodes["node-1"].node.metrics.dropped.WithLabelValues("duplicate")) < dupBefore+2 {
				t.Fatal("duplicates were not counted as dropped")
			}
			if !auditHas(t, c.nodes["node-1"].node, audit.KindSessionAborted, tc.wantReason) {
				t.Fatal("node-1's audit log has no record of the abort")
			}
		})
	}

	t.Run("a message for an unknown session is refused", func(t *testing.T) {
		sid := make([]byte, 32)
		rand.Read(sid)
		err := rogue.send(context.Background(), "node-1", sid, mpc.Message{Type: "x", Payload: []byte{1}})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("a non-member cannot speak in a session", func(t *testing.T) {
		n1 := c.nodes["node-1"].node
		sid := make([]byte, 32)
		rand.Read(sid)
		s, err := n1.prepare("node-1", &pb.PrepareRequest{SessionId: sid, Committee: []string{"node-1", "node-2"},
			Params: &pb.PrepareRequest_Signing{Signing: &pb.SigningParams{WalletId: w.WalletId, Request: &pb.SigningRequest{Kind: &pb.SigningRequest_SelfTest{SelfTest: &pb.SelfTest{Challenge: sid}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := n1.sessions.add(s); err != nil {
			t.Fatal(err)
		}
		defer s.cancel("test over")
		err = rogue.send(context.Background(), "node-1", sid, mpc.Message{Type: "x", Payload: []byte{1}})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("a session id is never reused", func(t *testing.T) {
		n1 := c.nodes["node-1"].node
		sid := make([]byte, 32)
		rand.Read(sid)
		req := &pb.PrepareRequest{SessionId: sid, Committee: []string{"node-1", "node-2"},
			Params: &pb.PrepareRequest_Signing{Signing: &pb.SigningParams{WalletId: w.WalletId, Request: &pb.SigningRequest{Kind: &pb.SigningRequest_SelfTest{SelfTest: &pb.SelfTest{Challenge: sid}}}}}}
		for i := range 2 {
			s, err := n1.prepare("node-1", req)
			if err != nil {
				t.Fatal(err)
			}
			err = n1.sessions.add(s)
			if i == 1 && err == nil {
				t.Fatal("a second session with the same id was accepted")
			}
			if i == 0 {
				defer s.cancel("test over")
			}
		}
	})

	t.Run("the honest nodes still sign", func(t *testing.T) {
		c.selfTest(t, "node-2", w.WalletId, []string{"node-1", "node-2"}, []uint32{0, 1})
	})
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// auditHas reports whether a node's audit log holds a record of kind whose
// body contains text.
func auditHas(t *testing.T, n *Node, kind audit.Kind, text string) bool {
	t.Helper()
	found := false
	err := n.store.ForEachAudit(func(_ uint64, raw []byte) error {
		r, err := audit.Decode(raw)
		if err != nil {
			return err
		}
		if r.Kind == kind && strings.Contains(string(r.Body), text) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
