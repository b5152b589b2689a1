package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
)

var crossCheckCommand = &command{
	Name:  "cross-check",
	Args:  "[-json] DB1 DB2 ...",
	Short: "compare the nodes' logs: sessions, signatures and decisions each member must share",
	Long: `Compares the logs of the nodes of a cluster, record by verified record:

  - a session one node started must be in the log of every committee member,
    with the same committee and coordinator, and end the same way on each
    (the same signatures);
  - a withdrawal one node signed must be signed, with the same signatures,
    in the log of every member of the session that signed it, and decided
    there as allowed; a node must not sign what it refused;
  - the nodes that decided a withdrawal must agree on its request hash, the
    decision (allowed, or the rule that refused it), its digests, its
    transaction's id and fee, and, where allowed, its outflow per asset.

Each finding names the node and record that says something the others do
not, and the other node's record where there is one. Members whose logs
are not given are not compared (counted at the end). Exit status 1 if
anything is found.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		asJSON := fs.Bool("json", false, "print JSON for programs instead of text")
		return func(ctx context.Context, args []string) error {
			if len(args) < 2 {
				return usagef("cross-check: name the DB files of at least two nodes")
			}
			logs, closeAll, err := openAll(args)
			if err != nil {
				return err
			}
			defer closeAll()
			res := auditlog.CrossCheck(logs)
			if *asJSON {
				out := struct {
					OK        bool               `json:"ok"`
					Findings  []auditlog.Finding `json:"findings"`
					Sessions  int                `json:"sessions"`
					Signed    int                `json:"signed"`
					Decisions int                `json:"decisions"`
					Absent    map[string]int     `json:"absent_members,omitempty"`
				}{len(res.Findings) == 0, res.Findings, res.Sessions, res.Signed, res.Decisions, res.Absent}
				if out.Findings == nil {
					out.Findings = []auditlog.Finding{}
				}
				b, err := json.MarshalIndent(out, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "%s\n", b)
			} else {
				for _, f := range res.Findings {
					fmt.Fprintf(c.stdout, "FOUND %s\n", f)
				}
				for node, n := range res.Absent {
					fmt.Fprintf(c.stdout, "note: %d comparisons with %s left out: its log was not given\n", n, node)
				}
				fmt.Fprintf(c.stdout, "compared %d sessions, %d signed withdrawals, %d decisions across %d logs: ", res.Sessions, res.Signed, res.Decisions, len(logs))
				if len(res.Findings) == 0 {
					fmt.Fprintln(c.stdout, "they agree")
				} else {
					fmt.Fprintf(c.stdout, "%d findings\n", len(res.Findings))
				}
			}
			if len(res.Findings) > 0 {
				return errFound
			}
			return nil
		}
	},
}

// openAll opens every log, or none.
func openAll(paths []string) ([]*auditlog.Log, func(), error) {
	var logs []*auditlog.Log
	closeAll := func() {
		for _, l := range logs {
			l.Close()
		}
	}
	for _, p := range paths {
		l, err := auditlog.Open(p, 0)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		logs = append(logs, l)
	}
	return logs, closeAll, nil
}
