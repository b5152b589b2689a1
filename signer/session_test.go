package signer

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// panicky is a protocol whose handling panics, standing in for a bug in
// our own message handling.
type panicky struct{ when string }

func (p panicky) Start() ([]mpc.Message, error) {
	if p.when == "start" {
		panic("boom at start")
	}
	return nil, nil
}
func (p panicky) Check(string, mpc.Message) error { return nil }
func (p panicky) Deliver(string, mpc.Message) ([]mpc.Message, error) {
	panic("boom at deliver")
}
func (p panicky) Waiting() []string { return nil }

// TestSessionRecoversPanics: a panic in the session's own handling aborts
// that session and is logged; the node keeps serving.
func TestSessionRecoversPanics(t *testing.T) {
	c := newTestCluster(t, 2, 2)
	n := c.nodes["node-1"].node
	for _, when := range []string{"start", "deliver"} {
		t.Run(when, func(t *testing.T) {
			sid := make([]byte, 32)
			rand.Read(sid)
			s := &session{
				id: sid, kind: "signing", self: "node-1", coordinator: "node-1", members: []string{"node-1", "node-2"},
				timeout: 5 * time.Second, node: n, log: n.log, proto: panicky{when},
				finished: func() bool { return false }, inbox: make(chan inbound, inboxSize), done: make(chan struct{}),
				prepared: time.Now(), seen: map[msgKey][32]byte{}, held: map[msgKey]mpcMessage{}, echoes: map[echoKey][32]byte{},
			}
			if err := n.sessions.add(s); err != nil {
				t.Fatal(err)
			}
			if when == "deliver" {
				if err := s.enqueue(inbound{from: "node-2", req: deliverMessage(sid, mpc.Message{Type: "t", Payload: []byte{1}})}); err != nil {
					t.Fatal(err)
				}
			}
			out := s.run(context.Background())
			if a := out.GetAborted(); a == nil || !strings.Contains(a.Reason, "internal error: boom at "+when) {
				t.Fatalf("got %v", out)
			}
			if !auditHas(t, n, audit.KindSessionAborted, "internal error: boom at "+when) {
				t.Fatal("the abort is not in the audit log")
			}
		})
	}
	if _, err := n.GetStatus(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestSuspects(t *testing.T) {
	committee := []string{"node-1", "node-10", "node-2"}
	outcomes := map[string]*pb.RunResponse{
		"node-1":  aborted("timed out waiting for node-10", []string{"node-10"}),
		"node-10": aborted("x", []string{"node-1"}), // blames the coordinator itself
	}
	got := suspects(committee, "node-1", outcomes)
	if fmt.Sprint(got) != "[node-10 node-2]" {
		t.Fatalf("got %v: want node-10 (blamed) and node-2 (no outcome), never node-1 itself", got)
	}
}

// TestHandlerPanicBecomesInternal: a panicking RPC handler answers
// Internal with a generic message, never the panic's text, and is counted.
func TestHandlerPanicBecomesInternal(t *testing.T) {
	n := &Node{log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics(prometheus.NewRegistry())}
	err := func() (err error) {
		defer n.settle("/countersign.v1.WalletService/GetWallet", time.Now(), &err)
		panic("secret detail")
	}()
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "secret detail") {
		t.Fatalf("got %v", err)
	}
	if testutil.ToFloat64(n.metrics.requests.WithLabelValues("GetWallet", "Internal")) != 1 {
		t.Fatal("the call was not counted")
	}
}
