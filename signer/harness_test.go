package signer

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer/store"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// testCluster is n real nodes on 127.0.0.1 with real mutual TLS, real
// bbolt files and software sealers, started in this process.
type testCluster struct {
	t     testing.TB
	dir   string
	nodes map[string]*testNode
	ids   []string
	opts  Options // timeouts for the nodes' own sessions

	noPreParams map[string]bool // nodes whose pools start empty
	// sealers opens a node's sealer instead of its software key file, for
	// nodes that seal elsewhere (a TPM).
	sealers map[string]func() (hsm.Sealer, error)
}

type testNode struct {
	id     string
	cfg    *Config
	node   *Node
	cancel context.CancelFunc
	done   chan error
}

func newTestCluster(t testing.TB, n, threshold int, opts ...Options) *testCluster {
	t.Helper()
	return newTestClusterWith(t, n, threshold, nil, opts...)
}

func newTestClusterWith(t testing.TB, n, threshold int, emptyPools []string, opts ...Options) *testCluster {
	t.Helper()
	return newTestClusterSealed(t, n, threshold, emptyPools, nil, opts...)
}

// testClusterOptions adds the test genesis bundle (policytest: officers
// Alice, Bob and Carol) to o.
func testClusterOptions(t testing.TB, o ClusterOptions) ClusterOptions {
	t.Helper()
	g := policytest.Genesis("test")
	o.Genesis = policytest.Marshal(t, g)
	o.GenesisSignatures = policytest.SignaturesFile(t, policytest.SignBundle(t, o.Genesis, policytest.Alice, policytest.Bob))
	return o
}

// newTestClusterSealed starts a cluster whose nodes named in sealers open
// their sealer with the given function.
func newTestClusterSealed(t testing.TB, n, threshold int, emptyPools []string, sealers map[string]func() (hsm.Sealer, error), opts ...Options) *testCluster {
	t.Helper()
	dir := t.TempDir()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	m, err := CreateCluster(dir, testClusterOptions(t, ClusterOptions{Nodes: n, Threshold: threshold, Addresses: addrs}))
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, dir: dir, nodes: map[string]*testNode{}}
	if len(opts) > 0 {
		c.opts = opts[0]
	}
	c.sealers = sealers
	c.noPreParams = map[string]bool{}
	for _, id := range emptyPools {
		c.noPreParams[id] = true
	}
	for _, mn := range m.Nodes {
		cfg, err := LoadConfig(filepath.Join(dir, mn.Config))
		if err != nil {
			t.Fatal(err)
		}
		cfg.PreParams.Target = 0 // tests never search for safe primes
		c.ids = append(c.ids, mn.ID)
		c.nodes[mn.ID] = &testNode{id: mn.ID, cfg: cfg}
		c.start(mn.ID)
		fixture, err := os.ReadFile(filepath.Join("testdata", "preparams", mn.ID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if c.noPreParams[mn.ID] {
			continue
		}
		if err := c.nodes[mn.ID].node.AddPreParams(fixture); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *testCluster) start(id string) {
	c.t.Helper()
	tn := c.nodes[id]
	var sealer hsm.Sealer
	var err error
	if open, ok := c.sealers[id]; ok {
		sealer, err = open()
	} else {
		sealer, err = hsm.OpenSoftware(tn.cfg.Sealer.KeyFile, nil)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	opts := c.opts
	opts.Sealer = sealer
	if opts.Logger == nil {
		opts.Logger = log
	}
	node, err := New(tn.cfg, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	var lis net.Listener
	for range 50 { // the port was just released by the node's last run
		if lis, err = net.Listen("tcp", tn.cfg.Listen); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.node, tn.cancel, tn.done = node, cancel, make(chan error, 1)
	go func() { tn.done <- node.ServeListener(ctx, lis) }()
}

func (c *testCluster) stop(id string) {
	tn := c.nodes[id]
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	if err := <-tn.done; err != nil {
		c.t.Errorf("%s stopped with %v", id, err)
	}
	tn.cancel = nil
}

// stopAll stops every node and checks each bbolt file's consistency.
func (c *testCluster) stopAll() {
	for _, id := range c.ids {
		c.stop(id)
		if err := store.Check(filepath.Join(c.nodes[id].cfg.DataDir, "node.db")); err != nil {
			c.t.Errorf("%s: bbolt consistency: %v", id, err)
		}
	}
}

// dial connects to a node with the client certificate of role.
func (c *testCluster) dial(node string, role pki.Role) *grpc.ClientConn {
	c.t.Helper()
	caPath, certPath, keyPath := roster.ClientFiles(c.dir, role)
	return c.dialWith(node, caPath, certPath, keyPath)
}

func (c *testCluster) dialWith(node, caPath, certPath, keyPath string) *grpc.ClientConn {
	c.t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			c.t.Fatal(err)
		}
		return b
	}
	tlsCfg, err := pki.ClientTLS(read(caPath), read(certPath), read(keyPath), node, "")
	if err != nil {
		c.t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.nodes[node].cfg.Listen, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	return conn
}

// createWallet calls CreateWallet on node as the backend and returns the
// wallet and the progress messages seen.
func (c *testCluster) createWallet(node, label string) (*pb.Wallet, []*pb.Progress, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream, err := pb.NewWalletServiceClient(c.dial(node, pki.RoleBackend)).CreateWallet(ctx, &pb.CreateWalletRequest{Label: label})
	if err != nil {
		return nil, nil, err
	}
	var progress []*pb.Progress
	for {
		ev, err := stream.Recv()
		if err != nil {
			return nil, progress, err
		}
		if p := ev.GetProgress(); p != nil {
			progress = append(progress, p)
		}
		if w := ev.GetWallet(); w != nil {
			return w, progress, nil
		}
	}
}
