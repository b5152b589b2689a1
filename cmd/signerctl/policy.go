package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

var policyProposeCommand = &command{
	Name:  "policy propose",
	Args:  "-wallet WALLET_ID -o FILE [-to ADDRESS -label LABEL] [-tier SATS:K:GROUP] [-originator NAME=KEY.pub] [caps] [flags]",
	Short: "draft the next policy bundle: the one in force with a wallet's rules changed",
	Long: `Policy propose fetches the policy bundle in force from a node and writes the
next version to -o with one wallet's rules added or changed: an allowed
destination (-to, with the -label officers know it by), caps, approval tiers
(-tier 10000000:2:treasury: withdrawals of at least 0.1 BTC wait for 2
approvals of group treasury; repeat for more tiers; -tier none removes them),
and the systems allowed to originate its withdrawals (-originator
ledger=ledger.pub). A wallet new to the policy needs -network, -to and
-label (or -any-destination for a hot wallet) and an -originator.

Drafting changes nothing: the draft takes effect only once a quorum of
officers signed it ('officer policy sign FILE') and it was submitted to the
nodes ('officer policy submit FILE'). The draft is checked as the nodes
will check it before it is written.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		var ch walletChange
		out := fs.String("o", "", "write the proposed bundle to this `file` (required)")
		fs.StringVar(&ch.wallet, "wallet", "", "the wallet's `id` (required)")
		fs.StringVar(&ch.name, "name", "", "the wallet's name, for people (default: its id)")
		fs.StringVar(&ch.role, "wallet-role", "", "the wallet's role: hot, warm or cold (default: cold for a new wallet); -role is the client certificate's")
		fs.StringVar(&ch.network, "network", "", "the wallet's `network`, for a wallet new to the policy")
		fs.StringVar(&ch.to, "to", "", "allow this destination `address`")
		fs.StringVar(&ch.label, "label", "", "the destination's label, 1-64 bytes (required with -to)")
		fs.BoolVar(&ch.anyDestination, "any-destination", false, "let a hot or warm wallet pay any address")
		fs.Int64Var(&ch.maxAmount, "max-amount", 0, "the greatest amount of one withdrawal, in `satoshis` (0: unchanged)")
		fs.Int64Var(&ch.dailyCap, "daily-cap", 0, "the most that may leave in any 24 hours, amounts and fees, in `satoshis` (0: unchanged)")
		fs.Int64Var(&ch.weeklyCap, "weekly-cap", 0, "the most that may leave in any 7 days, in `satoshis` (0: unchanged)")
		fs.Int64Var(&ch.maxFee, "max-fee", 0, "the greatest fee of one withdrawal, in `satoshis` (0: unchanged)")
		fs.Func("tier", "an approval tier `SATS:K:GROUP`, repeatable; 'none' removes the wallet's tiers", func(s string) error {
			if s == "none" {
				ch.clearTiers = true
				return nil
			}
			t, err := parseTier(s)
			ch.tiers = append(ch.tiers, t)
			return err
		})
		fs.Func("originator", "a system allowed to originate withdrawals, `NAME=KEYFILE.pub`, repeatable", func(s string) error {
			name, path, ok := strings.Cut(s, "=")
			if !ok {
				return errors.New("want NAME=KEYFILE.pub")
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			k, err := keys.ParsePublicKey(strings.TrimSpace(string(raw)))
			if err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			ch.originators = append(ch.originators, policy.Originator{Name: name, Key: k})
			return nil
		})
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			switch {
			case *out == "":
				return usagef("-o is required")
			case ch.wallet == "":
				return usagef("-wallet is required")
			case (ch.to == "") != (ch.label == ""):
				return usagef("-to and -label go together")
			}
			return c.policyPropose(ctx, &cf, ch, *out)
		}
	},
}

var policyShowCommand = &command{
	Name:  "policy show",
	Args:  "[-version N] [-node ID] [flags]",
	Short: "print the policy bundle in force on a node, and who signed it",
	Long: `Policy show fetches the policy bundle in force on a node (or an earlier one,
-version) and prints its version, hash, the officers who signed it and the
bundle itself. Officers review bundles with 'officer policy show', which also
verifies the signatures on their own machine.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		version := fs.Int64("version", 0, "an earlier `version` (0: the one in force)")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			p, _, err := c.fetchPolicy(ctx, &cf, *version)
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(c, map[string]any{"version": p.Version, "hash": hex.EncodeToString(p.Hash), "signatures": p.Signatures,
					"bundle": json.RawMessage(p.Bundle)})
			}
			var signers []string
			for _, s := range p.Signatures {
				signers = append(signers, s.Officer)
			}
			fmt.Fprintf(c.stdout, "policy version %d in force on %s since %s\n  hash %x\n  signed by %s\n\n%s", p.Version, cf.node,
				p.AcceptedAt.AsTime().Format("2006-01-02 15:04:05 MST"), p.Hash, strings.Join(signers, ", "), p.Bundle)
			return nil
		}
	},
}

