package main

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
)

var poolWaitCommand = &command{
	Name:  "pool wait",
	Args:  "[-min N] [-timeout D] [flags]",
	Short: "wait until every node has pre-parameters ready",
	Long: `Pool wait polls every node of the cluster until each has at least -min sets of
pre-parameters ready, printing the pools as they fill. A key generation uses
one set on every node, and a node takes tens of seconds to generate a set, so
this is the wait before 'signerctl wallet create' can start at once. Nodes
that do not answer yet (a cluster still starting) are waited for too.

With -json, progress goes to standard error and the final pools, as JSON, to
standard output.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.registerAllNodes(fs)
		minReady := fs.Uint("min", 1, "how many sets every node must have ready")
		timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *minReady == 0 {
				return usagef("-min must be at least 1")
			}
			return c.poolWait(ctx, &cf, uint32(*minReady), *timeout)
		}
	},
}

// poolPoll is how often pool wait asks, and poolQuiet how long it stays
// silent when nothing changes.
const (
	poolPoll  = 2 * time.Second
	poolQuiet = 10 * time.Second
)

func (c *cli) poolWait(ctx context.Context, cf *clientFlags, minReady uint32, timeout time.Duration) error {
	cl, err := cf.open()
	if err != nil {
		return err
	}
	var clients []*client
	for _, id := range cl.nodeIDs() {
		client, err := cl.dial(id)
		if err != nil {
			return err
		}
		defer client.Close()
		clients = append(clients, client)
	}
	progress := c.stdout
	if cf.json {
		progress = c.stderr
	}
	fmt.Fprintf(progress, "waiting until every node has %d pre-parameter set(s) ready (at most %s)\n", minReady, timeout)
	start := time.Now()
	deadline := start.Add(timeout)
	var lastState string
	var lastPrint time.Time
	for {
		pools := make([]poolJSON, len(clients))
		var wg sync.WaitGroup
		for i, client := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				defer cancel()
				pools[i] = poolJSON{NodeID: client.node.ID, noAnswer: true}
				if st, err := client.status.GetStatus(cctx, &pb.GetStatusRequest{}); err == nil && st.Pool != nil {
					pools[i] = poolToJSON(st.Pool)
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return fmt.Errorf("pool wait: %w", ctx.Err())
		}
		ready := true
		for _, p := range pools {
			ready = ready && p.Ready >= minReady
		}
		line := describePools(pools)
		if ready {
			fmt.Fprintf(progress, "[%6s] ready: %s\n", elapsed(time.Since(start)), line)
			if cf.json {
				return printJSON(c, pools)
			}
			return nil
		}
		if state := poolState(pools); state != lastState || time.Since(lastPrint) >= poolQuiet {
			fmt.Fprintf(progress, "[%6s] %s\n", elapsed(time.Since(start)), line)
			lastState, lastPrint = state, time.Now()
		}
		if time.Now().Add(poolPoll).After(deadline) {
			return withHint(fmt.Errorf("pool wait: not every node had %d set(s) ready after %s: %s", minReady, timeout, line),
				"generation continues in the background; wait longer with -timeout, and check 'signerctl status -all' for nodes that do not answer")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pool wait: %w", ctx.Err())
		case <-time.After(poolPoll):
		}
	}
}

// poolState is what of the pools is worth a new line when it changes:
// everything but the seconds.
func poolState(pools []poolJSON) string {
	var s []byte
	for _, p := range pools {
		s = fmt.Appendf(s, "%s %d/%d %t %t;", p.NodeID, p.Ready, p.Target, p.Generating, p.noAnswer)
	}
	return string(s)
}
