package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/policy/chain"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

var walletCreateCommand = &command{
	Name:  "wallet create",
	Args:  "-label LABEL [flags]",
	Short: "create a wallet: a distributed key generation on every node",
	Long: `Wallet create asks a node to coordinate a distributed key generation across
every node of the cluster. The group private key never exists in one place:
each node keeps its own sealed share. It prints the progress as the node
reports it (waiting for pre-parameters, with each node's pool, then the
session's stages) and then the wallet. It needs the backend role.

With -json, progress goes to standard error and only the wallet, as JSON, to
standard output.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		label := fs.String("label", "", "a name for people, at most 64 printable characters (required)")
		timeout := fs.Duration("timeout", 20*time.Minute, "give up after this long, including the wait for pre-parameters")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *label == "" {
				return usagef("-label is required")
			}
			return c.walletCreate(ctx, &cf, *label, *timeout)
		}
	},
}

var walletListCommand = &command{
	Name:  "wallet list",
	Args:  "[flags]",
	Short: "list the wallets a node holds a share of",
	Long:  `Wallet list shows every active wallet the node holds a share of.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return c.walletList(ctx, &cf)
		}
	},
}

var walletShowCommand = &command{
	Name:  "wallet show",
	Args:  "WALLET_ID [flags]",
	Short: "show one wallet",
	Long:  `Wallet show prints one wallet: its signature scheme, group public key, fingerprint, threshold and nodes.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		return func(ctx context.Context, args []string) error {
			switch {
			case len(args) == 0:
				return usagef("which wallet? give its id (see 'signerctl wallet list')")
			case len(args) > 1:
				return usagef("unexpected argument %q", args[1])
			}
			return c.walletShow(ctx, &cf, args[0])
		}
	},
}

// walletJSON is a wallet as the -json outputs print it.
type walletJSON struct {
	WalletID string `json:"wallet_id"`
	Label    string `json:"label"`
	// Scheme is the signature scheme: "ecdsa-secp256k1" (Bitcoin,
	// Ethereum) or "eddsa-ed25519".
	Scheme    string `json:"scheme"`
	PublicKey string `json:"public_key"` // the group key as the scheme encodes it (secp256k1: compressed), hex
	// ChainCode is the BIP32 chain code, hex: with the public key, what an
	// auditor's replay needs to re-derive withdrawals (auditor replay
	// -wallets). Public, as an xpub is.
	ChainCode   string    `json:"chain_code,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	Threshold   uint32    `json:"threshold"`
	Nodes       []string  `json:"nodes"`
	CreatedAt   time.Time `json:"created_at"`
}

func walletToJSON(w *pb.Wallet) walletJSON {
	return walletJSON{
		WalletID: w.GetWalletId(), Label: w.GetLabel(), Scheme: string(schemeOf(w.GetScheme())), PublicKey: hex.EncodeToString(w.GetPublicKey()), ChainCode: hex.EncodeToString(w.GetChainCode()),
		Fingerprint: w.GetFingerprint(), Threshold: w.GetThreshold(), Nodes: w.GetNodes(), CreatedAt: w.GetCreatedAt().AsTime().UTC(),
	}
}

// schemeOf returns a wallet's signature scheme as the chain packages name
// it. Unspecified is ECDSA secp256k1, the scheme of every wallet made before
// schemes were named.
func schemeOf(s pb.Scheme) chain.Scheme {
	switch s {
	case pb.Scheme_SCHEME_UNSPECIFIED, pb.Scheme_SCHEME_ECDSA_SECP256K1:
		return chain.ECDSASecp256k1
	case pb.Scheme_SCHEME_EDDSA_ED25519:
		return chain.EdDSAEd25519
	}
	return chain.Scheme(strings.ToLower(strings.TrimPrefix(s.String(), "SCHEME_")))
}

