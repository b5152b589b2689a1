// Command signerd is a countersign signer node, and the commands that need
// a node's own code:
//
//	signerd -config node-1/config.json                    serve one node
//	signerd init -genesis FILE -dir cluster               write a new 2-of-3 cluster
//	signerd dev -dir cluster                              run every node of a lab cluster in this process
//	signerd reseal -config node-1/config.json -to tpm     move a stopped node's secrets to another sealer
//	signerd version
//
// Serving, it answers gRPC over mutual TLS on the config's address, keeps
// its pre-parameter pool filled, and stops gracefully on SIGINT or
// SIGTERM. A node whose sealer cannot be opened (a changed PCR, a wrong
// TPM PIN, no TPM) does not start, and says why; nor does a node whose
// database is damaged (signer/store's start-up check), unless the damage
// is one meta page and -accept-meta-fallback accepts the other.
//
// `signerd reseal` moves a stopped node's sealed secrets to another sealer
// (see reseal.go). Run "signerd help" for every command and "signerd help
// COMMAND" for its flags. Exit codes: 0 success, 1 an error, 2 a usage
// error.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/countersign/countersign/signer"
	"github.com/countersign/countersign/signer/store"
)

func main() {
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, env: os.LookupEnv,
		signals: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		}}
	os.Exit(c.report(c.run(context.Background(), os.Args[1:])))
}

// serve is signerd without a command: it parses -config and serves that
// node until SIGINT or SIGTERM.
func (c *cli) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("signerd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := registerServeFlags(fs)
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		c.printUsage(c.stdout)
		return nil
	case err != nil:
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q: a command comes first (signerd COMMAND [flags])", fs.Arg(0))
	}
	ctx, stop := c.interruptible(ctx)
	defer stop()
	return run(ctx, f, c.stderr, c.env)
}

// serveFlags are signerd's flags without a command.
type serveFlags struct {
	config string
	// store are the checks of node.db at start.
	store store.OpenOptions
}

func registerServeFlags(fs *flag.FlagSet) *serveFlags {
	var f serveFlags
	fs.StringVar(&f.config, "config", "config.json", "the node's config `file`")
	fs.DurationVar(&f.store.CheckTimeout, "check-timeout", store.DefaultCheckTimeout, "how long the check of node.db at start may take")
	fs.BoolVar(&f.store.AcceptMetaFallback, "accept-meta-fallback", false,
		"start although one of node.db's two meta pages is damaged, from the other (it may be the transaction before the last: after a crash during a commit)")
	return &f
}

// run serves the node f.config configures until ctx ends.
func run(ctx context.Context, f *serveFlags, logs io.Writer, env lookupEnv) error {
	cfg, err := signer.LoadConfig(f.config)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, logs)
	sealer, err := signer.OpenSealer(cfg.Sealer, env)
	if err != nil {
		return err
	}
	node, err := signer.New(cfg, signer.Options{Sealer: sealer, Logger: log, Store: f.store})
	if err != nil {
		return err
	}
	return node.Serve(ctx)
}

func newLogger(c signer.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
