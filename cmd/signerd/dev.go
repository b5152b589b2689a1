package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/internal/lab"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer"
)

var devCommand = &command{
	Name:  "dev",
	Args:  "[-dir DIR] [-preparams DIR] [init flags]",
	Short: "run every node of a cluster in this process, for development",
	Long: `Dev runs every node of the cluster in DIR in this one process until Ctrl-C
(or SIGTERM), then stops them gracefully. If DIR holds no cluster yet, it
creates one first, exactly as 'signerd init' would with the same flags; the
cluster-shaping flags are ignored for an existing cluster. Each node logs to
standard error, each line prefixed with its id.

Nodes fill their pre-parameter pools in the background, which takes tens of
seconds per set. -preparams DIR imports DIR/<node-id>.json (tss-lib
pre-parameters, plaintext JSON) into each node that starts with no data yet,
so tests and demos can skip the wait; a node that has data already never
imports again, since a set must not be used twice.

Dev is for development: one process holds every share, which defeats the
point of threshold signing. Run signerd on separate hosts for anything else.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var f shapeFlags
		f.register(fs)
		preparams := fs.String("preparams", "", "import pre-parameters from `DIR`/<node-id>.json into nodes that start with no data")
		logLevel := fs.String("log-level", "info", "the nodes' log level: debug, info, warn or error")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
				return usagef("-log-level %q: want debug, info, warn or error", *logLevel)
			}
			var explicit []string
			fs.Visit(func(fl *flag.Flag) {
				if isShapeFlag(fl.Name) {
					explicit = append(explicit, "-"+fl.Name)
				}
			})
			if err := f.validate(); err != nil {
				return err
			}
			ctx, stop := c.interruptible(ctx)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // a second Ctrl-C ends the process at once
			}()
			return c.dev(ctx, &f, explicit, *preparams, level)
		}
	},
}

// devNode is one node of a dev cluster, prepared to serve.
type devNode struct {
	id   string
	node *signer.Node
	lis  net.Listener
}

func (c *cli) dev(ctx context.Context, f *shapeFlags, explicit []string, preparams string, level slog.Level) error {
	_, err := os.Stat(filepath.Join(f.dir, roster.ManifestFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		var labKeys string
		if f.genesis == "" {
			if labKeys, err = c.labGenesis(f); err != nil {
				return err
			}
			// Moved into the cluster below; if the cluster is not made,
			// its keys must not stay behind.
			defer os.RemoveAll(labKeys)
		}
		m, err := c.createCluster(f)
		if err != nil {
			return err
		}
		if labKeys != "" {
			if err := os.Rename(labKeys, filepath.Join(f.dir, "lab-keys")); err != nil {
				return err
			}
		}
		c.printCreated(c.stdout, f, m)
		if labKeys != "" {
			fmt.Fprintf(c.stdout, "\nLab officers alice, bob and carol (any 2 change the policy; group treasury: all three)\n"+
				"and the ledger that signs intents have key files in %s: for labs only.\n", filepath.Join(f.dir, "lab-keys"))
		}
		fmt.Fprintln(c.stdout)
	case err != nil:
		return err
	case len(explicit) > 0:
		fmt.Fprintf(c.stdout, "note: %s holds a cluster already; ignoring %v\n", f.dir, explicit)
	}
	m, err := roster.LoadManifest(f.dir)
	if err != nil {
		return err
	}
	logs := &lineWriter{w: c.stderr}
	var nodes []*devNode
	serving := false
	defer func() {
		if serving {
			return
		}
		// Failed before serving: serve the nodes already opened with an
		// ended context, which closes their stores cleanly.
		ended, cancel := context.WithCancel(context.Background())
		cancel()
		for _, n := range nodes {
			switch {
			case n.node != nil:
				_ = n.node.ServeListener(ended, n.lis)
			case n.lis != nil:
				n.lis.Close()
			}
		}
	}()
	for _, mn := range m.Nodes {
		cfg, err := signer.LoadConfig(filepath.Join(f.dir, mn.Config))
		if err != nil {
			return err
		}
		dn := &devNode{id: cfg.NodeID}
		nodes = append(nodes, dn)
		if dn.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
			return withHint(fmt.Errorf("%s: %w", cfg.NodeID, err), "is this cluster already running (another 'signerd dev' or signerd)? Stop it, or create a cluster with another -base-port")
		}
		sealer, err := c.openSealer(cfg.Sealer, f.passphraseEnv)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.NodeID, err)
		}
		fresh := isEmptyDir(cfg.DataDir)
		log := slog.New(slog.NewTextHandler(logs.prefixed(fmt.Sprintf("%-8s| ", cfg.NodeID)), &slog.HandlerOptions{Level: level}))
		if dn.node, err = signer.New(cfg, signer.Options{Sealer: sealer, Logger: log}); err != nil {
			return fmt.Errorf("%s: %w", cfg.NodeID, err)
		}
		if preparams != "" {
			if err := c.importPreParams(dn, preparams, fresh); err != nil {
				return err
			}
		}
	}
	serving = true

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.node.ServeListener(ctx, n.lis); err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.id, err)
				stop() // one node failing stops the cluster
			}
		}()
	}
	c.printDevBanner(f.dir, m)
	<-ctx.Done()
	fmt.Fprintln(c.stdout, "stopping the cluster...")
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "stopped; the cluster's data stays in %s\n", f.dir)
	return nil
}

// importPreParams seeds a fresh node's pool from dir/<node-id>.json.
func (c *cli) importPreParams(n *devNode, dir string, fresh bool) error {
	path := filepath.Join(dir, n.id+".json")
	if !fresh {
		fmt.Fprintf(c.stdout, "note: %s has data already; not importing %s (a set must not be used twice)\n", n.id, path)
		return nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(c.stdout, "note: no %s; %s fills its pool itself\n", path, n.id)
		return nil
	}
	if err != nil {
		return err
	}
	if err := n.node.AddPreParams(raw); err != nil {
		return fmt.Errorf("%s: importing %s: %w", n.id, path, err)
	}
	fmt.Fprintf(c.stdout, "%s: imported a pre-parameter set from %s\n", n.id, path)
	return nil
}

// openSealer opens a node's sealer as signerd does. A passphrase comes
// from the variable the config names or else from -passphrase-env.
func (c *cli) openSealer(sc signer.SealerConfig, passphraseEnv string) (hsm.Sealer, error) {
	return signer.OpenSealer(sc, func(name string) (string, bool) {
		v := c.getenv(name)
		if v == "" && name == sc.PassphraseEnv && passphraseEnv != "" {
			v = c.getenv(passphraseEnv)
		}
		return v, v != ""
	})
}

func (c *cli) printDevBanner(dir string, m *roster.Manifest) {
	fmt.Fprintf(c.stdout, "countersign dev cluster (%d-of-%d) from %s is serving:\n", m.Threshold, len(m.Nodes), dir)
	for _, n := range m.Nodes {
		fmt.Fprintf(c.stdout, "  %-8s %s\n", n.ID, n.Address)
	}
	fmt.Fprintf(c.stdout, `
Talk to it from another terminal:
  signerctl status -cluster %[1]s -all
  signerctl pool wait -cluster %[1]s            (pre-parameters: tens of seconds per set)
  signerctl wallet create -cluster %[1]s -label hot-1
  signerctl address -cluster %[1]s -wallet WALLET_ID -network testnet

Stop it with Ctrl-C.
`, dir)
}

// isEmptyDir reports whether dir is missing or empty.
func isEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0)
}

// lineWriter serializes the nodes' log lines onto one writer. slog handlers
// write each record with one Write call, so a prefix per Write is a prefix
// per line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) prefixed(prefix string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		lw.mu.Lock()
		defer lw.mu.Unlock()
		if _, err := lw.w.Write(append([]byte(prefix), p...)); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// labGenesis makes key files for lab officers and the ledger and a genesis
// bundle signed by the officers, in a new directory beside f.dir (moved
// into it once the cluster exists), and points f.genesis at the bundle.
func (c *cli) labGenesis(f *shapeFlags) (_ string, err error) {
	parent := filepath.Dir(filepath.Clean(f.dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(parent, ".lab-keys-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	f.genesis, err = lab.WriteGenesis(dir)
	return dir, err
}
