// Command signerd is a countersign signer node.
//
//	signerd -config node-1/config.json
//
// It serves gRPC over mutual TLS on the config's address, keeps its
// pre-parameter pool filled, and stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/signer"
)

func main() {
	configPath := flag.String("config", "config.json", "the node's config file")
	flag.Parse()
	if err := run(*configPath); err != nil {
		fmt.Fprintln(os.Stderr, "signerd:", err)
		os.Exit(1)
	}
}

func run(configPath string) error {
	cfg, err := signer.LoadConfig(configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	sealer, err := openSealer(cfg.Sealer)
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

func openSealer(c signer.SealerConfig) (hsm.Sealer, error) {
	switch c.Kind {
	case "software":
		var pass []byte
		if c.PassphraseEnv != "" {
			v, ok := os.LookupEnv(c.PassphraseEnv)
			if !ok {
				return nil, fmt.Errorf("sealer: the key file is passphrase-protected; set %s", c.PassphraseEnv)
			}
			pass = []byte(v)
		}
		return hsm.OpenSoftware(c.KeyFile, pass)
	case "tpm":
		return nil, errors.New("sealer: the TPM sealer is not built yet; use kind \"software\"")
	}
	return nil, fmt.Errorf("sealer: unknown kind %q", c.Kind)
}

func newLogger(c signer.LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