func (c *cli) walletCreate(ctx context.Context, cf *clientFlags, label string, timeout time.Duration) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	progress := c.stdout
	if cf.json {
		progress = c.stderr
	}
	start := time.Now()
	fmt.Fprintf(progress, "creating wallet %q: %s coordinates a key generation on %s\n", label, client.node.ID, strings.Join(cl.nodeIDs(), ", "))
	stream, err := client.wallets.CreateWallet(ctx, &pb.CreateWalletRequest{Label: label})
	if err != nil {
		return callFailed(ctx, "wallet create", client, cl.role, err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("wallet create on %s: the stream ended without a wallet", client.node.ID)
		}
		if err != nil {
			return callFailed(ctx, "wallet create", client, cl.role, err)
		}
		switch ev := resp.Event.(type) {
		case *pb.CreateWalletResponse_Progress:
			printProgress(progress, time.Since(start), ev.Progress)
		case *pb.CreateWalletResponse_Wallet:
			w := walletToJSON(ev.Wallet)
			fmt.Fprintf(progress, "[%6s] wallet created\n", elapsed(time.Since(start)))
			if cf.json {
				return printJSON(c, w)
			}
			fmt.Fprintln(c.stdout)
			printWallet(c.stdout, w)
			network := " -network NETWORK"
			if cl.manifest.Cluster == labCluster {
				network = "" // regtest, the lab's
			}
			fmt.Fprintf(c.stdout, "\nDerive its first deposit address:\n  signerctl address -cluster %s -wallet %s%s\n", cf.cluster, w.WalletID, network)
			return nil
		}
	}
}

func printProgress(w io.Writer, since time.Duration, p *pb.Progress) {
	stage := map[pb.Stage]string{
		pb.Stage_STAGE_WAITING_FOR_PREPARAMS: "waiting",
		pb.Stage_STAGE_PREPARING:             "preparing",
		pb.Stage_STAGE_RUNNING:               "running",
		pb.Stage_STAGE_COMMITTING:            "committing",
	}[p.Stage]
	if stage == "" {
		stage = "progress"
	}
	line := fmt.Sprintf("[%6s] %-10s %s", elapsed(since), stage, p.Message)
	if len(p.Pools) > 0 {
		line += ": " + describePools(reportedPools(p.Pools))
	}
	fmt.Fprintln(w, line)
}

func elapsed(d time.Duration) string { return d.Round(time.Second).String() }

func (c *cli) walletList(ctx context.Context, cf *clientFlags) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.wallets.ListWallets(ctx, &pb.ListWalletsRequest{})
	if err != nil {
		return callFailed(ctx, "wallet list", client, cl.role, err)
	}
	out := struct {
		Wallets []walletJSON `json:"wallets"`
	}{Wallets: []walletJSON{}}
	for _, w := range resp.Wallets {
		out.Wallets = append(out.Wallets, walletToJSON(w))
	}
	if cf.json {
		return printJSON(c, out)
	}
	if len(out.Wallets) == 0 {
		fmt.Fprintf(c.stdout, "%s holds no wallets yet; create one with 'signerctl wallet create -label LABEL'\n", client.node.ID)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WALLET\tLABEL\tTHRESHOLD\tFINGERPRINT\tCREATED")
	for _, w := range out.Wallets {
		fmt.Fprintf(tw, "%s\t%s\t%d of %d\t%s\t%s\n", w.WalletID, w.Label, w.Threshold, len(w.Nodes), w.Fingerprint, w.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func (c *cli) walletShow(ctx context.Context, cf *clientFlags, id string) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.wallets.GetWallet(ctx, &pb.GetWalletRequest{WalletId: id})
	if err != nil {
		return callFailed(ctx, "wallet show", client, cl.role, err)
	}
	if cf.json {
		return printJSON(c, walletToJSON(resp.Wallet))
	}
	printWallet(c.stdout, walletToJSON(resp.Wallet))
	return nil
}

func printWallet(w io.Writer, wj walletJSON) {
	fmt.Fprintf(w, "wallet       %s\n", wj.WalletID)
	fmt.Fprintf(w, "label        %s\n", wj.Label)
	fmt.Fprintf(w, "scheme       %s\n", wj.Scheme)
	fmt.Fprintf(w, "public key   %s\n", wj.PublicKey)
	fmt.Fprintf(w, "fingerprint  %s\n", wj.Fingerprint)
	fmt.Fprintf(w, "threshold    %d of %d nodes sign\n", wj.Threshold, len(wj.Nodes))
	fmt.Fprintf(w, "nodes        %s\n", strings.Join(wj.Nodes, ", "))
	fmt.Fprintf(w, "created      %s\n", wj.CreatedAt.Format(time.RFC3339))
}
