package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/signer"
)

var policyAllowCommand = &command{
	name:  "policy allow",
	args:  "-wallet WALLET_ID [-to ADDRESS -label LABEL] [-max-amount SATS] [-daily-cap SATS] [-max-fee SATS] [-yes] [flags]",
	short: "allow a wallet a destination and limits, in every node's policy file",
	long: `Policy allow writes a wallet's rules into the policy file of every node of
the cluster directory (each node config's policy_file): it adds -to, with the
label officers know it by, to the wallet's allowed destinations (or relabels
it), and sets the caps given. A wallet without rules yet needs -to, -label and
all three caps. Nodes re-read their policy file at every decision, so the
change applies to the next withdrawal at once.

It shows the rules it will write and asks for confirmation (-yes skips the
question). Each file is checked as the nodes read it before anything is
written, and replaced atomically. This is an operator's convenience on the
cluster host, for development and labs: officer-signed policy bundles will
replace these files.`,
	flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		cluster := fs.String("cluster", "cluster", "the cluster `directory` ('signerctl init' wrote it)")
		asJSON := fs.Bool("json", false, "print the resulting rules as JSON")
		wallet := fs.String("wallet", "", "the wallet's `id` (required)")
		to := fs.String("to", "", "allow this destination `address`")
		label := fs.String("label", "", "the destination's label, 1-64 bytes (required with -to)")
		maxAmount := fs.Int64("max-amount", 0, "the greatest amount of one withdrawal, in `satoshis` (0: unchanged)")
		dailyCap := fs.Int64("daily-cap", 0, "the most that may leave the wallet, amounts and fees, in any 24 hours, in `satoshis` (0: unchanged)")
		maxFee := fs.Int64("max-fee", 0, "the greatest fee of one withdrawal, in `satoshis` (0: unchanged)")
		yes := fs.Bool("yes", false, "write without asking for confirmation")
		return func(_ context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *wallet == "" {
				return usagef("-wallet is required")
			}
			if (*to == "") != (*label == "") {
				return usagef("-to and -label go together")
			}
			if *to == "" && *maxAmount == 0 && *dailyCap == 0 && *maxFee == 0 {
				return usagef("nothing to change: give -to and -label, or a cap")
			}
			for _, f := range []struct {
				name string
				v    int64
			}{{"max-amount", *maxAmount}, {"daily-cap", *dailyCap}, {"max-fee", *maxFee}} {
				if f.v < 0 || f.v > bitcoin.MaxSatoshi {
					return usagef("-%s %d: want 1 to %d satoshis, or 0 to leave it", f.name, f.v, int64(bitcoin.MaxSatoshi))
				}
			}
			if *to != "" {
				if _, err := addressNetwork(*to); err != nil {
					return usagef("-to: %v", err)
				}
			}
			ch := policyChange{wallet: *wallet, to: *to, label: *label, maxAmount: *maxAmount, dailyCap: *dailyCap, maxFee: *maxFee}
			return c.policyAllow(*cluster, ch, *yes, *asJSON)
		}
	},
}

var policyShowCommand = &command{
	name:  "policy show",
	args:  "[-wallet WALLET_ID] [-node ID] [flags]",
	short: "show the policy files of the cluster's nodes",
	long: `Policy show reads the policy file of every node of the cluster directory (or
of -node), says whether they are identical (by SHA-256, the hash the nodes
record with each decision) and prints the rules, per wallet. It reads files
on this host and calls no node.`,
	flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		cluster := fs.String("cluster", "cluster", "the cluster `directory` ('signerctl init' wrote it)")
		asJSON := fs.Bool("json", false, "print JSON for programs instead of text")
		wallet := fs.String("wallet", "", "only this wallet's rules")
		node := fs.String("node", "", "only this node's file, by `id`")
		return func(_ context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return c.policyShow(*cluster, *node, *wallet, *asJSON)
		}
	},
}

