package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits of talking to nodes.
const (
	// callTimeout bounds one call to one node.
	callTimeout = 20 * time.Second
	// maxPolicyLookups bounds the versions fetched to verify a chain of
	// bundles from genesis.
	maxPolicyLookups = 1000
)

// node is a connection to one node, as the officer role.
type node struct {
	id, address string
	conn        *grpc.ClientConn
	officer     pb.OfficerServiceClient
	withdrawals pb.WithdrawalServiceClient
	wallets     pb.WalletServiceClient
}

// cluster is the cluster directory opened: its nodes, dialled lazily.
type cluster struct {
	dir   string
	nodes []*node // the node of -node first, then manifest order
	// policies caches bundles verified in this run, by version.
	policies map[int64]*verified
	// unverified are versions that did not verify in this run, reported
	// once.
	unverified map[int64]error
}

func (c *cli) openCluster() (*cluster, error) {
	dir := c.g.cluster
	if dir == "" {
		return nil, withHint(errors.New("no cluster directory"), "pass -cluster DIR or set %s: the directory with cluster.json and clients/officer.pem", envCluster)
	}
	m, err := roster.LoadManifest(dir)
	if err != nil {
		return nil, err
	}
	creds, err := roster.ReadCredentials(dir, pki.RoleOfficer)
	if err != nil {
		return nil, withHint(err, "the officer client certificate belongs in %s/clients (officer.pem, officer-key.pem) with the cluster CA in %s/ca.pem", dir, dir)
	}
	cl := &cluster{dir: dir, policies: map[int64]*verified{}, unverified: map[int64]error{}}
	mn := slices.Clone(m.Nodes)
	if c.g.node != "" {
		i := slices.IndexFunc(mn, func(n roster.Node) bool { return n.ID == c.g.node })
		if i < 0 {
			return nil, usagef("-node %s: not in %s/cluster.json", c.g.node, dir)
		}
		mn[0], mn[i] = mn[i], mn[0]
	}
	for _, n := range mn {
		conn, err := roster.Dial(n, creds)
		if err != nil {
			cl.Close()
			return nil, err
		}
		cl.nodes = append(cl.nodes, &node{id: n.ID, address: n.Address, conn: conn, officer: pb.NewOfficerServiceClient(conn),
			withdrawals: pb.NewWithdrawalServiceClient(conn), wallets: pb.NewWalletServiceClient(conn)})
	}
	return cl, nil
}

func (cl *cluster) Close() {
	for _, n := range cl.nodes {
		n.conn.Close()
	}
}

// nodeError is a failed call to a node.
type nodeError struct {
	op   string
	node string
	code codes.Code
	msg  string
}

func (e *nodeError) Error() string {
	return fmt.Sprintf("%s on %s: %s (%s)", e.op, e.node, e.msg, e.code)
}

func (e *nodeError) hint() string {
	switch e.code {
	case codes.Unavailable:
		return "is the node running, and is -cluster the directory of its cluster?"
	case codes.Unauthenticated:
		return "the node did not accept the officer client certificate: is -cluster the node's own cluster?"
	case codes.PermissionDenied:
		return "the node refused it: read the reason above"
	case codes.NotFound:
		return "'officer pending' lists the withdrawals waiting for officers"
	}
	return ""
}

// call runs one call against n with a timeout, turning its error into a
// nodeError.
func call[T any](ctx context.Context, n *node, op string, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := f(ctx)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return out, fmt.Errorf("%s on %s: %w", op, n.id, context.Canceled)
		}
		st, _ := status.FromError(err)
		return out, &nodeError{op: op, node: n.id, code: st.Code(), msg: st.Message()}
	}
	return out, nil
}

func codeOf(err error) codes.Code {
	if ne, ok := errors.AsType[*nodeError](err); ok {
		return ne.code
	}
	return codes.Unknown
}

// first runs f on each node in turn until one answers, and returns that
// node's answer; NotFound from one node moves on to the next.
func first[T any](ctx context.Context, cl *cluster, op string, f func(context.Context, *node) (T, error)) (T, *node, error) {
	var errs []error
	for _, n := range cl.nodes {
		out, err := call(ctx, n, op, func(ctx context.Context) (T, error) { return f(ctx, n) })
		if err == nil {
			return out, n, nil
		}
		if errors.Is(err, context.Canceled) {
			return out, nil, err
		}
		errs = append(errs, err)
	}
	var zero T
	if len(errs) == 1 {
		return zero, nil, errs[0]
	}
	return zero, nil, fmt.Errorf("no node answered: %w", errors.Join(errs...))
}

// every runs f on every node at once and returns the answers and errors
// in node order.
func every[T any](ctx context.Context, cl *cluster, op string, f func(context.Context, *node) (T, error)) ([]T, []error) {
	outs, errs := make([]T, len(cl.nodes)), make([]error, len(cl.nodes))
	var wg sync.WaitGroup
	for i, n := range cl.nodes {
		wg.Go(func() {
			outs[i], errs[i] = call(ctx, n, op, func(ctx context.Context) (T, error) { return f(ctx, n) })
		})
	}
	wg.Wait()
	return outs, errs
}

// verified is a bundle verified here along its chain from genesis.
type verified struct {
	bundle     *policy.Bundle
	sigs       []policy.Signature
	signedBy   []string // whose signatures counted
	signers    *policy.Bundle
	node       string // who served it
	acceptedAt time.Time
	// pinned says how genesis was checked, for people.
	pinned string
}

