// Package signer is a countersign signer node: its gRPC services, the
// sessions it runs with its peers, the peer transport, its key store and its
// audit log. It is the only code that imports tss-lib (through signer/mpc)
// and bbolt (through signer/store).
//
// Where things happen:
//
//	auth.go     who may call what: roles from client certificates
//	handshake.go  refused TLS handshakes, logged (rate-limited)
//	wallet.go   WalletService: key generation (as coordinator), addresses
//	withdrawal.go  WithdrawalService: where a withdrawal is checked (with
//	            package policy), bound on a majority, signed and finalized
//	officer.go  OfficerService: the policy bundle in force, officers'
//	            approvals
//	peer.go     PeerService: joining sessions other nodes coordinate
//	session.go  the hardened transport under every session
//	engine.go   the internal signing engine
//	pool.go     the sealed pre-parameter pool
package signer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// Version is the node software's version, reported by GetStatus.
var Version = "0.1.0-dev"

// Options are what a node needs besides its config.
type Options struct {
	Sealer hsm.Sealer
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registry receives the node's metrics; nil means a new registry.
	Registry *prometheus.Registry
	// SigningTimeout and KeygenTimeout are how long sessions this node
	// coordinates may run; zero means SigningTimeout and KeygenTimeout.
	// Members never allow more than those.
	SigningTimeout, KeygenTimeout time.Duration
	// Store tunes the check of the node's database at start: how long it
	// may take, and whether to accept a file one of whose meta pages is
	// damaged (signerd -check-timeout and -accept-meta-fallback).
	Store store.OpenOptions
}

// Node is one signer node.
type Node struct {
	cfg     *Config
	id      string
	log     *slog.Logger
	sealer  hsm.Sealer
	store   *store.Store
	now     func() time.Time
	metrics *metrics
	reg     *prometheus.Registry

	serverTLS *tls.Config
	peers     map[string]*peerClient
	sessions  *sessions
	pool      *pool
	health    *health.Server
	timeouts  struct{ signing, keygen time.Duration }

	decideMu sync.Mutex // withdrawal decisions and bindings, one at a time
	driveMu  sync.Mutex
	driving  map[string]bool // withdrawals this node is coordinating now
	rerun    map[string]bool // ... whose state changed while it was
	policies policies
	refusals refusalLimiter // per client, before a refusal is logged
	watchMu  sync.Mutex
	watchers map[string][]chan *store.Withdrawal

	ctx    context.Context // ends when the node shuts down
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pb.UnsafeWalletServiceServer
	pb.UnsafeWithdrawalServiceServer
	pb.UnsafeNodeServiceServer
	pb.UnsafePeerServiceServer
	pb.UnsafeOfficerServiceServer
}

// New opens a node's store and prepares its connections. It does not
// listen yet: see Serve.
func New(cfg *Config, opt Options) (*Node, error) {
	if opt.Sealer == nil {
		return nil, errors.New("signer: no sealer")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Registry == nil {
		opt.Registry = prometheus.NewRegistry()
	}
	caPEM, certPEM, keyPEM, err := readTLSFiles(cfg.TLS)
	if err != nil {
		return nil, err
	}
	serverTLS, err := pki.ServerTLS(caPEM, certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("signer: server TLS: %w", err)
	}
	verifyConnectionLogged(serverTLS)
	key, err := pki.SignerFromKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("signer: node key: %w", err)
	}
	certDER, err := certificateDER(certPEM)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("signer: data dir: %w", err)
	}
	st, err := store.OpenWith(filepath.Join(cfg.DataDir, "node.db"), key, audit.Genesis{NodeID: cfg.NodeID, CertDER: certDER, Format: audit.Version}, opt.Now, opt.Store)
	if err != nil {
		return nil, storeError(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, id: cfg.NodeID, log: opt.Logger.With("node", cfg.NodeID), sealer: opt.Sealer, store: st,
		now: opt.Now, metrics: newMetrics(opt.Registry), reg: opt.Registry, serverTLS: serverTLS,
		peers: map[string]*peerClient{}, sessions: newSessions(), health: health.NewServer(),
		ctx: ctx, cancel: cancel, driving: map[string]bool{}, rerun: map[string]bool{}, watchers: map[string][]chan *store.Withdrawal{},
	}
	for _, p := range cfg.Peers {
		clientTLS, err := pki.ClientTLS(caPEM, certPEM, keyPEM, p.ID, p.CertSHA256)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("signer: client TLS for %s: %w", p.ID, err)
		}
		n.peers[p.ID] = &peerClient{id: p.ID, address: p.Address, pin: p.CertSHA256, tls: clientTLS}
	}
	n.policies.byHash = map[[32]byte]*policy.Bundle{}
	if err := n.installGenesis(); err != nil {
		st.Close()
		cancel()
		return nil, err
	}
	n.pool = newPool(n, cfg.PreParams)
	n.timeouts.signing = clampTimeout(opt.SigningTimeout, SigningTimeout)
	n.timeouts.keygen = clampTimeout(opt.KeygenTimeout, KeygenTimeout)
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// Serve listens on the config's address and serves until ctx ends, then
// shuts down gracefully.
func (n *Node) Serve(ctx context.Context) error {
	lis, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("signer: listen: %w", err)
	}
	return n.ServeListener(ctx, lis)
}