// addressNetwork returns the network of a destination address, checked as
// the nodes check an intent's destination.
func addressNetwork(addr string) (bitcoin.Network, error) {
	var first error
	for _, n := range networks {
		in := bitcoin.Intent{WithdrawalID: "check", WalletID: "check", Network: n.btc, Asset: bitcoin.Asset, Destination: addr, Amount: 1, FeeCap: 1}
		err := in.Check()
		if err == nil {
			return n.btc, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", fmt.Errorf("%q is not a destination the nodes accept on any network: %v", addr, first)
}

// nodePolicy is one node's policy file.
type nodePolicy struct {
	node string
	path string
	raw  []byte // nil if the file does not exist
	file *policy.File
	mode fs.FileMode
}

// emptyPolicy is what a node without a policy file decides with: nothing.
const emptyPolicy = `{"version":1,"wallets":{}}`

// loadPolicies reads the policy file of every node of the cluster in dir
// (or of node only).
func loadPolicies(dir, node string) ([]*nodePolicy, error) {
	m, err := signer.LoadManifest(dir)
	if err != nil {
		return nil, withHint(err, "pass -cluster DIR, the directory 'signerctl init' wrote")
	}
	var out []*nodePolicy
	for _, mn := range m.Nodes {
		if node != "" && mn.ID != node {
			continue
		}
		cfgPath := filepath.Join(dir, mn.Config)
		cfg, err := signer.LoadConfig(cfgPath)
		if err != nil {
			return nil, err
		}
		if cfg.PolicyFile == "" {
			return nil, withHint(fmt.Errorf("%s: %s names no policy_file, so the node refuses every withdrawal", mn.ID, cfgPath),
				`add "policy_file": "policy.json" to it and restart the node`)
		}
		np := &nodePolicy{node: mn.ID, path: cfg.PolicyFile, mode: 0o600}
		raw, err := os.ReadFile(cfg.PolicyFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			raw = []byte(emptyPolicy)
		case err != nil:
			return nil, err
		default:
			np.raw = raw
			if st, err := os.Stat(cfg.PolicyFile); err == nil {
				np.mode = st.Mode().Perm()
			}
		}
		if np.file, err = policy.ParseFile(raw); err != nil {
			return nil, withHint(fmt.Errorf("%s: %s: %w", mn.ID, cfg.PolicyFile, err), "the node refuses every withdrawal while its policy file does not parse; fix the file by hand")
		}
		out = append(out, np)
	}
	if len(out) == 0 {
		return nil, withHint(fmt.Errorf("node %q is not in %s/cluster.json", node, dir), "leave -node out for every node")
	}
	return out, nil
}

// policyChange is what policy allow changes in one wallet's rules.
type policyChange struct {
	wallet, to, label           string
	maxAmount, dailyCap, maxFee int64
}

// apply returns f's bytes with the change made, checked by policy.ParseFile.
func (ch policyChange) apply(f *policy.File) ([]byte, *policy.WalletRules, error) {
	wallets := map[string]*policy.WalletRules{}
	for id, w := range f.Wallets {
		cp := *w
		cp.Destinations = slices.Clone(w.Destinations)
		wallets[id] = &cp
	}
	w := wallets[ch.wallet]
	if w == nil {
		if ch.to == "" || ch.maxAmount == 0 || ch.dailyCap == 0 || ch.maxFee == 0 {
			return nil, nil, usagef("wallet %s has no rules yet: give -to, -label, -max-amount, -daily-cap and -max-fee", ch.wallet)
		}
		w = &policy.WalletRules{}
		wallets[ch.wallet] = w
	}
	if ch.to != "" {
		if i := slices.IndexFunc(w.Destinations, func(d policy.Destination) bool { return d.Address == ch.to }); i >= 0 {
			w.Destinations[i].Label = ch.label
		} else {
			w.Destinations = append(w.Destinations, policy.Destination{Address: ch.to, Label: ch.label})
		}
	}
	if ch.maxAmount > 0 {
		w.MaxAmountSat = ch.maxAmount
	}
	if ch.dailyCap > 0 {
		w.DailyCapSat = ch.dailyCap
	}
	if ch.maxFee > 0 {
		w.MaxFeeSat = ch.maxFee
	}
	raw, err := json.MarshalIndent(policy.File{Version: policy.FileVersion, Wallets: wallets}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	raw = append(raw, '\n')
	if _, err := policy.ParseFile(raw); err != nil {
		return nil, nil, withHint(err, "nothing was written; adjust the flags")
	}
	return raw, w, nil
}

func (c *cli) policyAllow(dir string, ch policyChange, yes, asJSON bool) error {
	nodes, err := loadPolicies(dir, "")
	if err != nil {
		return err
	}
	news := make([][]byte, len(nodes))
	var rules *policy.WalletRules
	differ := false
	for i, np := range nodes {
		if news[i], rules, err = ch.apply(np.file); err != nil {
			return fmt.Errorf("%s: %w", np.node, err)
		}
		differ = differ || np.file.Hash() != nodes[0].file.Hash()
	}
	progress := c.stdout
	if asJSON {
		progress = c.stderr
	}
	fmt.Fprintf(progress, "Rules of wallet %s to write to %d policy files:\n", ch.wallet, len(nodes))
	printRules(progress, ch.wallet, rules)
	for _, np := range nodes {
		fmt.Fprintf(progress, "  %-8s %s\n", np.node, np.path)
	}
	if differ {
		fmt.Fprintln(progress, "note: the nodes' files differ today; each keeps its other wallets' rules")
	}
	if err := c.confirm("Write them?", yes); err != nil {
		return err
	}
	for i, np := range nodes {
		if err := writeFileAtomic(np.path, news[i], np.mode); err != nil {
			return fmt.Errorf("%s: %w (the files before it are written; run the command again)", np.node, err)
		}
	}
	if asJSON {
		return printJSON(c, map[string]*policy.WalletRules{ch.wallet: rules})
	}
	fmt.Fprintf(c.stdout, "written; the nodes apply it from their next decision (sha256 %s)\n", shortHash(sha256.Sum256(news[0])))
	return nil
}

func shortHash(h [32]byte) string { return hex.EncodeToString(h[:8]) }

// policyShowJSON is policy show's -json output: each node's file.
type policyShowJSON struct {
	Node    string                         `json:"node"`
	File    string                         `json:"file"`
	SHA256  string                         `json:"sha256"`
	Exists  bool                           `json:"exists"`
	Wallets map[string]*policy.WalletRules `json:"wallets"`
}

func (c *cli) policyShow(dir, node, wallet string, asJSON bool) error {
	nodes, err := loadPolicies(dir, node)
	if err != nil {
		return err
	}
	var out []policyShowJSON
	for _, np := range nodes {
		h := np.file.Hash()
		ws := np.file.Wallets
		if wallet != "" {
			ws = map[string]*policy.WalletRules{}
			if w, ok := np.file.Wallets[wallet]; ok {
				ws[wallet] = w
			}
		}
		if ws == nil {
			ws = map[string]*policy.WalletRules{}
		}
		out = append(out, policyShowJSON{Node: np.node, File: np.path, SHA256: hex.EncodeToString(h[:]), Exists: np.raw != nil, Wallets: ws})
	}
	if asJSON {
		return printJSON(c, out)
	}
	same := true
	for _, p := range out {
		same = same && p.SHA256 == out[0].SHA256
	}
	for i, p := range out {
		if !same || i == 0 {
			if same {
				fmt.Fprintf(c.stdout, "%d node(s) with the same policy file (sha256 %s…):\n", len(out), p.SHA256[:16])
				for _, q := range out {
					fmt.Fprintf(c.stdout, "  %-8s %s\n", q.Node, q.File)
				}
			} else {
				fmt.Fprintf(c.stdout, "%s: %s (sha256 %s…)\n", p.Node, p.File, p.SHA256[:16])
			}
			if !p.Exists {
				fmt.Fprintln(c.stdout, "  (no file: the node refuses every withdrawal)")
			}
			printWallets(c.stdout, p.Wallets, wallet)
		}
	}
	if !same {
		fmt.Fprintln(c.stdout, "note: the nodes' policy files differ, so they may decide the same withdrawal differently")
	}
	return nil
}

func printWallets(w io.Writer, ws map[string]*policy.WalletRules, only string) {
	if len(ws) == 0 {
		if only != "" {
			fmt.Fprintf(w, "  no rules for wallet %s: every withdrawal from it is refused (policy.wallet_unknown)\n", only)
		} else {
			fmt.Fprintln(w, "  no wallet has rules: every withdrawal is refused (policy.wallet_unknown)")
		}
		return
	}
	ids := make([]string, 0, len(ws))
	for id := range ws {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		printRules(w, id, ws[id])
	}
}

func printRules(w io.Writer, id string, r *policy.WalletRules) {
	fmt.Fprintf(w, "wallet %s\n", id)
	if r.AnyDestination {
		fmt.Fprintln(w, "  destinations   any")
	}
	for i, d := range r.Destinations {
		head := ""
		if i == 0 {
			head = "destinations"
		}
		fmt.Fprintf(w, "  %-14s %s  %q\n", head, d.Address, d.Label)
	}
	fmt.Fprintf(w, "  max amount     %s per withdrawal\n", sats(r.MaxAmountSat))
	fmt.Fprintf(w, "  daily cap      %s in any 24 hours, fees included\n", sats(r.DailyCapSat))
	fmt.Fprintf(w, "  max fee        %d sat per withdrawal\n", r.MaxFeeSat)
	rbf := "not allowed"
	if r.AllowRBF {
		rbf = "allowed"
	}
	fmt.Fprintf(w, "  rbf            %s\n", rbf)
	fmt.Fprintf(w, "  max lock time  %d\n", r.MaxLockTime)
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, synced, then renamed over it, so a reader (a node deciding)
// sees the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
