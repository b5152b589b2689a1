package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

var policyShowCommand = &command{
	Name:  "policy show",
	Args:  "[-version N] [-cluster DIR]",
	Short: "fetch the policy in force (or version N), verify it here and show it",
	Long: `Policy show fetches the policy bundle in force (or version -version) from a
node and verifies it here, along the chain of bundles from the cluster's
genesis: genesis by a quorum of its own officers (and against your own copy,
-genesis), each later bundle by a quorum of the officers of the one before,
exactly as nodes accept them. It shows who signed, the version and hash, and
a readable summary. Without -version it also shows which version each node
has in force.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		version := fs.Int64("version", 0, "show this `version` instead of the one in force")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *version < 0 {
				return usagef("-version %d: want a version, or 0 for the one in force", *version)
			}
			cl, err := c.openCluster()
			if err != nil {
				return err
			}
			defer cl.Close()
			v, err := c.verifiedPolicy(ctx, cl, *version)
			if err != nil {
				return err
			}
			h := v.bundle.Hash()
			fmt.Fprintf(c.stdout, "policy version %d, hash %x\nserved by      %s, accepted there %s\nsigned by      %s\ngenesis        %s\n\n",
				v.bundle.Version, h, v.node, v.acceptedAt.UTC().Format("2006-01-02 15:04:05 UTC"), signedByText(v), v.pinned)
			writeSummary(c.stdout, v.bundle)
			if *version != 0 {
				return nil
			}
			fmt.Fprintln(c.stdout, "\nin force on each node")
			outs, errs := every(ctx, cl, "GetPolicy", func(ctx context.Context, n *node) (*pb.GetPolicyResponse, error) {
				return n.officer.GetPolicy(ctx, &pb.GetPolicyRequest{})
			})
			differ := 0
			for i, n := range cl.nodes {
				switch {
				case errs[i] != nil:
					differ++
					fmt.Fprintf(c.stdout, "  %-8s ?  %v\n", n.id, errs[i])
				case outs[i].Policy == nil:
					differ++
					fmt.Fprintf(c.stdout, "  %-8s ?  no policy\n", n.id)
				default:
					mark := ""
					if string(outs[i].Policy.Hash) != string(h[:]) {
						differ++
						mark = "  !! differs"
					}
					fmt.Fprintf(c.stdout, "  %-8s version %d, hash %x…%s\n", n.id, outs[i].Policy.Version, short(outs[i].Policy.Hash), mark)
				}
			}
			if differ > 0 {
				fmt.Fprintf(c.stdout, "!! %d node(s) do not report this bundle in force: a bundle submitted to some nodes only, or a node down\n", differ)
			}
			return nil
		}
	},
}

var policyDiffCommand = &command{
	Name:  "policy diff",
	Args:  "PROPOSED.json [-against FILE | -cluster DIR]",
	Short: "show what a proposed bundle changes, risky changes loudly",
	Long: `Policy diff compares a proposed bundle with the bundle in force on the nodes
(verified here; see 'officer policy show'), or with a bundle file (-against,
which is parsed but not verified), and lists every change. Changes that widen
what can be paid, to whom, how fast, or who decides are marked "!! RISK": new
destinations, new assets, raised caps (per asset) or fee cap, a wallet's
chain, network or chain parameters changed (Bitcoin: RBF allowed, a higher
lock time; any change to another chain's, such as a chain id, a token or a
Safe), new officers, originators or groups members, removed officers, a
lowered change quorum, weakened approval tiers. Bundles of format 1 and 2
are compared by the rules they mean, so the same rules in either format
differ in nothing but the format. Exit code 0 either way; it refuses only a
file that is not a valid bundle.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		against := fs.String("against", "", "compare with this bundle `file` instead of the bundle in force")
		return func(ctx context.Context, args []string) error {
			path, err := oneArg(args, "proposed bundle file")
			if err != nil {
				return err
			}
			next, _, err := readBundle(path)
			if err != nil {
				return err
			}
			cur, what, closeFn, err := c.currentBundle(ctx, *against)
			if err != nil {
				return err
			}
			defer closeFn()
			if cur == nil {
				return usagef("nothing to compare with: pass -cluster DIR (the bundle in force) or -against FILE")
			}
			h := next.Hash()
			fmt.Fprintf(c.stdout, "%s (version %d, hash %x)\nagainst %s\n\n", path, next.Version, h, what)
			writeDiff(c.stdout, diffBundles(cur, next))
			return nil
		}
	},
}

