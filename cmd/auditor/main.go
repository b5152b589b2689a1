// Command auditor is the auditors' CLI of countersign: it checks the
// nodes' audit logs from their bbolt files or from copies fetched from live
// nodes, without write access to anything.
//
//	auditor fetch -cluster DIR -node node-1 -o node-1.db   copy a live node's log
//	auditor verify -ca ca.pem node-*.db                    hash chains, signatures, peer heads
//	auditor cross-check node-*.db                          what one node did, the others saw
//	auditor replay node-*.db                               every decision re-run under the policy in force
//	auditor export -format jsonl node-*.db                 one row per record
//	auditor report -html report.html node-*.db             per wallet: withdrawals, refusals
//	auditor gen -records 1000000 -o big.db                 a large valid log, for measurements
//
// Run "auditor help" for every command and "auditor help COMMAND" for its
// flags. Exit codes: 0 nothing wrong, 1 a problem found in a log or an
// error, 2 a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{stdout: os.Stdout, stderr: os.Stderr}
	code := c.exitCode(c.run(ctx, os.Args[1:]))
	stop()
	os.Exit(code)
}
