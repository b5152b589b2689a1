package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// callTimeout bounds a single unary call. GetStatus probes the node's peers
// (two seconds each at most), so it may take a few seconds when some are down.
const callTimeout = 20 * time.Second

var statusCommand = &command{
	Name:  "status",
	Args:  "[-all] [-node ID] [flags]",
	Short: "show a node's version, pre-parameter pool and peers",
	Long: `Status asks a node (or, with -all, every node of the cluster) for its
version, its pool of pre-parameters (each wallet's key generation uses one set
per node; new sets take tens of seconds to generate), its wallets and whether
it reaches its peers. Any client role may ask. The exit code is 1 if a node
did not answer.

With -json it prints one object, or with -all an array of them (a node that
did not answer has only node_id, address and error).`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		all := fs.Bool("all", false, "ask every node of the cluster")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return c.status(ctx, &cf, *all)
		}
	},
}

// statusJSON is status's -json output for one node.
type statusJSON struct {
	NodeID         string     `json:"node_id"`
	Address        string     `json:"address"`
	Version        string     `json:"version"`
	Wallets        uint32     `json:"wallets"`
	ActiveSessions uint32     `json:"active_sessions"`
	Pool           poolJSON   `json:"pool"`
	Peers          []peerJSON `json:"peers"`
	// Error is why the node did not answer; the fields above are then empty.
	Error string `json:"error,omitempty"`
}

type poolJSON struct {
	NodeID            string `json:"node_id"`
	Ready             uint32 `json:"ready"`
	Target            uint32 `json:"target"`
	Generating        bool   `json:"generating"`
	GeneratingSeconds uint32 `json:"generating_seconds"`
	LastSeconds       uint32 `json:"last_seconds"`

	// noAnswer: the node did not answer, so the fields above say nothing.
	noAnswer bool
	// unsure: the pool comes from another node's report, which lists a
	// peer that did not answer with its id alone, just as a peer whose
	// pool is disabled and empty answers.
	unsure bool
}

type peerJSON struct {
	NodeID    string `json:"node_id"`
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

func poolToJSON(p *pb.PoolStatus) poolJSON {
	return poolJSON{NodeID: p.GetNodeId(), Ready: p.GetReady(), Target: p.GetTarget(), Generating: p.GetGenerating(),
		GeneratingSeconds: p.GetGeneratingSeconds(), LastSeconds: p.GetLastSeconds()}
}

func (c *cli) status(ctx context.Context, cf *clientFlags, all bool) error {
	cl, err := cf.open()
	if err != nil {
		return err
	}
	ids := []string{cf.node}
	if all {
		ids = cl.nodeIDs()
	}
	out := []statusJSON{}
	var errs []error
	var failed []string
	for i, id := range ids {
		st, addr, err := c.getStatus(ctx, cl, id)
		if err != nil {
			if errors.Is(err, context.Canceled) || !all {
				return err
			}
			errs = append(errs, err)
			failed = append(failed, id)
			out = append(out, statusJSON{NodeID: id, Address: addr, Peers: []peerJSON{}, Error: err.Error()})
			if !cf.json {
				if i > 0 {
					fmt.Fprintln(c.stdout)
				}
				msg := err.Error()
				if ce := (*callError)(nil); errors.As(err, &ce) {
					msg = fmt.Sprintf("%s (%s)", ce.msg, ce.code)
				}
				fmt.Fprintf(c.stdout, "%s (%s) did not answer: %s\n", id, addr, msg)
			}
			continue
		}
		js := statusJSON{NodeID: st.NodeId, Address: addr, Version: st.Version, Wallets: st.Wallets,
			ActiveSessions: st.ActiveSessions, Pool: poolToJSON(st.Pool), Peers: []peerJSON{}}
		for _, p := range st.Peers {
			js.Peers = append(js.Peers, peerJSON{NodeID: p.NodeId, Address: p.Address, Reachable: p.Reachable, Error: p.Error})
		}
		out = append(out, js)
		if !cf.json {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			printStatus(c.stdout, js)
		}
	}
	if cf.json {
		var v any = out
		if !all && len(out) == 1 {
			v = out[0]
		}
		if err := printJSON(c, v); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return &summaryError{msg: fmt.Sprintf("%d of %d nodes did not answer: %s", len(errs), len(ids), strings.Join(failed, ", ")), err: errs[0]}
	}
	return nil
}

// summaryError stands for several errors, printed before: its message
// sums them up, and it unwraps to the first for its code and hint.
type summaryError struct {
	msg string
	err error
}

func (e *summaryError) Error() string { return e.msg }
func (e *summaryError) Unwrap() error { return e.err }

// getStatus calls GetStatus on node id and returns its answer and address.
func (c *cli) getStatus(ctx context.Context, cl *cluster, id string) (*pb.GetStatusResponse, string, error) {
	client, err := cl.dial(id)
	if err != nil {
		return nil, "", err
	}
	defer client.Close()
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	st, err := client.status.GetStatus(cctx, &pb.GetStatusRequest{})
	return st, client.node.Address, callFailed(ctx, "status", client, cl.role, err)
}

func printStatus(w io.Writer, s statusJSON) {
	fmt.Fprintf(w, "%s (%s)  countersign %s\n", s.NodeID, s.Address, s.Version)
	fmt.Fprintf(w, "  pool      %s\n", describePool(s.Pool))
	fmt.Fprintf(w, "  wallets   %d; sessions running: %d\n", s.Wallets, s.ActiveSessions)
	for i, p := range s.Peers {
		label := "  peers     "
		if i > 0 {
			label = "            "
		}
		state := "reachable"
		if !p.Reachable {
			state = "NOT REACHABLE: " + p.Error
		}
		fmt.Fprintf(w, "%s%s %s %s\n", label, p.NodeID, p.Address, state)
	}
}

// describePool says how a node's pool stands, without the node id:
// "1/2 ready, generating 14s (the last set took 41s)", or "pool disabled
// (target 0)" for a node that keeps none ready.
func describePool(p poolJSON) string {
	var s string
	switch {
	case p.noAnswer:
		return "no pool status: the node did not answer"
	case p.Target == 0 && p.Ready == 0 && !p.Generating && p.unsure:
		return "no sets, target 0 (pool disabled, or the node did not answer)"
	case p.Target == 0:
		s = "pool disabled (target 0)"
		if p.Ready > 0 {
			s += fmt.Sprintf(", %d set%s ready", p.Ready, plural(p.Ready))
		}
	default:
		s = fmt.Sprintf("%d/%d ready", p.Ready, p.Target)
	}
	if p.Generating {
		s += fmt.Sprintf(", generating %s", seconds(p.GeneratingSeconds))
	}
	if p.LastSeconds > 0 {
		s += fmt.Sprintf(" (the last set took %s)", seconds(p.LastSeconds))
	}
	return s
}

// describePools is one line for several nodes' pools:
// "node-1 1/2 ready; node-2 0/2 ready, generating 14s".
func describePools(pools []poolJSON) string {
	var parts []string
	for _, p := range pools {
		p.LastSeconds = 0 // too long for one line
		parts = append(parts, p.NodeID+" "+describePool(p))
	}
	return strings.Join(parts, "; ")
}

// reportedPools are the pools a node listed in a progress report, where a
// peer that did not answer has its id alone.
func reportedPools(pools []*pb.PoolStatus) []poolJSON {
	out := make([]poolJSON, len(pools))
	for i, p := range pools {
		out[i] = poolToJSON(p)
		out[i].unsure = true
	}
	return out
}

func plural(n uint32) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func seconds(s uint32) string {
	return (time.Duration(s) * time.Second).String()
}
