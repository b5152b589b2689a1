package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer"
)

var initCommand = &command{
	Name:  "init",
	Args:  "-genesis FILE [-dir DIR] [-nodes N] [-threshold T] [-base-port P | -addresses LIST] [flags]",
	Short: "create a cluster: CA, certificates, sealer keys and node configs",
	Long: `Init writes a new cluster into DIR, which must not exist or be empty: the
cluster CA, a certificate, sealer key and config for every node, client
certificates for the backend, officer and auditor roles, and cluster.json, the
manifest clients read node addresses and certificate pins from, and the
cluster's first policy bundle: -genesis FILE, signed by a quorum of its own
officers in FILE.sigs ('officer policy sign FILE'). It starts nothing: run the nodes with 'signerd dev' (all in one process, for
development) or one 'signerd -config DIR/nodes/ID/config.json' per host.

Keys are written with mode 0600. The CA key (DIR/ca-key.pem) issues every
certificate of the cluster: move it offline once init is done.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var f shapeFlags
		f.register(fs)
		return func(_ context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := f.validate(); err != nil {
				return err
			}
			m, err := c.createCluster(&f)
			if err != nil {
				return err
			}
			c.printCreated(c.stdout, &f, m)
			fmt.Fprintf(c.stdout, `
Next, either
  signerd dev -dir %[1]s
      runs every node in this process (development), or
  signerd -config %[2]s
      runs one node per host, each with its own nodes/ID directory.
Then
  signerctl status -cluster %[1]s -all
`, f.dir, filepath.Join(f.dir, "nodes", "ID", "config.json"))
			return nil
		}
	},
}

// shapeFlags are the flags that shape a new cluster (init, and dev when it
// creates one).
type shapeFlags struct {
	dir             string
	nodes           int
	threshold       int
	basePort        int
	addresses       string
	metricsBasePort int
	pool            int
	passphraseEnv   string
	genesis         string
}

func (f *shapeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "dir", "cluster", "the cluster `directory` to write")
	fs.IntVar(&f.nodes, "nodes", 3, "how many nodes hold a share of each wallet")
	fs.IntVar(&f.threshold, "threshold", 2, "how many nodes it takes to sign (at least 2, at most -nodes)")
	fs.IntVar(&f.basePort, "base-port", 7001, "nodes listen on 127.0.0.1 from this `port` up")
	fs.StringVar(&f.addresses, "addresses", "", "the nodes' gRPC `host:port` list, comma-separated, instead of -base-port")
	fs.IntVar(&f.metricsBasePort, "metrics-base-port", 0, "serve Prometheus metrics on 127.0.0.1 from this `port` up; 0: no metrics")
	fs.IntVar(&f.pool, "pool", signer.DefaultPoolSize, "pre-parameter sets each node keeps ready (1 to 64)")
	fs.StringVar(&f.genesis, "genesis", "", "the cluster's first policy bundle `file`, with its officers' signatures in FILE.sigs")
	fs.StringVar(&f.passphraseEnv, "passphrase-env", "", "protect the sealer keys with the passphrase in this environment `variable`; nodes then read it from "+signer.PassphraseEnv)
}

// isShapeFlag reports whether a flag name is one of shapeFlags.
func isShapeFlag(name string) bool {
	switch name {
	case "nodes", "threshold", "base-port", "addresses", "metrics-base-port", "pool", "passphrase-env", "genesis":
		return true
	}
	return false
}

func (f *shapeFlags) validate() error {
	switch {
	case f.dir == "":
		return usagef("-dir is empty")
	case f.nodes < 2 || f.nodes > signer.MaxNodes:
		return usagef("-nodes %d: want 2 to %d", f.nodes, signer.MaxNodes)
	case f.threshold < 2 || f.threshold > f.nodes:
		return usagef("-threshold %d: want 2 to -nodes (%d)", f.threshold, f.nodes)
	case f.basePort < 1 || f.basePort+f.nodes-1 > 65535:
		return usagef("-base-port %d: want 1 to %d", f.basePort, 65535-f.nodes+1)
	case f.metricsBasePort < 0 || f.metricsBasePort+f.nodes-1 > 65535:
		return usagef("-metrics-base-port %d: want 0 (off) or 1 to %d", f.metricsBasePort, 65535-f.nodes+1)
	case f.pool < 1 || f.pool > 64:
		return usagef("-pool %d: want 1 to 64", f.pool)
	}
	if f.addresses != "" {
		if n := len(strings.Split(f.addresses, ",")); n != f.nodes {
			return usagef("-addresses lists %d addresses for %d nodes", n, f.nodes)
		}
	}
	return nil
}

func (c *cli) createCluster(f *shapeFlags) (*roster.Manifest, error) {
	o := signer.ClusterOptions{
		Nodes: f.nodes, Threshold: f.threshold, BasePort: f.basePort,
		MetricsBasePort: f.metricsBasePort, PoolTarget: f.pool,
	}
	if f.addresses != "" {
		for _, a := range strings.Split(f.addresses, ",") {
			o.Addresses = append(o.Addresses, strings.TrimSpace(a))
		}
	}
	if f.passphraseEnv != "" {
		pass := c.getenv(f.passphraseEnv)
		if pass == "" {
			return nil, withHint(fmt.Errorf("-passphrase-env %s: the variable is empty or not set", f.passphraseEnv),
				"set it first (read -rs %s; export %s), or leave -passphrase-env out for a lab cluster", f.passphraseEnv, f.passphraseEnv)
		}
		o.Passphrase = []byte(pass)
	}
	if f.genesis == "" {
		return nil, usagef("-genesis is required: the cluster's first policy bundle, signed by its officers")
	}
	var err error
	if o.Genesis, err = os.ReadFile(f.genesis); err != nil {
		return nil, withHint(err, "-genesis names the first policy bundle; officers sign it with 'officer policy sign'")
	}
	if o.GenesisSignatures, err = os.ReadFile(f.genesis + ".sigs"); err != nil {
		return nil, withHint(err, "the officers' signatures of %s belong in %s.sigs ('officer policy sign %s')", f.genesis, f.genesis, f.genesis)
	}
	m, err := signer.CreateCluster(f.dir, o)
	if err != nil {
		return nil, withHint(err, "choose an empty -dir and a genesis bundle signed by a quorum of its officers")
	}
	return m, nil
}

func (c *cli) printCreated(w io.Writer, f *shapeFlags, m *roster.Manifest) {
	fmt.Fprintf(w, "Created a %d-of-%d countersign cluster in %s\n\n", m.Threshold, len(m.Nodes), f.dir)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tADDRESS\tCONFIG")
	for _, n := range m.Nodes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", n.ID, n.Address, filepath.Join(f.dir, n.Config))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nManifest:             %s (node addresses and certificate pins, for clients)\n", filepath.Join(f.dir, "cluster.json"))
	fmt.Fprintf(w, "Client certificates:  %s/{backend,officer,auditor}.pem\n", filepath.Join(f.dir, "clients"))
	if f.passphraseEnv != "" {
		fmt.Fprintf(w, "Sealer keys:          protected by the passphrase; nodes read it from %s\n", signer.PassphraseEnv)
	} else {
		fmt.Fprintf(w, "Sealer keys:          NOT passphrase-protected (-passphrase-env): for labs and tests only\n")
	}
	fmt.Fprintf(w, "Each node keeps %d pre-parameter set(s) ready; it generates them in the background once started.\n", f.pool)
	fmt.Fprintf(w, "\nCA key: %s\n", filepath.Join(f.dir, "ca-key.pem"))
	fmt.Fprintf(w, "  It can issue certificates for any node or role of this cluster. Nodes and\n")
	fmt.Fprintf(w, "  clients never need it: move it offline (encrypted media, a safe) now.\n")
}