// ServeListener serves on lis until ctx ends. On the way out it stops
// accepting calls, aborts running sessions (telling their peers), waits for
// handlers to return, and closes the store.
func (n *Node) ServeListener(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer(
		grpc.Creds(&handshakeLogger{TransportCredentials: credentials.NewTLS(n.serverTLS), n: n, limit: newLogLimiter(handshakeLogBurst, handshakeLogEvery)}),
		grpc.ChainUnaryInterceptor(n.unaryInterceptor),
		grpc.ChainStreamInterceptor(n.streamInterceptor),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	pb.RegisterAuditServiceServer(srv, auditService{n: n})
	pb.RegisterWalletServiceServer(srv, n)
	pb.RegisterWithdrawalServiceServer(srv, n)
	pb.RegisterNodeServiceServer(srv, n)
	pb.RegisterPeerServiceServer(srv, n)
	pb.RegisterOfficerServiceServer(srv, n)
	grpc_health_v1.RegisterHealthServer(srv, n.health)
	reflection.Register(srv)

	var metricsSrv *http.Server
	if n.cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
		metricsSrv = &http.Server{Addr: n.cfg.MetricsListen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := metricsSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("metrics listener", "err", err)
			}
		}()
	}
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.pool.fill(n.ctx) }()
	go func() { defer n.wg.Done(); n.janitor(n.ctx) }()
	n.recoverPending()
	n.resumeWithdrawals()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	n.log.Info("serving", "listen", lis.Addr().String(), "peers", len(n.peers))
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	n.log.Info("shutting down")
	n.health.Shutdown()
	n.cancel() // running sessions abort and tell their peers
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	n.wg.Wait()
	for _, p := range n.peers {
		p.close()
	}
	if err := n.store.Close(); err != nil && serveErr == nil {
		serveErr = err
	}
	return serveErr
}

func (n *Node) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n.sessions.sweep(now)
		}
	}
}

// audit appends events to the audit log. A failure to log is an internal
// error: it is logged loudly, and callers that change state use the store's
// transactional variants instead.
func (n *Node) audit(events ...store.Event) {
	if err := n.store.Append(events...); err != nil {
		n.log.Error("audit log append failed", "err", err)
	}
}

// storeError says what to do about a database the node cannot start on.
func storeError(err error) error {
	var de *store.DamageError
	switch {
	case errors.As(err, &de) && de.MetaFallback:
		return fmt.Errorf("signer: %w; the node does not start on it: if the node stopped in the middle of a commit (a crash, a power loss), "+
			"that commit was never acknowledged and the intact meta page is right: accept it once with -accept-meta-fallback; "+
			"otherwise restore the node's data directory from a backup, or re-provision the node from its peers", err)
	case errors.As(err, &de):
		return fmt.Errorf("signer: %w; the node does not start on it: restore the node's data directory from a backup, or re-provision the node from its peers", err)
	case errors.Is(err, store.ErrCheckTimeout):
		return fmt.Errorf("signer: %w (-check-timeout)", err)
	}
	return err
}

func readTLSFiles(c TLSConfig) (ca, cert, key []byte, err error) {
	if ca, err = os.ReadFile(c.CA); err == nil {
		if cert, err = os.ReadFile(c.Cert); err == nil {
			key, err = os.ReadFile(c.Key)
		}
	}
	if err != nil {
		err = fmt.Errorf("signer: TLS files: %w", err)
	}
	return ca, cert, key, err
}

func certificateDER(certPEM []byte) ([]byte, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("signer: node certificate is not PEM")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return nil, fmt.Errorf("signer: node certificate: %w", err)
	}
	return b.Bytes, nil
}
