package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientFlags are the flags of every command that calls a node.
type clientFlags struct {
	cluster string
	node    string
	role    string
	json    bool

	// withdraw submit's: how the intent is signed
	originatorKey, intentSignature string
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	f.registerAllNodes(fs)
	fs.StringVar(&f.node, "node", "node-1", "the node to call, by `id`; its address comes from the cluster's manifest")
}

// registerAllNodes registers the flags of a command that calls every node.
func (f *clientFlags) registerAllNodes(fs *flag.FlagSet) {
	fs.StringVar(&f.cluster, "cluster", "cluster", "the cluster `directory` ('signerd init' wrote it)")
	fs.StringVar(&f.role, "role", string(pki.RoleBackend), "the client certificate to present: backend, officer or auditor")
	fs.BoolVar(&f.json, "json", false, "print JSON for programs instead of text")
}

// client is a connection to one node of a cluster.
type client struct {
	node        roster.Node
	conn        *grpc.ClientConn
	wallets     pb.WalletServiceClient
	status      pb.NodeServiceClient
	withdrawals pb.WithdrawalServiceClient
}

func (c *client) Close() error { return c.conn.Close() }

// cluster is a cluster directory opened for calls: its manifest and the
// client certificate of the chosen role.
type cluster struct {
	dir      string
	manifest *roster.Manifest
	role     pki.Role
	creds    roster.Credentials
}

func (f *clientFlags) open() (*cluster, error) {
	role, err := pki.ParseRole(f.role)
	if err != nil {
		return nil, withHint(err, "use -role backend, officer or auditor")
	}
	if role == pki.RoleNode {
		return nil, withHint(errors.New("-role node: node certificates belong to the nodes"), "use -role backend, officer or auditor")
	}
	m, err := roster.LoadManifest(f.cluster)
	if err != nil {
		return nil, withHint(err, "pass -cluster DIR, the directory 'signerd init' wrote")
	}
	creds, err := roster.ReadCredentials(f.cluster, role)
	if err != nil {
		return nil, withHint(err, "the %s client certificate and key belong in %s/clients; they are written by 'signerd init'", role, f.cluster)
	}
	return &cluster{dir: f.cluster, manifest: m, role: role, creds: creds}, nil
}

// nodeIDs returns the ids of the cluster's nodes, in manifest order.
func (cl *cluster) nodeIDs() []string {
	var ids []string
	for _, n := range cl.manifest.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// dial returns a client of node id. grpc.NewClient connects lazily: an
// unreachable node fails the first call, not the dial.
func (cl *cluster) dial(id string) (*client, error) {
	node, ok := cl.manifest.Lookup(id)
	if !ok {
		return nil, withHint(fmt.Errorf("node %q is not in %s/cluster.json", id, cl.dir), "pass -node with one of %s", strings.Join(cl.nodeIDs(), ", "))
	}
	conn, err := roster.Dial(node, cl.creds)
	if err != nil {
		return nil, err
	}
	return &client{node: node, conn: conn, wallets: pb.NewWalletServiceClient(conn), status: pb.NewNodeServiceClient(conn),
		withdrawals: pb.NewWithdrawalServiceClient(conn)}, nil
}

// dialFlagged opens the cluster and dials the node the flags name.
func (f *clientFlags) dial() (*cluster, *client, error) {
	cl, err := f.open()
	if err != nil {
		return nil, nil, err
	}
	c, err := cl.dial(f.node)
	if err != nil {
		return nil, nil, err
	}
	return cl, c, nil
}

// callError is a failed call to a node: what was asked, of whom, and the
// gRPC status it ended with.
type callError struct {
	op   string // "wallet create"
	node string
	role pki.Role
	code codes.Code
	msg  string
	rule string // the rule code the node named (its ErrorInfo detail), if any
}

func (e *callError) Error() string { return fmt.Sprintf("%s on %s: %s", e.op, e.node, e.msg) }

// callFailed wraps the error of a call as a callError. A context ended by
// the user (Ctrl-C) stays context.Canceled.
func callFailed(ctx context.Context, op string, c *client, role pki.Role, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s on %s: %w", op, c.node.ID, context.Canceled)
	}
	st, _ := status.FromError(err)
	ce := &callError{op: op, node: c.node.ID + " (" + c.node.Address + ")", role: role, code: st.Code(), msg: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == roster.ErrorDomain {
			ce.rule = info.Reason
		}
	}
	return ce
}

// hint says what to do about a failed call, by its code.
func (e *callError) hint() string {
	switch e.code {
	case codes.Unavailable:
		return "is the node running (signerd, or 'signerd dev' for a lab cluster), and is -cluster the directory it was created from? 'signerctl status -all' shows which nodes answer"
	case codes.Unauthenticated:
		return "the node did not accept the client certificate: is -cluster the node's own cluster?"
	case codes.PermissionDenied:
		return fmt.Sprintf("the %s role may not call this: creating wallets, deriving addresses and submitting withdrawals need -role backend", e.role)
	case codes.NotFound:
		if strings.HasPrefix(e.op, "withdraw") {
			return "'signerctl withdraw list' shows the withdrawals this node knows"
		}
		return "'signerctl wallet list' shows the wallets this node holds"
	case codes.InvalidArgument:
		return "check the arguments; 'signerctl help' describes each command's flags"
	case codes.FailedPrecondition:
		return "the cluster is not ready for this; 'signerctl status -all' shows each node's pool and peers"
	case codes.Aborted:
		return "the session was aborted and nothing was kept; the nodes' logs say why. It is safe to try again"
	case codes.DeadlineExceeded:
		return "it took too long: check 'signerctl status -all', or allow more with -timeout where the command has it"
	case codes.Internal:
		return "the node hit an internal error; its log has the detail"
	}
	return ""
}

// printJSON writes v as indented JSON.
func printJSON(c *cli, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
