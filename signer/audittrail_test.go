package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var auditFixture = flag.String("audit-fixture", "", "write the audit logs of TestAuditTrail's cluster to this `directory` (node-N.db and ca.pem), for cmd/auditor's testdata")

// exported is one node's log as ExportLog streamed it.
type exported struct {
	keys    []uint64
	records [][]byte
	end     *pb.LogEnd
}

func (c *testCluster) exportLog(t *testing.T, node string, role pki.Role) (*exported, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := pb.NewAuditServiceClient(c.dial(node, role)).ExportLog(ctx, &pb.ExportLogRequest{})
	if err != nil {
		return nil, err
	}
	out := &exported{}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if r := m.GetRecords(); r != nil {
			out.keys = append(out.keys, r.Keys...)
			out.records = append(out.records, r.Records...)
		}
		if e := m.GetEnd(); e != nil {
			out.end = e
		}
	}
}

// TestAuditTrail runs withdrawals and sessions on a 2-of-3 cluster, exports
// each node's log over ExportLog as an auditor, then reads each node's
// bbolt file read-only and checks that every log verifies, that every node
// recorded the head of every other node's log, that each recorded head is
// the peer's record at that seq, and that the export is the log as stored.
// With -audit-fixture DIR it writes the logs for cmd/auditor's tests.
func TestAuditTrail(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{SigningTimeout: 30 * time.Second})
	wid := c.importFixtureWallet(t)
	c.writePolicy(t, wid, coldRules())
	root, _ := c.nodes["node-1"].node.WalletRoot(wid)
	utxos := funding(t, root, map[string]int64{"m/0/0": 40_000_000, "m/0/7": 30_000_000, "m/1/3": 50_000_000})

	for _, w := range []struct {
		id, node string
		amount   int64
	}{{"wd-1", "node-1", 20_000_000}, {"wd-2", "node-2", 30_000_000}} {
		in := intent(w.id, wid, allowedDest, w.amount)
		if _, err := c.submit(w.node, in, c.build(t, in, utxos)); err != nil {
			t.Fatal(err)
		}
		if got := c.await(t, w.node, w.id); got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%s: %v %s", w.id, got.Status, got.Reason)
		}
	}
	dmm := intent("wd-dmm", wid, attackerDest, 10_000_000)
	if _, err := c.submit("node-3", dmm, c.build(t, dmm, utxos)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("wd-dmm: %v", err)
	}
	// A session of all three nodes, so every pair exchanges heads.
	c.selfTest(t, "node-3", wid, []string{"node-1", "node-2", "node-3"}, []uint32{0, 1})
	// A refused call, so the logs hold one.
	if _, err := c.exportLog(t, "node-1", pki.RoleBackend); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ExportLog as the backend: %v, want PermissionDenied", err)
	}

	exports := map[string]*exported{}
	for _, id := range c.ids {
		e, err := c.exportLog(t, id, pki.RoleAuditor)
		if err != nil {
			t.Fatalf("ExportLog from %s: %v", id, err)
		}
		exports[id] = e
	}
	for _, id := range c.ids {
		c.stop(id)
	}

	type seen struct {
		observer string
		at       uint64
		head     audit.Head
	}
	heads := map[string][]seen{} // of whose log
	logs := map[string]*store.AuditLog{}
	for _, id := range c.ids {
		l, err := store.OpenAuditLog(filepath.Join(c.nodes[id].cfg.DataDir, "node.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs[id] = l
		cert, err := pki.ParseCertificatePEM(mustRead(t, c.nodes[id].cfg.TLS.Cert))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for v, err := range audit.Stream(cert.PublicKey, l.Records, 2) {
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			n++
			if v.Kind != audit.KindPeerHead {
				continue
			}
			b, err := v.ParseBody()
			if err != nil {
				t.Fatalf("%s record %d: %v", id, v.Seq, err)
			}
			ph := b.(*audit.PeerHead)
			h, _ := ph.Head()
			if ph.Peer == id || !slices.Contains(c.ids, ph.Peer) || len(ph.SessionID) != 64 {
				t.Fatalf("%s record %d: %+v", id, v.Seq, ph)
			}
			heads[ph.Peer] = append(heads[ph.Peer], seen{id, v.Seq, h})
		}
		e := exports[id]
		if e.end == nil || e.end.Records != uint64(len(e.records)) || len(e.keys) != len(e.records) || e.end.LastKey != e.keys[len(e.keys)-1] {
			t.Fatalf("%s: export of %d keys, %d records, end %v", id, len(e.keys), len(e.records), e.end)
		}
		for i, k := range e.keys {
			raw, ok, err := l.Record(k)
			if err != nil || !ok || !bytes.Equal(raw, e.records[i]) || k != uint64(i) {
				t.Fatalf("%s: exported record %d (key %d) differs from the stored one", id, i, k)
			}
		}
		if len(e.records) > n {
			t.Fatalf("%s: exported %d records, the log has %d", id, len(e.records), n)
		}
	}
	for _, id := range c.ids {
		observers := map[string]bool{}
		for _, s := range heads[id] {
			observers[s.observer] = true
			raw, ok, err := logs[id].Record(s.head.Seq)
			if err != nil || !ok {
				t.Fatalf("%s recorded %s's record %d, which it does not have (%v)", s.observer, id, s.head.Seq, err)
			}
			r, _ := audit.Decode(raw)
			if r.Hash() != s.head.Hash {
				t.Fatalf("%s recorded %s's record %d with another hash", s.observer, id, s.head.Seq)
			}
		}
		if len(observers) != len(c.ids)-1 {
			t.Errorf("the heads of %s's log were recorded by %v, want every other node", id, observers)
		}
	}

	if *auditFixture != "" {
		writeAuditFixture(t, c, logs)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeAuditFixture copies each node's audit log (and nothing else of its
// database) and the cluster CA certificate to -audit-fixture.
func writeAuditFixture(t *testing.T, c *testCluster, logs map[string]*store.AuditLog) {
	dir := *auditFixture
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for id, l := range logs {
		path := filepath.Join(dir, id+".db")
		os.Remove(path)
		w, err := store.CreateAuditLog(path)
		if err != nil {
			t.Fatal(err)
		}
		err = l.Records(func(seq uint64, raw []byte) bool {
			if err := w.Put(seq, raw); err != nil {
				t.Fatal(err)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), mustRead(t, filepath.Join(c.dir, "ca.pem")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote the audit logs of %v to %s", c.ids, dir)
}

func TestPeerHeadBody(t *testing.T) {
	good := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name string
		h    *pb.LogHead
		from string
		ok   bool
	}{
		{"valid", &pb.LogHead{Seq: 12, Hash: good}, "node-2", true},
		{"genesis head", &pb.LogHead{Seq: 0, Hash: good}, "node-2", true},
		{"no head", nil, "node-2", false},
		{"short hash", &pb.LogHead{Seq: 12, Hash: good[:31]}, "node-2", false},
		{"long hash", &pb.LogHead{Seq: 12, Hash: append(good, 0)}, "node-2", false},
		{"zero hash", &pb.LogHead{Seq: 12, Hash: make([]byte, 32)}, "node-2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := peerHeadBody(tt.from, strings.Repeat("00", 32), tt.h)
			if !tt.ok {
				if err == nil {
					t.Fatalf("accepted %v", tt.h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Peer != tt.from || b.Seq != tt.h.Seq || b.Hash != hex.EncodeToString(tt.h.Hash) {
				t.Fatalf("got %+v", b)
			}
		})
	}
}

// FuzzPeerHeadBody: whatever a peer sends as its head, the node either
// refuses it or records a body that an auditor parses back to the same
// head.
func FuzzPeerHeadBody(f *testing.F) {
	f.Add(uint64(12), bytes.Repeat([]byte{0xab}, 32))
	f.Add(uint64(0), make([]byte, 32))
	f.Add(^uint64(0), []byte{1})
	f.Fuzz(func(t *testing.T, seq uint64, hash []byte) {
		b, err := peerHeadBody("node-2", strings.Repeat("00", 32), &pb.LogHead{Seq: seq, Hash: hash})
		if err != nil {
			return
		}
		raw, err := audit.Body(b)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := audit.ParseBody(audit.KindPeerHead, raw)
		if err != nil {
			t.Fatalf("the node recorded a head an auditor refuses: %v", err)
		}
		h, err := parsed.(*audit.PeerHead).Head()
		if err != nil || h.Seq != seq || !bytes.Equal(h.Hash[:], hash) || len(hash) != sha256.Size {
			t.Fatalf("recorded %v (%v) for seq %d hash %x", h, err, seq, hash)
		}
	})
}
