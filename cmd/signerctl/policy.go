package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

var policyProposeCommand = &command{
	Name:  "policy propose",
	Args:  "-wallet WALLET_ID -o FILE [-chain bitcoin|ethereum] [-network NETWORK] [-to ADDRESS -label LABEL] [-cap ASSET=MAX:DAILY:WEEKLY] [-tier [ASSET=]MIN:K:GROUP] [-originator NAME=KEY.pub] [-amend FILE] [Bitcoin caps] [Ethereum params] [flags]",
	Short: "draft the next policy bundle: the one in force with a wallet's rules changed",
	Long: `Policy propose fetches the policy bundle in force from a node and writes the
next version to -o with one wallet's rules added or changed: an allowed
destination (-to, with the -label officers know it by), caps per asset in
base units (-cap ETH=MAX:DAILY:WEEKLY; an empty part keeps that cap), the
fee cap in base units of the chain's fee asset (-max-fee), approval tiers
(-tier USDC=100000000:2:treasury: withdrawals of at least 100 USDC wait for
2 approvals of group treasury; repeat for more tiers; -tier none removes
them), and the systems allowed to originate its withdrawals (-originator
ledger=ledger.pub). -amend FILE changes a draft not signed yet instead of
the bundle in force, keeping its version: several wallets change in one
version (write -o FILE again to amend it in place).

A wallet new to the policy needs -network, -to and -label (or
-any-destination for a hot wallet) and an -originator, and -chain if it is
not a Bitcoin wallet; a wallet's chain and network never change.

Bitcoin (-chain bitcoin, the default): asset BTC; -max-amount, -daily-cap
and -weekly-cap give its caps in satoshis, and -tier SATS:K:GROUP a BTC
tier. A new wallet gets caps of 1 BTC a withdrawal, 5 a day, 10 a week and
a 0.001 BTC fee until the flags say otherwise.

Ethereum (-chain ethereum, -network mainnet, sepolia, holesky or dev): the
wallet's params as policy/ethereum reads them: -chain-id (the network's by
default; required on dev), ERC-20 tokens (-token USDC=0x…:6, the contract in
EIP-55 and the decimals, repeatable; each token also needs a -cap), the
account's next unsigned nonce when the policy starts (-first-nonce), the gas
cap (-max-gas-limit), whether a withdrawal may take over a stuck one's nonce
at a higher fee (-allow-replacement), and for a wallet whose key is an owner
of a Safe: -safe ADDRESS, -safe-version (1.3.0 or later; 1.1.1 and 1.2.0
need -accept-legacy-domain), -safe-first-nonce and -max-safe-tx-gas. A new
wallet gets caps of 1 ETH a withdrawal, 5 a day, 10 a week, a 0.01 ETH fee,
account path m/0/0 and a gas cap of 100000 until the flags say otherwise.

The draft is a bundle of format 2: per wallet its chain and network, caps
per asset in base units as decimal strings ("assets": [{"asset": "BTC",
"max_amount": "50000000", ...}], "max_fee"), the chain's own parameters
("params") and tiers per asset ("asset": "BTC", "min_amount"). A bundle in
force of format 1 is rewritten in format 2 with the same rules; officers
see the whole draft before they sign it.

Drafting changes nothing: the draft takes effect only once a quorum of
officers signed it ('officer policy sign FILE') and it was submitted to the
nodes ('officer policy submit FILE'). The draft is checked as the nodes
will check it (policy.ParseBundle) before it is written.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		var ch walletChange
		out := fs.String("o", "", "write the proposed bundle to this `file` (required)")
		amend := fs.String("amend", "", "change this unsigned draft `file` (of the next version) instead of the bundle in force")
		ch.register(fs)
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *out == "" {
				return usagef("-o is required")
			}
			if err := ch.check(fs); err != nil {
				return err
			}
			return c.policyPropose(ctx, &cf, ch, *out, *amend)
		}
	},
}

// register registers the flags of a wallet's change.
func (ch *walletChange) register(fs *flag.FlagSet) {
	fs.StringVar(&ch.wallet, "wallet", "", "the wallet's `id` (required)")
	fs.StringVar(&ch.name, "name", "", "the wallet's name, for people (default: its id)")
	fs.StringVar(&ch.role, "wallet-role", "", "the wallet's role: hot, warm or cold (default: cold for a new wallet); -role is the client certificate's")
	fs.StringVar(&ch.chain, "chain", "", "the wallet's `chain`, for a wallet new to the policy: "+strings.Join(chains.Names(), " or ")+" (default bitcoin)")
	fs.StringVar(&ch.network, "network", "", "the wallet's `network`, for a wallet new to the policy (Bitcoin: mainnet, testnet, signet or regtest; Ethereum: mainnet, sepolia, holesky or dev)")
	fs.StringVar(&ch.to, "to", "", "allow this destination `address`")
	fs.StringVar(&ch.label, "label", "", "the destination's label, 1-64 bytes (required with -to)")
	fs.BoolVar(&ch.anyDestination, "any-destination", false, "let a hot or warm wallet pay any address")
	fs.Func("cap", "the caps of one asset in its base units, `ASSET=MAX:DAILY:WEEKLY` (an empty part: unchanged), repeatable", func(s string) error {
		cp, err := parseCap(s)
		ch.caps = append(ch.caps, cp)
		return err
	})
	fs.Func("max-fee", "the greatest fee of one withdrawal, in base `units` of the chain's fee asset (satoshis, wei)", func(s string) error {
		a, err := chain.ParseAmount(s)
		if err != nil || a.IsZero() {
			return errors.New("want a whole number of base units, at least 1")
		}
		ch.maxFee = a
		return nil
	})
	fs.Uint64Var(&ch.maxAmount, "max-amount", 0, "Bitcoin: the greatest amount of one withdrawal, in `satoshis` (0: unchanged)")
	fs.Uint64Var(&ch.dailyCap, "daily-cap", 0, "Bitcoin: the most that may leave in any 24 hours, amounts and fees, in `satoshis` (0: unchanged)")
	fs.Uint64Var(&ch.weeklyCap, "weekly-cap", 0, "Bitcoin: the most that may leave in any 7 days, in `satoshis` (0: unchanged)")
	fs.Func("tier", "an approval tier `[ASSET=]MIN:K:GROUP`, MIN in base units (no ASSET: BTC), repeatable; 'none' removes the wallet's tiers", func(s string) error {
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
	ch.eth.register(fs)
}

// check checks a wallet's change as parsed from fs, before anything is
// asked of a node.
func (ch *walletChange) check(fs *flag.FlagSet) error {
	switch {
	case ch.wallet == "":
		return usagef("-wallet is required")
	case (ch.to == "") != (ch.label == ""):
		return usagef("-to and -label go together")
	}
	for _, f := range []struct {
		name string
		v    uint64
	}{{"max-amount", ch.maxAmount}, {"daily-cap", ch.dailyCap}, {"weekly-cap", ch.weeklyCap}} {
		if f.v > bitcoin.MaxSatoshi {
			return usagef("-%s %d: at most %d satoshis", f.name, f.v, int64(bitcoin.MaxSatoshi))
		}
	}
	if ch.chain != "" {
		if _, err := lookupChain(ch.chain); err != nil {
			return err
		}
	}
	ch.eth.given = visited(fs, ethParamFlags)
	return nil
}

// visited returns which of names the command line set.
func visited(fs *flag.FlagSet, names []string) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(names, f.Name) {
			set[f.Name] = true
		}
	})
	return set
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
			p, b, err := c.fetchPolicy(ctx, &cf, *version)
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
			fmt.Fprintf(c.stdout, "policy version %d in force on %s since %s\n  hash %x\n  signed by %s\n", p.Version, cf.node,
				p.AcceptedAt.AsTime().Format("2006-01-02 15:04:05 MST"), p.Hash, strings.Join(signers, ", "))
			printBundle(c.stdout, b)
			fmt.Fprintf(c.stdout, "\nthe bundle, the exact bytes its officers signed:\n%s", p.Bundle)
			return nil
		}
	},
}

// printBundle prints a bundle's officers and every wallet's rules for
// people, as decisions read them (both formats alike).
func printBundle(w io.Writer, b *policy.Bundle) {
	var officers []string
	for _, o := range b.Officers {
		officers = append(officers, o.Name)
	}
	fmt.Fprintf(w, "  format %d, cluster %s: officers %s; %d of them change the policy\n", b.Format, b.Cluster, strings.Join(officers, ", "), b.ChangeQuorum)
	for _, g := range slices.Sorted(maps.Keys(b.Groups)) {
		fmt.Fprintf(w, "  group %s: %s\n", g, strings.Join(b.Groups[g], ", "))
	}
	if len(b.Wallets) == 0 {
		fmt.Fprintf(w, "  no wallet has rules: every withdrawal is refused\n")
	}
	for _, id := range slices.Sorted(maps.Keys(b.Wallets)) {
		fmt.Fprintln(w)
		printWalletRules(w, id, b.Wallets[id])
	}
}

// printWalletRules prints one wallet's rules through the bundle's
// normalized accessors.
func printWalletRules(w io.Writer, id string, r *policy.WalletRules) {
	fmt.Fprintf(w, "wallet %s %q (%s %s, %s)\n", id, r.Name, r.ChainName(), r.Network, r.Role)
	for _, l := range r.AssetLimits() {
		fmt.Fprintf(w, "  %-12s at most %s a withdrawal; %s a day, %s a week\n", l.Asset,
			walletAmount(r, l.MaxAmount, l.Asset), walletAmount(r, l.DailyCap, l.Asset), walletAmount(r, l.WeeklyCap, l.Asset))
	}
	_, params := r.ChainOf()
	fmt.Fprintf(w, "  %-12s at most %s a withdrawal\n", "fee", walletAmount(r, r.FeeCap(), params.FeeAsset()))
	if p, ok := params.(*ethereum.Params); ok {
		printEthParams(w, p)
	} else if len(r.Params) > 0 {
		fmt.Fprintf(w, "  %-12s %s\n", "params", r.Params)
	}
	for _, t := range r.Tiers() {
		fmt.Fprintf(w, "  %-12s from %s: %d approvals of group %s\n", "tier", walletAmount(r, t.MinAmount, t.Asset), t.Approvals, t.Group)
	}
	if r.AnyDestination {
		fmt.Fprintf(w, "  %-12s any destination\n", "pays")
	}
	for _, d := range r.Destinations {
		fmt.Fprintf(w, "  %-12s %q %s\n", "pays", d.Label, d.Address)
	}
	if h := r.Hours; h != nil {
		days := "every day"
		if len(h.Weekdays) > 0 {
			days = strings.Join(h.Weekdays, ", ")
		}
		fmt.Fprintf(w, "  %-12s %s to %s UTC, %s\n", "hours", h.From, h.To, days)
	}
	for _, o := range r.Originators {
		fmt.Fprintf(w, "  %-12s %s (%s)\n", "originator", o.Name, o.Key.Fingerprint())
	}
	for _, rule := range r.Rules {
		fmt.Fprintf(w, "  %-12s %s: %s\n", "rule", rule.Name, rule.Expr)
	}
}

// walletChange is what 'policy propose' changes in one wallet's rules.
type walletChange struct {
	wallet, name, role, chain, network, to, label string
	anyDestination                                bool
	// Bitcoin's caps in satoshis (0: unchanged).
	maxAmount, dailyCap, weeklyCap uint64
	caps                           []assetCap
	maxFee                         chain.Amount // zero: unchanged
	tiers                          []policy.Tier
	clearTiers                     bool
	originators                    []policy.Originator
	eth                            ethChange
}

// assetCap is -cap ASSET=MAX:DAILY:WEEKLY: an asset's caps in base units,
// zero for a cap left as it is.
type assetCap struct {
	asset              string
	max, daily, weekly chain.Amount
}

// parseCap reads -cap ASSET=MAX:DAILY:WEEKLY.
func parseCap(s string) (assetCap, error) {
	asset, rest, ok := strings.Cut(s, "=")
	parts := strings.Split(rest, ":")
	if !ok || asset == "" || len(parts) != 3 {
		return assetCap{}, errors.New("want ASSET=MAX:DAILY:WEEKLY in base units, e.g. ETH=1000000000000000000:5000000000000000000:10000000000000000000")
	}
	cp := assetCap{asset: asset}
	for i, dst := range []*chain.Amount{&cp.max, &cp.daily, &cp.weekly} {
		if parts[i] == "" {
			continue
		}
		a, err := chain.ParseAmount(parts[i])
		if err != nil || a.IsZero() {
			return assetCap{}, fmt.Errorf("%q: want a whole number of base units, at least 1 (or nothing, to keep the cap)", parts[i])
		}
		*dst = a
	}
	return cp, nil
}

// parseTier reads -tier [ASSET=]MIN:K:GROUP as a tier of format 2. Without
// ASSET the tier is Bitcoin's, MIN in satoshis; its Asset stays empty until
// the wallet's chain is known.
func parseTier(s string) (policy.Tier, error) {
	asset, rest, named := strings.Cut(s, "=")
	if !named {
		asset, rest = "", s
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 || (named && asset == "") {
		return policy.Tier{}, errors.New("want [ASSET=]MIN:K:GROUP, e.g. 10000000:2:treasury (satoshis) or USDC=100000000:2:treasury (base units)")
	}
	min, err1 := chain.ParseAmount(parts[0])
	k, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return policy.Tier{}, errors.New("want [ASSET=]MIN:K:GROUP with MIN (base units) and K numbers")
	}
	if min.IsZero() {
		return policy.Tier{}, fmt.Errorf("MIN %s: want at least 1", min)
	}
	if sat, ok := min.Uint64(); (asset == "" || asset == bitcoin.Asset) && (!ok || sat > bitcoin.MaxSatoshi) {
		return policy.Tier{}, fmt.Errorf("MIN %s: want 1 to %d satoshis", min, int64(bitcoin.MaxSatoshi))
	}
	return policy.Tier{Asset: asset, MinAmount: min, Approvals: k, Group: parts[2]}, nil
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

func (c *cli) policyPropose(ctx context.Context, cf *clientFlags, ch walletChange, out, amend string) error {
	_, cur, err := c.fetchPolicy(ctx, cf, 0)
	if err != nil {
		return err
	}
	base := cur
	if amend != "" {
		if base, err = readDraft(amend, cur); err != nil {
			return err
		}
	}
	raw, next, err := draft(base, ch, amend != "")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		return err
	}
	w := next.Wallets[ch.wallet]
	fmt.Fprintf(c.stdout, "wrote %s: policy version %d (in force: %d), wallet %s (%s, %s)\n", out, next.Version, cur.Version, ch.wallet, w.Name, w.Role)
	if amend != "" {
		fmt.Fprintf(c.stdout, "  the draft %s with this wallet's change too: %s\n", amend, next.Description)
		if fileExists(out + ".sigs") {
			fmt.Fprintf(c.stdout, "note: %s.sigs holds signatures of the draft as it was; they do not count for these bytes: officers sign it again\n", out)
		}
	}
	if cur.Format != next.Format {
		fmt.Fprintf(c.stdout, "note: the bundle in force is of format %d; the draft is of format %d, every wallet's rules unchanged but written per asset\n", cur.Format, next.Format)
	}
	printWalletRules(c.stdout, ch.wallet, w)
	fmt.Fprintf(c.stdout, "It takes effect once %d officers signed it and it was submitted:\n  officer policy sign %[2]s\n  officer policy submit %[2]s\n", cur.ChangeQuorum, out)
	return nil
}

// readDraft reads the unsigned draft -amend names: it must parse and be
// the next version of the bundle in force, of the same cluster.
func readDraft(path string, cur *policy.Bundle) (*policy.Bundle, error) {
	raw, err := readFileMax(path, policy.MaxBundleSize)
	if err != nil {
		return nil, err
	}
	b, err := policy.ParseBundle(raw)
	if err != nil {
		return nil, withHint(fmt.Errorf("-amend %s: %w", path, err), "-amend takes a draft 'signerctl policy propose -o' wrote")
	}
	if b.Cluster != cur.Cluster || b.Version != cur.Version+1 {
		return nil, withHint(fmt.Errorf("-amend %s: a draft of version %d of cluster %q; the next version after the one in force is %d of %q", path, b.Version, b.Cluster, cur.Version+1, cur.Cluster),
			"draft afresh without -amend: the bundle in force changed since that draft was written")
	}
	return b, nil
}

// draft returns the bundle after cur with ch applied, in format 2: its
// file and the bundle as the nodes will parse it. It is the next version,
// or, to amend an unsigned draft, cur's own version. A draft the nodes
// would refuse is an error.
func draft(cur *policy.Bundle, ch walletChange, amend bool) ([]byte, *policy.Bundle, error) {
	var err error
	next := *cur
	next.Format = policy.BundleFormat
	switch {
	case !amend:
		next.Version = cur.Version + 1
		next.Description = fmt.Sprintf("version %d: rules of wallet %s", next.Version, ch.wallet)
	case !strings.Contains(cur.Description, ch.wallet):
		next.Description = cur.Description + ", and of wallet " + ch.wallet
	}
	next.Wallets = map[string]*policy.WalletRules{}
	for id, w := range cur.Wallets {
		if next.Wallets[id], err = format2(cur.Format, w); err != nil {
			return nil, nil, fmt.Errorf("wallet %s: %w", id, err)
		}
	}
	w, known := next.Wallets[ch.wallet]
	chainName := ch.chain
	switch {
	case !known && ch.network == "":
		if chainName == "" {
			chainName = bitcoin.Name
		}
		return nil, nil, usagef("wallet %s is new to the policy: -network is required (%s: %s)", ch.wallet, chainName, networksOf(chainName))
	case !known:
		if chainName == "" {
			chainName = bitcoin.Name
		}
		if err := checkNetwork(chainName, ch.network); err != nil {
			return nil, nil, usagef("wallet %s is new to the policy: %v", ch.wallet, err)
		}
		w = newWalletRules(ch.wallet, chainName, ch.network)
		next.Wallets[ch.wallet] = w
	case chainName != "" && chainName != w.ChainName():
		return nil, nil, usagef("-chain %s: wallet %s is a %s wallet in the policy in force, and a wallet's chain does not change", chainName, ch.wallet, w.ChainName())
	case ch.network != "" && ch.network != w.Network:
		return nil, nil, usagef("-network %s: wallet %s is on %s in the policy in force, and a wallet's network does not change", ch.network, ch.wallet, w.Network)
	}
	if known {
		chainName = w.ChainName()
	}
	inSats := ch.maxAmount != 0 || ch.dailyCap != 0 || ch.weeklyCap != 0
	switch {
	case inSats && chainName != bitcoin.Name:
		return nil, nil, usagef("wallet %s is a %s wallet: -max-amount, -daily-cap and -weekly-cap are in satoshis, for Bitcoin wallets; give its caps per asset in base units with -cap ASSET=MAX:DAILY:WEEKLY", ch.wallet, chainName)
	case ch.eth.any() && chainName != ethereum.Name:
		return nil, nil, usagef("wallet %s is a %s wallet: %s are Ethereum params", ch.wallet, chainName, ch.eth.names())
	}
	if chainName == bitcoin.Name {
		if sat, ok := ch.maxFee.Uint64(); !ok || sat > bitcoin.MaxSatoshi {
			return nil, nil, usagef("-max-fee %s: at most %d satoshis", ch.maxFee, int64(bitcoin.MaxSatoshi))
		}
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
	caps := ch.caps
	if inSats {
		caps = append([]assetCap{{asset: bitcoin.Asset, max: satsOrZero(ch.maxAmount), daily: satsOrZero(ch.dailyCap), weekly: satsOrZero(ch.weeklyCap)}}, caps...)
	}
	w.Assets = slices.Clone(w.Assets)
	for _, cp := range caps {
		i := slices.IndexFunc(w.Assets, func(l policy.AssetLimits) bool { return l.Asset == cp.asset })
		if i < 0 {
			if cp.max.IsZero() || cp.daily.IsZero() || cp.weekly.IsZero() {
				return nil, nil, usagef("-cap %s: wallet %s has no %[1]s caps yet: give all three, MAX:DAILY:WEEKLY", cp.asset, ch.wallet)
			}
			w.Assets = append(w.Assets, policy.AssetLimits{Asset: cp.asset})
			i = len(w.Assets) - 1
		}
		for _, set := range []struct{ dst, v *chain.Amount }{{&w.Assets[i].MaxAmount, &cp.max}, {&w.Assets[i].DailyCap, &cp.daily}, {&w.Assets[i].WeeklyCap, &cp.weekly}} {
			if !set.v.IsZero() {
				*set.dst = *set.v
			}
		}
	}
	if !ch.maxFee.IsZero() {
		w.MaxFee = ch.maxFee
	}
	if ch.clearTiers || len(ch.tiers) > 0 {
		w.ApprovalTiers = nil
		for _, t := range ch.tiers {
			if t.Asset == "" && chainName != bitcoin.Name {
				return nil, nil, usagef("-tier %s:%d:%s: wallet %s is a %s wallet: name the tier's asset, ASSET=MIN:K:GROUP", t.MinAmount, t.Approvals, t.Group, ch.wallet, chainName)
			}
			if t.Asset == "" {
				t.Asset = bitcoin.Asset
			}
			w.ApprovalTiers = append(w.ApprovalTiers, t)
		}
	}
	if chainName == ethereum.Name && (ch.eth.any() || !known) {
		if w.Params, err = ch.eth.apply(ch.wallet, w, !known); err != nil {
			return nil, nil, err
		}
	}
	for _, o := range ch.originators {
		w.Originators = slices.DeleteFunc(slices.Clone(w.Originators), func(x policy.Originator) bool { return x.Name == o.Name })
		w.Originators = append(w.Originators, o)
	}
	raw, err := json.MarshalIndent(&next, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	raw = append(raw, '\n')
	parsed, err := policy.ParseBundle(raw)
	if err != nil {
		return nil, nil, withHint(err, "nothing was written; adjust the flags")
	}
	return raw, parsed, nil
}

// satsOrZero is a satoshi flag as an Amount, zero for 0 (unchanged).
func satsOrZero(v uint64) chain.Amount {
	if v == 0 {
		return chain.Amount{}
	}
	return chain.AmountOf(v)
}

// newWalletRules returns the rules a wallet new to the policy starts from
// on chainName: cold, with modest caps in the chain's native asset, until
// the flags say otherwise.
func newWalletRules(id, chainName, network string) *policy.WalletRules {
	w := &policy.WalletRules{Name: id, Chain: chainName, Network: network, Role: policy.RoleCold}
	switch chainName {
	case ethereum.Name:
		const eth = "000000000000000000" // 10^18 wei
		w.Assets = []policy.AssetLimits{{Asset: ethereum.NativeAsset, MaxAmount: chain.MustAmount("1" + eth), DailyCap: chain.MustAmount("5" + eth), WeeklyCap: chain.MustAmount("10" + eth)}}
		w.MaxFee = chain.MustAmount("10000000000000000") // 0.01 ETH
	default:
		sat := chain.AmountOf
		w.Assets = []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: sat(100_000_000), DailyCap: sat(500_000_000), WeeklyCap: sat(1_000_000_000)}}
		w.MaxFee = sat(100_000)
	}
	return w
}

// format2 returns a copy of a wallet's rules from a bundle of the given
// format, written in format 2: format 1's satoshi fields become the BTC
// limits, the fee cap, Bitcoin's params and BTC tiers, read through the
// bundle's normalized accessors.
func format2(format int, w *policy.WalletRules) (*policy.WalletRules, error) {
	cp := *w
	if format != policy.BundleFormat1 {
		return &cp, nil
	}
	cp.Chain = w.ChainName()
	cp.Assets = w.AssetLimits()
	cp.MaxFee = w.FeeCap()
	cp.Params = nil
	if w.AllowRBF || w.MaxLockTime != 0 {
		params, err := json.Marshal(bitcoin.Params{AllowRBF: w.AllowRBF, MaxLockTime: w.MaxLockTime})
		if err != nil {
			return nil, err
		}
		cp.Params = params
	}
	cp.ApprovalTiers = nil
	for _, t := range w.Tiers() {
		t.MinAmountSat = 0
		cp.ApprovalTiers = append(cp.ApprovalTiers, t)
	}
	cp.MaxAmountSat, cp.DailyCapSat, cp.WeeklyCapSat, cp.MaxFeeSat, cp.AllowRBF, cp.MaxLockTime = 0, 0, 0, 0, false, 0
	return &cp, nil
}
