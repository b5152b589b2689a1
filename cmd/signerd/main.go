// Command signerd is a countersign signer node.
//
//	signerd -config node-1/config.json
//	signerd reseal -config node-1/config.json -to tpm [-pcrs 7] [-yes]
//
// It serves gRPC over mutual TLS on the config's address, keeps its
// pre-parameter pool filled, and stops gracefully on SIGINT or SIGTERM. A
// node whose sealer cannot be opened (a changed PCR, a wrong TPM PIN, no
// TPM) does not start, and says why.
//
// `signerd reseal` moves a stopped node's sealed secrets to another sealer
// (see reseal.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/countersign/countersign/signer"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "reseal" {
		err = reseal(os.Args[2:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	} else {
		configPath := flag.String("config", "config.json", "the node's config file")
		flag.Parse()
		err = run(*configPath)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "signerd:", err)
		os.Exit(1)
	}
}

func run(configPath string) error {
	cfg, err := signer.LoadConfig(configPath)
	if err != nil {
		return err
	}
	resolveSealerPaths(&cfg.Sealer, filepath.Dir(configPath))
	log := newLogger(cfg.Log, os.Stderr)
	sealer, err := signer.OpenSealer(cfg.Sealer, os.LookupEnv)
	if err != nil {
		return err
	}
	node, err := signer.New(cfg, signer.Options{Sealer: sealer, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