var policySignCommand = &command{
	Name:  "policy sign",
	Args:  "PROPOSED.json [-yes] [-against FILE | -cluster DIR]",
	Short: "sign a proposed bundle's exact bytes, into PROPOSED.json.sigs",
	Long: `Policy sign checks the proposed bundle as nodes do (policy.ParseBundle) and
refuses an invalid one, shows what it changes from the bundle in force
(-cluster, verified here) or from -against FILE, or else the whole bundle,
asks you to type yes (-yes skips the question), and signs the file's exact
bytes with your key in the SSH namespace countersign-policy. The signature
goes into PROPOSED.json.sigs, a JSON array of {"officer", "signature"},
replacing an earlier signature of yours. Pass the file on to the next
officer, then 'officer policy submit'.

Your name is the officer whose key you sign with, in the bundle in force
(whose officers' signatures count), or in the proposed bundle if there is
none to compare with (a genesis bundle).`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		against := fs.String("against", "", "compare with this bundle `file` instead of the bundle in force")
		yes := fs.Bool("yes", false, "sign without asking")
		return func(ctx context.Context, args []string) error {
			path, err := oneArg(args, "proposed bundle file")
			if err != nil {
				return err
			}
			next, raw, err := readBundle(path)
			if err != nil {
				return withHint(fmt.Errorf("refusing to sign: %w", err), "fix the bundle file; nodes refuse it as it is")
			}
			id, err := c.identity()
			if err != nil {
				return err
			}
			cur, what, closeFn, err := c.currentBundle(ctx, *against)
			if err != nil {
				return err
			}
			defer closeFn()
			h := next.Hash()
			if cur != nil {
				if err := id.resolve(cur); err != nil {
					return withHint(fmt.Errorf("your signature would not count: %w", err), "only the officers of the bundle in force sign the next one")
				}
				switch {
				case next.Cluster != cur.Cluster:
					return fmt.Errorf("refusing to sign: %s is for cluster %q, %s is cluster %q", path, next.Cluster, what, cur.Cluster)
				case next.Version <= cur.Version:
					return withHint(fmt.Errorf("refusing to sign: %s has version %d, not above %d of %s; nodes refuse it", path, next.Version, cur.Version, what), "raise \"version\" in the file")
				}
				fmt.Fprintf(c.stdout, "%s: version %d, hash %x\nchanges from %s:\n\n", path, next.Version, h, what)
				writeDiff(c.stdout, diffBundles(cur, next))
			} else {
				if err := id.resolve(next); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "%s: version %d, hash %x\nnot compared with a bundle in force (no -cluster or -against): the whole bundle follows\n\n", path, next.Version, h)
				writeSummary(c.stdout, next)
			}
			fmt.Fprintln(c.stdout)
			if err := c.confirm(fmt.Sprintf("Sign policy version %d (hash %x…) as officer %s?", next.Version, h[:6], id.name), *yes); err != nil {
				return err
			}
			if id.where == "ssh-agent" {
				fmt.Fprintln(c.stderr, "signing through ssh-agent: touch your security key if it blinks")
			}
			sig, err := id.signer.Sign(keys.NamespacePolicy, raw)
			if err != nil {
				return err
			}
			sigsPath := path + ".sigs"
			sigs, err := readSignatures(sigsPath, true)
			if err != nil {
				return err
			}
			mine := policy.Signature{Officer: id.name, Signature: string(sig)}
			if i := slices.IndexFunc(sigs, func(s policy.Signature) bool { return s.Officer == id.name }); i >= 0 {
				sigs[i] = mine
			} else {
				sigs = append(sigs, mine)
			}
			if err := writeSignatures(sigsPath, sigs); err != nil {
				return err
			}
			var names []string
			for _, s := range sigs {
				names = append(names, s.Officer)
			}
			fmt.Fprintf(c.stdout, "signed as %s; %s holds the signatures of %s\n", id.name, sigsPath, strings.Join(names, ", "))
			if cur != nil {
				if _, counted, err := policy.Accept(cur, raw, sigs); err != nil {
					fmt.Fprintf(c.stdout, "not yet accepted by nodes: %v\n", err)
				} else {
					fmt.Fprintf(c.stdout, "quorum reached (%s; %d needed): ready for 'officer policy submit %s'\n", strings.Join(counted, ", "), cur.ChangeQuorum, path)
				}
			}
			return nil
		}
	},
}

