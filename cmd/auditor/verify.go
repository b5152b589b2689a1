package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
	"github.com/countersign/countersign/signer/audit"
)

var verifyCommand = &command{
	Name:  "verify",
	Args:  "[-ca FILE] [-json] DB...",
	Short: "check each log's hash chain and signatures, and the heads the nodes recorded of each other",
	Long: `Verifies each node's audit log, read-only: every record's place in the hash
chain, its signature by the node's key (named by the log's genesis record),
its time, and, across the logs given, every head a node recorded of a peer's
log (kind peer.head): a log that ends before such a head was truncated, one
whose record there has another hash was rewritten.

For each log it prints the first bad record exactly (node, record number,
what is wrong), or its head. Give every node's log at once: a truncated log
is found only through the heads its peers recorded. With -ca, each log's
key must be a node certificate of that cluster CA for the node the log
names; without it, a log proves only that one key wrote it.

Exit status 1 if anything is wrong.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		ca := fs.String("ca", "", "the cluster CA certificate `file` (ca.pem): check each log's key against it")
		asJSON := fs.Bool("json", false, "print JSON for programs instead of text")
		workers := fs.Int("workers", 0, "goroutines checking signatures (0: one per CPU)")
		return func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("verify: name at least one DB file")
			}
			var caPEM []byte
			if *ca != "" {
				var err error
				if caPEM, err = os.ReadFile(*ca); err != nil {
					return fmt.Errorf("-ca: %w", err)
				}
			}
			return c.verify(args, caPEM, *asJSON, *workers)
		}
	},
}

// problemJSON is a problem as -json prints it.
type problemJSON struct {
	Node    string `json:"node"`
	Path    string `json:"path"`
	Seq     uint64 `json:"seq"`
	What    string `json:"what"` // a stable word for the kind of problem
	Message string `json:"message"`
	SeenBy  string `json:"seen_by,omitempty"`
	SeenAt  uint64 `json:"seen_at,omitempty"`
}

type logJSON struct {
	Node         string         `json:"node"`
	Path         string         `json:"path"`
	OK           bool           `json:"ok"`
	Records      uint64         `json:"records"`
	HeadSeq      uint64         `json:"head_seq"`
	HeadHash     string         `json:"head_hash"`
	HeadTime     time.Time      `json:"head_time"`
	PeerHeads    int            `json:"peer_heads"`
	HeadsChecked int            `json:"heads_checked"`
	Kinds        map[string]int `json:"kinds"`
}

// what names the kind of a problem, for programs.
func what(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{audit.ErrChainBroken, "chain_broken"}, {audit.ErrGap, "missing"}, {audit.ErrOrder, "order"},
		{audit.ErrBadSignature, "bad_signature"}, {audit.ErrMalformed, "malformed"}, {audit.ErrTimeTravel, "time_travel"},
		{audit.ErrNoGenesis, "no_genesis"}, {audit.ErrTruncated, "truncated"}, {auditlog.ErrGenesis, "no_genesis"},
		{auditlog.ErrNotCluster, "not_cluster_key"}, {audit.ErrStorage, "unreadable"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "error"
}

// oneLine is s on one line: joined errors are separated by ": ".
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", ": ") }

func (c *cli) verify(paths []string, caPEM []byte, asJSON bool, workers int) error {
	var problems []auditlog.Problem
	var logs []*auditlog.Log
	for _, p := range paths {
		l, err := auditlog.Open(p, workers)
		if err != nil {
			problems = append(problems, auditlog.Problem{Node: "?", Path: p, Err: err})
			continue
		}
		defer l.Close()
		if caPEM != nil {
			if err := l.CheckCA(caPEM); err != nil {
				problems = append(problems, auditlog.Problem{Node: l.Node, Path: p, Err: err})
				continue
			}
		}
		logs = append(logs, l)
	}
	start := time.Now()
	lastProgress := start
	res := auditlog.Verify(logs, func(node string, n uint64) {
		if asJSON || time.Since(lastProgress) < 2*time.Second {
			return
		}
		lastProgress = time.Now()
		fmt.Fprintf(c.stderr, "%s: %d records verified (%.0f/s)\n", node, n, float64(n)/time.Since(start).Seconds())
	})
	problems = append(problems, res.Problems...)
	if asJSON {
		out := struct {
			OK        bool           `json:"ok"`
			Logs      []logJSON      `json:"logs"`
			Problems  []problemJSON  `json:"problems"`
			Unchecked map[string]int `json:"unchecked_heads,omitempty"`
		}{OK: len(problems) == 0, Logs: []logJSON{}, Problems: []problemJSON{}, Unchecked: res.Unchecked}
		for _, s := range res.Logs {
			kinds := map[string]int{}
			for k, n := range s.Kinds {
				kinds[string(k)] = n
			}
			out.Logs = append(out.Logs, logJSON{Node: s.Node, Path: s.Path, OK: s.OK, Records: s.Records, HeadSeq: s.Head.Seq,
				HeadHash: fmt.Sprintf("%x", s.Head.Hash), HeadTime: s.HeadTime, PeerHeads: s.PeerHeads, HeadsChecked: s.HeadsChecked, Kinds: kinds})
		}
		for _, p := range problems {
			out.Problems = append(out.Problems, problemJSON{Node: p.Node, Path: p.Path, Seq: p.Seq, What: what(p.Err),
				Message: p.Err.Error(), SeenBy: p.SeenBy, SeenAt: p.SeenAt})
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s\n", b)
	} else {
		if caPEM == nil {
			fmt.Fprintln(c.stdout, "note: no -ca given: each log is checked against the key its own genesis record names")
		}
		for _, s := range res.Logs {
			if !s.OK {
				continue
			}
			fmt.Fprintf(c.stdout, "ok    %s  %s: %d records, head %d:%x… at %s; %d peer heads recorded, %d heads of it checked\n",
				s.Node, s.Path, s.Records, s.Head.Seq, s.Head.Hash[:6], s.HeadTime.Format(time.RFC3339), s.PeerHeads, s.HeadsChecked)
		}
		for _, p := range problems {
			fmt.Fprintf(c.stdout, "FAIL  %s  %s: %s", p.Node, p.Path, oneLine(p.Err.Error()))
			if p.SeenBy != "" {
				fmt.Fprintf(c.stdout, " [head recorded by %s at its record %d]", p.SeenBy, p.SeenAt)
			}
			if p.More > 0 {
				fmt.Fprintf(c.stdout, " (and %d more peer heads it contradicts)", p.More)
			}
			fmt.Fprintln(c.stdout)
		}
		nodes := make([]string, 0, len(res.Unchecked))
		for n := range res.Unchecked {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		for _, n := range nodes {
			fmt.Fprintf(c.stdout, "note: %d heads recorded of %s not checked: its log was not given\n", res.Unchecked[n], n)
		}
		var total uint64
		for _, s := range res.Logs {
			total += s.Records
		}
		secs := time.Since(start).Seconds()
		fmt.Fprintf(c.stderr, "%d records in %.1fs (%.0f records/s)\n", total, secs, float64(total)/secs)
		if len(problems) == 0 {
			fmt.Fprintf(c.stdout, "OK: %d logs verified\n", len(res.Logs))
		} else {
			fmt.Fprintf(c.stdout, "FAIL: %d problems in %d logs\n", len(problems), len(paths))
		}
	}
	if len(problems) > 0 {
		return errFound
	}
	return nil
}
