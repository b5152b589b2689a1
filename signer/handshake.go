package signer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// Refused TLS handshakes are logged at most handshakeLogBurst at once, then
// one every handshakeLogEvery: a scanner cannot flood the log, and the
// next line says how many were not logged.
const (
	handshakeLogBurst = 10
	handshakeLogEvery = 6 * time.Second
)

// handshakeLogger is the server's TLS credentials, logging every handshake
// it refuses (rate-limited): who connected, with which certificate, and
// why it was refused. Without it a refusal leaves no trace on the node.
type handshakeLogger struct {
	credentials.TransportCredentials
	n     *Node
	limit *logLimiter
}

func (h *handshakeLogger) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := h.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		h.refused(raw.RemoteAddr(), err)
	}
	return conn, info, err
}

func (h *handshakeLogger) Clone() credentials.TransportCredentials {
	return &handshakeLogger{TransportCredentials: h.TransportCredentials.Clone(), n: h.n, limit: h.limit}
}

func (h *handshakeLogger) refused(remote net.Addr, err error) {
	level := slog.LevelWarn
	if errors.Is(err, io.EOF) {
		level = slog.LevelDebug // closed before a handshake: a port probe
	}
	if !h.n.log.Enabled(h.n.ctx, level) {
		return
	}
	ok, suppressed := h.limit.allow(time.Now())
	if !ok {
		return
	}
	attrs := []any{"remote", remote.String()}
	var cert *x509.Certificate
	var cve *tls.CertificateVerificationError
	var rp *refusedPeer
	switch {
	case errors.As(err, &rp):
		cert, err = rp.cert, rp.err
	case errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0:
		cert = cve.UnverifiedCertificates[0]
	}
	if cert != nil {
		attrs = append(attrs, "subject", cert.Subject.String(), "issuer", cert.Issuer.String())
	}
	attrs = append(attrs, "reason", err.Error())
	if suppressed > 0 {
		attrs = append(attrs, "not_logged_since_last", suppressed)
	}
	h.n.log.Log(h.n.ctx, level, "TLS handshake refused", attrs...)
}

// refusedPeer is a certificate the CA issued that the node's connection
// check refused (see verifyConnectionLogged), with the certificate.
type refusedPeer struct {
	cert *x509.Certificate
	err  error
}

func (e *refusedPeer) Error() string { return e.err.Error() }
func (e *refusedPeer) Unwrap() error { return e.err }

// verifyConnectionLogged wraps c's connection check so that a refusal
// carries the certificate it refused, for the log.
func verifyConnectionLogged(c *tls.Config) {
	check := c.VerifyConnection
	if check == nil {
		return
	}
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		err := check(cs)
		if err != nil && len(cs.PeerCertificates) > 0 {
			return &refusedPeer{cert: cs.PeerCertificates[0], err: err}
		}
		return err
	}
}

// logLimiter is a token bucket for log lines: burst lines at once, one
// more every period, counting the lines it holds back.
type logLimiter struct {
	mu         sync.Mutex
	burst      float64
	every      time.Duration
	tokens     float64
	last       time.Time
	suppressed int
}

func newLogLimiter(burst int, every time.Duration) *logLimiter {
	return &logLimiter{burst: float64(burst), every: every, tokens: float64(burst)}
}

// allow reports whether a line may be logged at now and, if so, how many
// were held back since the last one logged.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	if now.After(l.last) {
		l.last = now
	}
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
