package signer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
)

// logBuffer is a log destination safe for the node's goroutines and the
// test at once.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// TestRefusedHandshakesAreLogged dials a node with a client certificate
// of another cluster's CA: the node refuses the handshake and logs it at
// Warn with the remote address, the certificate's subject and the reason;
// a flood of such handshakes logs a bounded number of lines.
func TestRefusedHandshakesAreLogged(t *testing.T) {
	logs := &logBuffer{}
	c := newTestCluster(t, 2, 2, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	other := t.TempDir()
	if _, err := CreateCluster(other, testClusterOptions(t, ClusterOptions{Nodes: 2, Threshold: 2})); err != nil {
		t.Fatal(err)
	}
	_, ocert, okey := roster.ClientFiles(other, pki.RoleBackend)
	foreign := c.dialWith("node-1", filepath.Join(c.dir, "ca.pem"), ocert, okey)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := pb.NewNodeServiceClient(foreign).GetStatus(ctx, &pb.GetStatusRequest{}); err == nil {
		t.Fatal("a certificate of another CA was served")
	}
	var got []string
	waitFor(t, func() bool {
		got = logs.lines(`msg="TLS handshake refused"`)
		return len(got) > 0
	}, "the refused handshake to be logged")
	line := got[0]
	for _, want := range []string{"level=WARN", "node=node-1", "remote=127.0.0.1:", `subject="CN=backend`, "reason=", "unknown authority"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log line does not say %q:\n%s", want, line)
		}
	}

	// A scanner: many refused handshakes in a row, without a certificate.
	before := len(logs.lines(`msg="TLS handshake refused"`))
	foreign.Close()
	caPEM, err := os.ReadFile(filepath.Join(c.dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for range 3 * handshakeLogBurst {
		conn, err := tls.Dial("tcp", c.nodes["node-1"].cfg.Listen, &tls.Config{RootCAs: roots, ServerName: "node-1", MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}})
		if err == nil {
			conn.Read(make([]byte, 1)) // the server's refusal arrives after the client's half of the handshake
			conn.Close()
		}
	}
	time.Sleep(500 * time.Millisecond) // the node logs after it answered
	if n := len(logs.lines(`msg="TLS handshake refused"`)) - before; n > handshakeLogBurst {
		t.Errorf("%d refused handshakes logged %d lines; want at most %d", 3*handshakeLogBurst, n, handshakeLogBurst)
	}
	if !strings.Contains(strings.Join(logs.lines(`msg="TLS handshake refused"`), ""), "didn't provide a certificate") {
		t.Errorf("no line names a handshake without a certificate:\n%s", strings.Join(logs.lines("TLS handshake"), ""))
	}
}

// TestLogLimiter: a burst of events is let through, then one per period,
// and the next event let through says how many were held back.
func TestLogLimiter(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	l := newLogLimiter(3, time.Second)
	type step struct {
		at         time.Duration
		ok         bool
		suppressed int
	}
	for i, s := range []step{
		{0, true, 0}, {0, true, 0}, {0, true, 0}, // the burst
		{0, false, 0}, {500 * time.Millisecond, false, 0}, // held back: 2
		{time.Second, true, 2},                                                                // one more a second, saying what was held back
		{time.Second, false, 0},                                                               // held back: 1
		{10 * time.Second, true, 1}, {10 * time.Second, true, 0}, {10 * time.Second, true, 0}, // refilled to the burst, not beyond
		{10 * time.Second, false, 0},
	} {
		ok, suppressed := l.allow(start.Add(s.at))
		if ok != s.ok || suppressed != s.suppressed {
			t.Errorf("event %d at +%s: allow = %t, %d held back; want %t, %d", i, s.at, ok, suppressed, s.ok, s.suppressed)
		}
	}
}