// verifiedPolicy fetches the bundle of version (0: in force) from a node
// and verifies it here: the genesis bundle against its own officers (and
// the officer's own copy of it, if any), each later one against the
// officers of the one before, as nodes accept them.
func (c *cli) verifiedPolicy(ctx context.Context, cl *cluster, version int64) (*verified, error) {
	if v, ok := cl.policies[version]; ok {
		return v, nil
	}
	target, n, err := first(ctx, cl, "GetPolicy", func(ctx context.Context, n *node) (*pb.GetPolicyResponse, error) {
		return n.officer.GetPolicy(ctx, &pb.GetPolicyRequest{Version: version})
	})
	if err != nil {
		return nil, err
	}
	if target.Policy == nil {
		return nil, fmt.Errorf("%s returned no policy", n.id)
	}
	top := target.Policy.Version
	if version != 0 && top != version {
		return nil, fmt.Errorf("%s returned policy version %d when asked for %d", n.id, top, version)
	}
	if top < 1 {
		return nil, fmt.Errorf("%s returned policy version %d", n.id, top)
	}
	pinned, err := c.pinnedGenesis(cl)
	if err != nil {
		return nil, err
	}
	var prev *verified
	lookups := 0
	for v := int64(1); v <= top; v++ {
		var p *pb.PolicyBundle
		if v == top {
			p = target.Policy
		} else {
			if lookups++; lookups > maxPolicyLookups {
				return nil, fmt.Errorf("policy version %d: more than %d versions to verify from genesis; this CLI cannot verify the chain", top, maxPolicyLookups)
			}
			resp, err := call(ctx, n, "GetPolicy", func(ctx context.Context) (*pb.GetPolicyResponse, error) {
				return n.officer.GetPolicy(ctx, &pb.GetPolicyRequest{Version: v})
			})
			if codeOf(err) == codes.NotFound {
				continue // versions need not be consecutive
			}
			if err != nil {
				return nil, err
			}
			p = resp.Policy
		}
		cur, err := verifyStep(prev, p, n.id)
		if err != nil {
			return nil, err
		}
		if prev == nil {
			if pinned != nil && !bytes.Equal(pinned, p.Bundle) {
				return nil, fmt.Errorf("the genesis bundle %s serves is not your copy (%s): do not trust this cluster's policy", n.id, c.g.genesis)
			}
			cur.pinned = "NOT PINNED: the genesis bundle is trusted as the node serves it (pass -genesis FILE, your own copy, to check it)"
			if pinned != nil {
				cur.pinned = "matches your copy " + c.g.genesis
			}
		} else {
			cur.pinned = prev.pinned
		}
		prev = cur
		cl.policies[cur.bundle.Version] = cur
	}
	if prev == nil || prev.bundle.Version != top {
		return nil, fmt.Errorf("%s: policy version %d is not on a chain from genesis", n.id, top)
	}
	if version == 0 {
		cl.policies[0] = prev
	}
	return prev, nil
}

// verifyStep verifies p, served by node, as the successor of prev (nil:
// p is the genesis bundle).
func verifyStep(prev *verified, p *pb.PolicyBundle, node string) (*verified, error) {
	if p == nil {
		return nil, fmt.Errorf("%s returned no policy", node)
	}
	var sigs []policy.Signature
	for _, s := range p.Signatures {
		sigs = append(sigs, policy.Signature{Officer: s.Officer, Signature: s.Signature})
	}
	v := &verified{sigs: sigs, node: node, acceptedAt: p.AcceptedAt.AsTime()}
	var err error
	if prev == nil {
		v.bundle, err = policy.AcceptGenesis(p.Bundle, sigs)
		if err == nil {
			v.signers = v.bundle
			for _, s := range sigs {
				v.signedBy = append(v.signedBy, s.Officer)
			}
		}
	} else {
		v.signers = prev.bundle
		v.bundle, v.signedBy, err = policy.Accept(prev.bundle, p.Bundle, sigs)
	}
	if err != nil {
		return nil, fmt.Errorf("policy version %d as %s serves it does not verify here: %w", p.Version, node, err)
	}
	h := sha256.Sum256(p.Bundle)
	if !bytes.Equal(p.Hash, h[:]) || p.Version != v.bundle.Version {
		return nil, fmt.Errorf("%s labels policy version %d (hash %x…) as version %d, hash %x…", node, v.bundle.Version, h[:6], p.Version, short(p.Hash))
	}
	return v, nil
}

// pinnedGenesis returns the officer's own copy of the genesis bundle:
// -genesis, or the cluster directory's first node's copy.
func (c *cli) pinnedGenesis(cl *cluster) ([]byte, error) {
	if c.g.genesis == "" {
		for _, n := range cl.nodes {
			p := filepath.Join(cl.dir, "nodes", n.id, "genesis-policy.json")
			if _, err := os.Stat(p); err == nil {
				c.g.genesis = p
				break
			}
		}
		if c.g.genesis == "" {
			return nil, nil
		}
	}
	raw, err := readFileMax(c.g.genesis, policy.MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("-genesis: %w", err)
	}
	return raw, nil
}

func short(b []byte) []byte {
	if len(b) > 6 {
		return b[:6]
	}
	return b
}

// signedByText says who signed a verified bundle and what that counted for.
func signedByText(v *verified) string {
	names := strings.Join(v.signedBy, ", ")
	if v.signers == v.bundle {
		return fmt.Sprintf("%s: %d of its own officers, %d needed for a genesis bundle (verified here)", names, len(v.signedBy), v.bundle.ChangeQuorum)
	}
	return fmt.Sprintf("%s: %d of the officers of version %d, %d needed (verified here)", names, len(v.signedBy), v.signers.Version, v.signers.ChangeQuorum)
}
