// Command officer is the security officers' CLI of countersign: officers
// make and check their signing keys, review and sign policy bundles, and
// review, approve or reject withdrawals that wait for them.
//
// Nothing it shows is taken on a node's word. Every policy bundle is
// verified here, along its chain of signatures from the cluster's genesis
// bundle; every withdrawal is re-derived here from its raw intent and
// unsigned transaction with the very policy code the nodes run; the
// request hash an approval signs is recomputed here.
//
//	officer keygen -name alice -o alice.key   make a key (or use a security key)
//	officer whoami                             which key, which officer, which groups
//	officer policy show                        the policy in force, verified here
//	officer policy diff proposed.json          what a proposed bundle changes
//	officer policy sign proposed.json          sign it (into proposed.json.sigs)
//	officer policy submit proposed.json        offer it, with its signatures, to every node
//	officer pending                            withdrawals waiting for officers
//	officer show ID                            re-derive and show one
//	officer approve ID / officer reject ID -reason TEXT
//
// Run "officer help" for every command and its flags. Exit codes: 0
// success, 1 an error, 2 a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	code := c.report(c.run(ctx, os.Args[1:]))
	stop()
	os.Exit(code)
}