// walletChange is what 'policy propose' changes in one wallet's rules.
type walletChange struct {
	wallet, name, role, network, to, label string
	anyDestination                         bool
	maxAmount, dailyCap, weeklyCap, maxFee int64
	tiers                                  []policy.Tier
	clearTiers                             bool
	originators                            []policy.Originator
}

func parseTier(s string) (policy.Tier, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return policy.Tier{}, errors.New("want SATS:K:GROUP, e.g. 10000000:2:treasury")
	}
	min, err1 := strconv.ParseInt(parts[0], 10, 64)
	k, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return policy.Tier{}, errors.New("want SATS:K:GROUP with SATS and K numbers")
	}
	return policy.Tier{MinAmountSat: min, Approvals: k, Group: parts[2]}, nil
}

func (c *cli) fetchPolicy(ctx context.Context, cf *clientFlags, version int64) (*pb.PolicyBundle, *policy.Bundle, error) {
	cl, client, err := cf.dial()
	if err != nil {
		return nil, nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := pb.NewOfficerServiceClient(client.conn).GetPolicy(ctx, &pb.GetPolicyRequest{Version: version})
	if err != nil {
		return nil, nil, callFailed(ctx, "policy", client, cl.role, err)
	}
	b, err := policy.ParseBundle(resp.GetPolicy().GetBundle())
	if err != nil {
		return nil, nil, fmt.Errorf("the bundle %s serves does not parse: %w", client.node.ID, err)
	}
	return resp.GetPolicy(), b, nil
}

func (c *cli) policyPropose(ctx context.Context, cf *clientFlags, ch walletChange, out string) error {
	_, cur, err := c.fetchPolicy(ctx, cf, 0)
	if err != nil {
		return err
	}
	next := *cur
	next.Version = cur.Version + 1
	next.Description = fmt.Sprintf("version %d: rules of wallet %s", next.Version, ch.wallet)
	next.Wallets = map[string]*policy.WalletRules{}
	for id, w := range cur.Wallets {
		cp := *w
		next.Wallets[id] = &cp
	}
	w, known := next.Wallets[ch.wallet]
	if !known {
		n, err := parseNetwork(ch.network)
		if err != nil {
			return usagef("wallet %s is new to the policy: -network: %v", ch.wallet, err)
		}
		w = &policy.WalletRules{Name: ch.wallet, Network: n.btc, Role: policy.RoleCold,
			MaxAmountSat: 100_000_000, DailyCapSat: 500_000_000, WeeklyCapSat: 1_000_000_000, MaxFeeSat: 100_000}
		next.Wallets[ch.wallet] = w
	}
	if ch.name != "" {
		w.Name = ch.name
	}
	if ch.role != "" {
		w.Role = ch.role
	}
	if ch.anyDestination {
		w.AnyDestination = true
	}
	if ch.to != "" {
		w.Destinations = slices.Clone(w.Destinations)
		if i := slices.IndexFunc(w.Destinations, func(d policy.Destination) bool { return d.Address == ch.to }); i >= 0 {
			w.Destinations[i].Label = ch.label
		} else {
			w.Destinations = append(w.Destinations, policy.Destination{Address: ch.to, Label: ch.label})
		}
	}
	for _, f := range []struct {
		v   int64
		dst *int64
	}{{ch.maxAmount, &w.MaxAmountSat}, {ch.dailyCap, &w.DailyCapSat}, {ch.weeklyCap, &w.WeeklyCapSat}, {ch.maxFee, &w.MaxFeeSat}} {
		if f.v != 0 {
			*f.dst = f.v
		}
	}
	if ch.clearTiers || len(ch.tiers) > 0 {
		w.ApprovalTiers = ch.tiers
	}
	for _, o := range ch.originators {
		w.Originators = slices.DeleteFunc(slices.Clone(w.Originators), func(x policy.Originator) bool { return x.Name == o.Name })
		w.Originators = append(w.Originators, o)
	}
	raw, err := json.MarshalIndent(&next, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if _, err := policy.ParseBundle(raw); err != nil {
		return withHint(err, "nothing was written; adjust the flags")
	}
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote %s: policy version %d (in force: %d), wallet %s (%s, %s)\n", out, next.Version, cur.Version, ch.wallet, w.Name, w.Role)
	fmt.Fprintf(c.stdout, "It takes effect once %d officers signed it and it was submitted:\n  officer policy sign %[2]s\n  officer policy submit %[2]s\n", cur.ChangeQuorum, out)
	return nil
}
