// Command signerctl is the operators' and integrators' CLI of countersign:
// it creates wallets, derives addresses, builds, submits and follows
// withdrawals, drafts policy versions for officers to sign and reports the
// nodes' state. It is a client only and links none of a node's code;
// creating a cluster and running a lab cluster are `signerd init` and
// `signerd dev`.
//
//	signerctl status -all                  ask every node how it is
//	signerctl wallet create -label hot-1   run a distributed key generation
//	signerctl address -wallet w-…          derive a deposit address
//	signerctl policy allow -wallet w-… …   allow a destination on every node
//	signerctl withdraw build …             write an intent and its unsigned transaction
//	signerctl withdraw submit … -follow    have the cluster sign it
//
// Run "signerctl help" for every command and "signerctl help COMMAND" for
// its flags. Exit codes: 0 success, 1 an error, 2 a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := c.report(c.run(ctx, os.Args[1:]))
	stop()
	os.Exit(code)
}