var policySubmitCommand = &command{
	Name:  "policy submit",
	Args:  "PROPOSED.json [-yes] -cluster DIR",
	Short: "offer a signed bundle to every node",
	Long: `Policy submit reads PROPOSED.json and its signatures, PROPOSED.json.sigs,
checks here that a quorum of the officers of the bundle in force signed it,
and sends it to every node of the cluster. It reports each node's answer:
accepted (the version in force and whose signatures counted) or the error.
Exit code 1 if any node did not accept it; submitting again is safe.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		yes := fs.Bool("yes", false, "submit without asking")
		return func(ctx context.Context, args []string) error {
			path, err := oneArg(args, "proposed bundle file")
			if err != nil {
				return err
			}
			next, raw, err := readBundle(path)
			if err != nil {
				return err
			}
			sigs, err := readSignatures(path+".sigs", true)
			if err != nil {
				return err
			}
			if len(sigs) == 0 {
				return withHint(fmt.Errorf("%s has no signatures (no %s.sigs)", path, path), "officers sign it with 'officer policy sign %s'", path)
			}
			cl, err := c.openCluster()
			if err != nil {
				return err
			}
			defer cl.Close()
			cur, err := c.verifiedPolicy(ctx, cl, 0)
			if err != nil {
				return err
			}
			h := next.Hash()
			if cur.bundle.Hash() == h {
				fmt.Fprintf(c.stdout, "%s (version %d) is already the bundle in force on %s\n", path, next.Version, cur.node)
			} else if _, counted, err := policy.Accept(cur.bundle, raw, sigs); err != nil {
				err = fmt.Errorf("the nodes would refuse %s: %w", path, err)
				switch {
				case next.Cluster != cur.bundle.Cluster:
					return withHint(err, "this bundle is for cluster %q; -cluster names cluster %q", next.Cluster, cur.bundle.Cluster)
				case next.Version <= cur.bundle.Version:
					return withHint(err, "a new bundle's version must be above %d, the version in force: raise \"version\" in %s, then officers sign it again", cur.bundle.Version, path)
				default:
					return withHint(err, "collect signatures with 'officer policy sign %s'", path)
				}
			} else {
				fmt.Fprintf(c.stdout, "%s: version %d, hash %x\nsigned by %s (%d of the officers of version %d needed; verified here)\n\n",
					path, next.Version, h, strings.Join(counted, ", "), cur.bundle.ChangeQuorum, cur.bundle.Version)
				risky := writeDiff(c.stdout, diffBundles(cur.bundle, next))
				q := fmt.Sprintf("Put policy version %d in force on every node?", next.Version)
				if risky > 0 {
					q = fmt.Sprintf("Put policy version %d, with %d risky change(s), in force on every node?", next.Version, risky)
				}
				fmt.Fprintln(c.stdout)
				if err := c.confirm(q, *yes); err != nil {
					return err
				}
			}
			req := &pb.SubmitPolicyRequest{Bundle: raw}
			for _, s := range sigs {
				req.Signatures = append(req.Signatures, &pb.BundleSignature{Officer: s.Officer, Signature: s.Signature})
			}
			outs, errs := every(ctx, cl, "SubmitPolicy", func(ctx context.Context, n *node) (*pb.SubmitPolicyResponse, error) {
				return n.officer.SubmitPolicy(ctx, req)
			})
			failed := 0
			for i, n := range cl.nodes {
				switch {
				case errs[i] != nil:
					failed++
					fmt.Fprintf(c.stdout, "  %-8s REFUSED  %v\n", n.id, errs[i])
				case outs[i].Policy == nil || string(outs[i].Policy.Hash) != string(h[:]):
					failed++
					fmt.Fprintf(c.stdout, "  %-8s !! answered with another bundle in force\n", n.id)
				default:
					by := strings.Join(outs[i].SignedBy, ", ")
					if by == "" {
						by = "(already in force)"
					}
					fmt.Fprintf(c.stdout, "  %-8s accepted version %d, signed by %s\n", n.id, outs[i].Policy.Version, by)
				}
			}
			if failed > 0 {
				return withHint(fmt.Errorf("%d of %d nodes did not accept policy version %d", failed, len(cl.nodes), next.Version),
					"submitting again is safe; 'officer policy show' shows the version in force on each node")
			}
			fmt.Fprintf(c.stdout, "policy version %d is in force on all %d nodes\n", next.Version, len(cl.nodes))
			return nil
		}
	},
}

// readBundle reads and checks a bundle file as nodes do.
func readBundle(path string) (*policy.Bundle, []byte, error) {
	raw, err := readFileMax(path, policy.MaxBundleSize)
	if err != nil {
		return nil, nil, err
	}
	b, err := policy.ParseBundle(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, raw, nil
}

// currentBundle is the bundle to compare with: -against FILE, else the
// bundle in force on the cluster (if -cluster), else nil.
func (c *cli) currentBundle(ctx context.Context, against string) (*policy.Bundle, string, func(), error) {
	nothing := func() {}
	if against != "" {
		b, _, err := readBundle(against)
		if err != nil {
			return nil, "", nothing, fmt.Errorf("-against: %w", err)
		}
		return b, fmt.Sprintf("%s (version %d; a file, not verified)", against, b.Version), nothing, nil
	}
	if c.g.cluster == "" {
		return nil, "", nothing, nil
	}
	cl, err := c.openCluster()
	if err != nil {
		return nil, "", nothing, err
	}
	v, err := c.verifiedPolicy(ctx, cl, 0)
	if err != nil {
		cl.Close()
		return nil, "", nothing, err
	}
	return v.bundle, fmt.Sprintf("the bundle in force, version %d (from %s, verified here)", v.bundle.Version, v.node), cl.Close, nil
}

// readSignatures reads a signatures file; missing, if allowed, is empty.
func readSignatures(path string, missingOK bool) ([]policy.Signature, error) {
	raw, err := readFileMax(path, 1<<20)
	if errors.Is(err, fs.ErrNotExist) && missingOK {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sigs, err := policy.ParseSignatures(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sigs, nil
}

// writeSignatures replaces a signatures file atomically.
func writeSignatures(path string, sigs []policy.Signature) error {
	raw, err := json.MarshalIndent(sigs, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
