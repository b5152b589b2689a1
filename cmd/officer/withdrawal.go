package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/grpc/codes"
)

// intentOf parses the intent bytes a node served, as nodes parse them.
func intentOf(w *pb.Withdrawal) (chain.Intent, error) {
	if len(w.GetIntent()) == 0 {
		return chain.Intent{}, errors.New("the node sent no intent")
	}
	return chain.ParseIntent(w.Intent)
}

// schemes maps the nodes' wallet schemes to the policy's. Unspecified is
// what wallets made before schemes existed: ECDSA over secp256k1.
var schemes = map[pb.Scheme]chain.Scheme{
	pb.Scheme_SCHEME_UNSPECIFIED:     chain.ECDSASecp256k1,
	pb.Scheme_SCHEME_ECDSA_SECP256K1: chain.ECDSASecp256k1,
	pb.Scheme_SCHEME_EDDSA_ED25519:   chain.EdDSAEd25519,
}

// keySizes are the group public key's length per scheme.
var keySizes = map[chain.Scheme]int{chain.ECDSASecp256k1: 33, chain.EdDSAEd25519: 32}

var pendingCommand = &command{
	Name:  "pending",
	Args:  "[-cluster DIR]",
	Short: "list the withdrawals waiting for officers' approval",
	Long: `Pending asks every node for the withdrawals awaiting approval and lists
them: id, wallet, chain and network, amount, destination label, approvals
counted of those needed, and age. These are the nodes' figures (amounts
are read from the intents they hold, in the units of the policy they were
decided under); 'officer show ID' re-derives a withdrawal and verifies its
approvals here.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			cl, err := c.openCluster()
			if err != nil {
				return err
			}
			defer cl.Close()
			outs, errs := every(ctx, cl, "ListWithdrawals", func(ctx context.Context, n *node) (*pb.ListWithdrawalsResponse, error) {
				return n.withdrawals.ListWithdrawals(ctx, &pb.ListWithdrawalsRequest{Status: pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL, Limit: 1000})
			})
			type row struct {
				w     *pb.Withdrawal
				nodes []string
			}
			var rows []*row
			byID := map[string]*row{}
			answered := 0
			for i, n := range cl.nodes {
				if errs[i] != nil {
					fmt.Fprintf(c.stderr, "officer: %v\n", errs[i])
					continue
				}
				answered++
				for _, w := range outs[i].Withdrawals {
					id := w.GetWithdrawalId()
					r := byID[id]
					if r == nil {
						r = &row{w: w}
						byID[id] = r
						rows = append(rows, r)
					}
					r.nodes = append(r.nodes, n.id)
				}
			}
			if answered == 0 {
				return errors.New("no node answered")
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.stdout, "no withdrawal is waiting for approval")
				return nil
			}
			slices.SortFunc(rows, func(a, b *row) int { return a.w.CreatedAt.AsTime().Compare(b.w.CreatedAt.AsTime()) })
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tWALLET\tCHAIN\tAMOUNT\tDESTINATION\tAPPROVALS\tAGE\tNODES")
			for _, r := range rows {
				w := r.w
				got, need := 0, 0
				if a := w.Approval; a != nil {
					got, need = len(a.Approvers), int(a.Required)
				}
				amount, dest := "!! unreadable intent", ""
				in, err := intentOf(w)
				if err == nil && (in.WithdrawalID != w.WithdrawalId || in.WalletID != w.WalletId) {
					err = fmt.Errorf("the intent is of withdrawal %s of wallet %s", printable(in.WithdrawalID), printable(in.WalletID))
				}
				if err != nil {
					fmt.Fprintf(c.stderr, "officer: withdrawal %s: %v\n", printable(w.WithdrawalId), err)
				} else {
					amount, dest = show(c.pendingRules(ctx, cl, w.PolicyVersion, in.WalletID), in.Amount, in.Asset), in.Destination
				}
				label := printable(w.DestinationLabel)
				if label == "" {
					label = "!! not allowlisted: " + printable(dest)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", printable(w.WithdrawalId), printable(w.WalletId),
					printable(w.Chain+" "+w.Network), amount, label, got, need, age(time.Since(w.CreatedAt.AsTime())), strings.Join(r.nodes, ","))
			}
			tw.Flush()
			fmt.Fprintln(c.stdout, "\n(the nodes' figures; 'officer show ID' re-derives and verifies one here)")
			return nil
		}
	},
}

// pendingRules are the wallet's rules in the policy version a withdrawal
// was decided under, verified here, for its amount's units; nil (amounts
// in base units) if that policy does not verify here, which is reported.
func (c *cli) pendingRules(ctx context.Context, cl *cluster, version int64, wallet string) *policy.WalletRules {
	if _, failed := cl.unverified[version]; failed || version < 1 {
		return nil
	}
	v, err := c.verifiedPolicy(ctx, cl, version)
	if err != nil {
		fmt.Fprintf(c.stderr, "officer: amounts of policy version %d in base units: %v\n", version, err)
		cl.unverified[version] = err
		return nil
	}
	return v.bundle.Wallets[wallet]
}

// review is a withdrawal fetched from a node and re-derived here.
type review struct {
	w        *pb.Withdrawal // as the node reported it
	node     string
	intent   chain.Intent // parsed here from the node's intent bytes
	policy   *verified
	rules    *policy.WalletRules // the wallet's rules in that policy; nil if none
	wallet   chain.Key
	decision policy.Decision
	hash     [32]byte // the request hash, computed here
	pending  policy.Pending
	tally    policy.Tally
	// problems are disagreements between the node and this machine, or
	// reasons not to approve: any of them and approve refuses.
	problems []string
	// notes are what a person should know that is not a problem.
	notes []string
}

// reviewWithdrawal fetches withdrawal id and re-derives it here.
func (c *cli) reviewWithdrawal(ctx context.Context, cl *cluster, id string, now time.Time) (*review, error) {
	resp, n, err := first(ctx, cl, "GetWithdrawal", func(ctx context.Context, n *node) (*pb.GetWithdrawalResponse, error) {
		return n.withdrawals.GetWithdrawal(ctx, &pb.GetWithdrawalRequest{WithdrawalId: id})
	})
	if err != nil {
		return nil, err
	}
	w := resp.Withdrawal
	if w == nil {
		return nil, fmt.Errorf("%s returned no withdrawal", n.id)
	}
	in, err := intentOf(w)
	if err != nil {
		return nil, fmt.Errorf("withdrawal %s as %s serves it: %w", id, n.id, err)
	}
	if in.WithdrawalID != id {
		return nil, fmt.Errorf("%s answered for withdrawal %s with withdrawal %q", n.id, id, in.WithdrawalID)
	}
	if w.PolicyVersion < 1 {
		return nil, fmt.Errorf("withdrawal %s: %s names no policy version", id, n.id)
	}
	pol, err := c.verifiedPolicy(ctx, cl, w.PolicyVersion)
	if err != nil {
		return nil, err
	}
	key, err := c.walletKey(ctx, cl, in.WalletID)
	if err != nil {
		return nil, err
	}
	return newReview(w, n.id, in, pol, key, now), nil
}

// newReview re-derives withdrawal w, as node reported it, from its intent
// in under the policy it was decided under, verified here, with the
// wallet's key as every node returned it; and lists every disagreement.
func newReview(w *pb.Withdrawal, node string, in chain.Intent, pol *verified, key chain.Key, now time.Time) *review {
	r := &review{w: w, node: node, intent: in, policy: pol, rules: pol.bundle.Wallets[in.WalletID], wallet: key}
	id := in.WithdrawalID
	problem := func(format string, a ...any) { r.problems = append(r.problems, fmt.Sprintf(format, a...)) }
	if r.w.WithdrawalId != in.WithdrawalID || r.w.WalletId != in.WalletID || r.w.Chain != in.Chain || r.w.Network != in.Network {
		problem("INTENT MISMATCH: %s reports withdrawal %s of wallet %s on %s %s; the intent it sent names withdrawal %s of wallet %s on %s %s", node,
			printable(r.w.WithdrawalId), printable(r.w.WalletId), printable(r.w.Chain), printable(r.w.Network),
			in.WithdrawalID, in.WalletID, printable(in.Chain), printable(in.Network))
	}
	if r.w.Replaces != in.Replaces {
		problem("REPLACEMENT MISMATCH: %s says it replaces %q; the intent it sent, %q", node, r.w.Replaces, in.Replaces)
	}
	if r.w.Status == pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED && len(r.w.UnsignedTx) == 0 {
		// A node logs and keeps a refused request's transaction by its
		// hash only: there is nothing to re-derive, and nothing to approve.
		r.notes = append(r.notes, fmt.Sprintf("%s refused it (%s): %s; a node keeps only the hash of a refused request's transaction, so there is nothing to re-derive or approve here",
			node, printable(strings.Join(r.w.Rules, ", ")), printable(r.w.Reason)))
		return r
	}
	r.hash = policy.RequestHash(in, r.w.UnsignedTx)
	if !bytes.Equal(r.hash[:], r.w.RequestHash) {
		problem("REQUEST HASH MISMATCH: %s reports %x, this machine computes %x from the intent and unsigned transaction it sent", node, r.w.RequestHash, r.hash)
	}
	if ph := r.policy.bundle.Hash(); !bytes.Equal(ph[:], r.w.PolicyHash) {
		problem("POLICY MISMATCH: %s says it decided under policy %x…, but version %d is %x…", node, short(r.w.PolicyHash), r.w.PolicyVersion, ph[:6])
	}
	decidedAt := r.w.CreatedAt.AsTime()
	r.decision = r.policy.bundle.Decide(policy.Request{Intent: in, IntentSignature: r.w.IntentSignature, UnsignedTx: r.w.UnsignedTx,
		Wallet: r.wallet, Nonces: nextNonce{in}, Now: decidedAt})
	d := r.decision
	if !d.Allowed {
		problem("REFUSED HERE: %s: %s", d.Rule, d.Reason)
	}
	if tx := d.Tx; tx != nil {
		ref := r.w.GetTx()
		if ref.GetId() != "" && ref.GetId() != tx.ID {
			problem("TX ID MISMATCH: %s reports %s, re-derived here %s", node, printable(ref.GetId()), tx.ID)
		}
		if ref.GetFee() != "" || ref.GetFeeAsset() != "" {
			fee, err := chain.ParseAmount(ref.GetFee())
			if err != nil || !fee.Equal(tx.Fee) || ref.GetFeeAsset() != tx.FeeAsset {
				problem("FEE MISMATCH: %s reports %s %s, re-derived here %s", node, printable(ref.GetFee()), printable(ref.GetFeeAsset()), amountText(r.rules, tx.Fee, tx.FeeAsset))
			}
		}
		switch nn := r.w.GetNonce(); {
		case nn != nil && tx.Nonce == nil:
			problem("NONCE MISMATCH: %s says it holds nonce %d of %s; re-derived here, the transaction uses no account nonce", node, nn.Nonce, printable(nn.Account))
		case nn != nil && (nn.Account != tx.Nonce.Account || nn.Nonce != tx.Nonce.Nonce):
			problem("NONCE MISMATCH: %s says it holds nonce %d of %s; re-derived here: nonce %d of %s", node, nn.Nonce, printable(nn.Account), tx.Nonce.Nonce, tx.Nonce.Account)
		}
		if tx.Nonce != nil {
			r.notes = append(r.notes, fmt.Sprintf("whether nonce %d is the next one of %s depends on what the nodes signed before; the nodes check it. Re-derived here as if it were.",
				tx.Nonce.Nonce, tx.Nonce.Account))
		}
	}
	if d.Allowed && d.DestinationLabel != r.w.DestinationLabel {
		problem("LABEL MISMATCH: %s labels the destination %q, the policy here %q", node, r.w.DestinationLabel, d.DestinationLabel)
	}
	if d.Allowed && d.Originator != r.w.Originator {
		problem("ORIGINATOR MISMATCH: %s says %q signed the intent, verified here: %q", node, r.w.Originator, d.Originator)
	}
	a := r.w.Approval
	switch t := d.Approval; {
	case t == nil && a != nil:
		problem("TIER MISMATCH: %s asks for %d approvals of %s; re-derived here, this withdrawal needs none", node, a.Required, printable(a.Group))
	case t != nil && a == nil:
		problem("TIER MISMATCH: re-derived here it needs %d approvals of %s; %s asks for none", t.Approvals, t.Group, node)
	case t != nil && (int(a.Required) != t.Approvals || a.Group != t.Group):
		problem("TIER MISMATCH: %s asks for %d of %s; re-derived here: %d of %s", node, a.Required, printable(a.Group), t.Approvals, t.Group)
	case t != nil && (a.TierAsset != t.Asset || a.TierMinAmount != t.MinAmount.String()):
		problem("TIER MISMATCH: %s applies the tier from %s base units of %s; re-derived here, from %s", node,
			printable(a.TierMinAmount), printable(a.TierAsset), amountText(r.rules, t.MinAmount, t.Asset))
	}
	r.notes = append(r.notes, fmt.Sprintf("the 24h and 7d caps depend on what each node committed before; they are checked by the nodes. Re-derived here as if nothing else had left the wallet, at the node's decision time %s.",
		decidedAt.UTC().Format(time.RFC3339)))
	if d.Approval != nil {
		r.pending = policy.Pending{WithdrawalID: id, RequestHash: r.hash, Tier: *d.Approval, RequestedBy: in.RequestedBy}
		var signed []policy.SignedApproval
		if a != nil {
			for _, ap := range a.Approvals {
				signed = append(signed, policy.SignedApproval{Officer: ap.Officer, Statement: ap.Statement, Signature: ap.Signature})
			}
		}
		r.tally = r.policy.bundle.Tally(signed, r.pending, now)
	}
	return r
}

// nextNonce stands in for a node's record of account nonces, which this
// machine does not have: the withdrawal's nonce is taken to be the next
// unsigned one, and a replacement to take it over from the withdrawal it
// names, paying the same. The policy's own nonce rules (its first nonce,
// whether it allows replacement at all) are still applied here.
type nextNonce struct{ in chain.Intent }

var _ policy.NonceBook = nextNonce{}

func (b nextNonce) Nonce(_ string, nonce uint64) policy.NonceState {
	st := policy.NonceState{Next: nonce, Known: true}
	if b.in.Replaces != "" {
		st.Holder, st.HolderIntent = b.in.Replaces, b.in
	}
	return st
}

// walletKey asks every node for the wallet's root key and requires them
// to agree: the key decides which outputs are change, and which account
// pays.
func (c *cli) walletKey(ctx context.Context, cl *cluster, id string) (chain.Key, error) {
	outs, errs := every(ctx, cl, "GetWallet", func(ctx context.Context, n *node) (*pb.GetWalletResponse, error) {
		return n.wallets.GetWallet(ctx, &pb.GetWalletRequest{WalletId: id})
	})
	var key chain.Key
	var from string
	for i, n := range cl.nodes {
		if errs[i] != nil {
			continue
		}
		w := outs[i].Wallet
		scheme, ok := schemes[w.GetScheme()]
		if w == nil || !ok || len(w.PublicKey) != keySizes[scheme] || len(w.ChainCode) != 32 {
			return chain.Key{}, fmt.Errorf("%s returned wallet %s without a known scheme, a public key of its size and a 32-byte chain code (scheme %v, %d-byte key)",
				n.id, id, w.GetScheme(), len(w.GetPublicKey()))
		}
		k := chain.Key{Scheme: scheme, PublicKey: bytes.Clone(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}
		if from == "" {
			key, from = k, n.id
		} else if k.Scheme != key.Scheme || !bytes.Equal(k.PublicKey, key.PublicKey) || k.ChainCode != key.ChainCode {
			return chain.Key{}, fmt.Errorf("WALLET KEY MISMATCH: %s and %s return different keys for wallet %s: do not approve anything from it", from, n.id, id)
		}
	}
	if from == "" {
		return chain.Key{}, fmt.Errorf("wallet %s: %w", id, errors.Join(errs...))
	}
	return key, nil
}

// writeReview shows a reviewed withdrawal.
func writeReview(w io.Writer, r *review, now time.Time) {
	in, d, rules := r.intent, r.decision, r.rules
	fmt.Fprintf(w, "withdrawal %s: %s on %s, created %s (%s ago)\n", in.WithdrawalID, strings.TrimPrefix(r.w.Status.String(), "WITHDRAWAL_STATUS_"),
		r.node, r.w.CreatedAt.AsTime().UTC().Format("2006-01-02 15:04:05 UTC"), age(now.Sub(r.w.CreatedAt.AsTime())))
	fmt.Fprintf(w, "re-derived on this machine from the raw intent and unsigned transaction, under policy version %d (%s)\n\n", r.policy.bundle.Version, signedByText(r.policy))
	var sh sheet
	row, heading := sh.row, sh.heading
	row("chain", "%s", printable(in.Chain))
	row("network", "%s", printable(in.Network))
	if rules != nil {
		row("wallet", "%s %q (%s)", in.WalletID, rules.Name, rules.Role)
	} else {
		row("wallet", "%s !! NOT IN THE POLICY", in.WalletID)
	}
	row("destination", "%s", printable(in.Destination))
	switch {
	case d.DestinationLabel != "":
		row("", "allowlisted as %q", d.DestinationLabel)
	default:
		row("", "!! NOT ON ALLOWLIST")
	}
	row("amount", "%s", amountText(rules, in.Amount, in.Asset))
	if in.Replaces != "" {
		row("replaces", "%s (takes over its account nonce, for a higher fee)", in.Replaces)
	}
	if tx := d.Tx; tx != nil {
		heading("the transaction, as the %s chain re-derives it here", printable(in.Chain))
		for _, f := range tx.Facts {
			v := printable(f.Value)
			if f.Risk {
				v = "!! " + v
			}
			row(printable(f.Label), "%s", v)
		}
		heading("what the wallet signs, recomputed here")
		if len(tx.Sign) == 0 {
			row("signs", "!! nothing")
		}
		for i, s := range tx.Sign {
			k := ""
			if i == 0 {
				k = "signs"
			}
			row(k, "%d: %x (key %s)", i, s.Message, s.Path)
		}
		row("tx id", "%s", tx.ID)
		row("fee", "%s; the intent's cap %s", amountText(rules, tx.Fee, tx.FeeAsset), show(rules, in.FeeCap, tx.FeeAsset))
		if n := tx.Nonce; n != nil {
			row("nonce", "%d of %s (the policy's first %d; replacement %s)", n.Nonce, printable(n.Account), n.First, yesNo(n.Replaceable, "allowed", "not allowed"))
		}
	} else {
		heading("the transaction")
		row("", "!! NOT RE-DERIVED: %s", printable(d.Reason))
	}
	heading("the request")
	hashNote := "recomputed here; matches " + r.node
	if !bytes.Equal(r.hash[:], r.w.RequestHash) {
		hashNote = "recomputed here; !! " + r.node + " REPORTS " + hex.EncodeToString(r.w.RequestHash)
	}
	row("request hash", "%x (%s)", r.hash, hashNote)
	if d.Originator != "" {
		row("originator", "%s (its signature over the intent verified here)", d.Originator)
	} else {
		row("originator", "!! NO VALID ORIGINATOR SIGNATURE")
	}
	if in.RequestedBy != "" {
		row("requested by", "%s (may not approve it)", in.RequestedBy)
	}
	sh.write(w)
	fmt.Fprintln(w)
	if t := d.Approval; t != nil {
		fmt.Fprintf(w, "approval: %d of group %s (%s), required for amounts from %s\n", t.Approvals, t.Group,
			strings.Join(r.policy.bundle.Groups[t.Group], ", "), show(rules, t.MinAmount, t.Asset))
		fmt.Fprintf(w, "  approved by (verified here): %s  [%d of %d]\n", orNone(strings.Join(r.tally.Approvers, ", ")), len(r.tally.Approvers), t.Approvals)
		if r.tally.Rejection != nil {
			rej, _ := policy.ParseStatement(r.tally.Rejection.Statement)
			fmt.Fprintf(w, "  !! REJECTED by %s: %s\n", r.tally.Rejection.Officer, printable(rej.Reason))
		}
		if r.w.Approval != nil {
			for _, i := range slices.Sorted(maps.Keys(r.tally.Problems)) {
				fmt.Fprintf(w, "  does not count: %s: %v\n", printable(r.w.Approval.Approvals[i].Officer), r.tally.Problems[i])
			}
		}
		if n := t.Approvals - len(r.tally.Approvers); n > 0 && r.tally.Rejection == nil {
			var others []string
			for _, m := range r.policy.bundle.Groups[t.Group] {
				if !slices.Contains(r.tally.Approvers, m) && m != in.RequestedBy {
					others = append(others, m)
				}
			}
			fmt.Fprintf(w, "  still needed: %d more, from %s\n", n, strings.Join(others, ", "))
		}
	} else if d.Allowed {
		fmt.Fprintln(w, "approval: none needed; the policy lets the nodes sign it")
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.problems) > 0 {
		fmt.Fprintln(w)
		for _, p := range r.problems {
			fmt.Fprintf(w, "!! PROBLEM: %s\n", p)
		}
		fmt.Fprintln(w, "!! Do NOT approve this withdrawal: what the node reports is not what this machine re-derives.")
	}
}

// sheet is rows of a label and a value under headings, written with
// every value in one column.
type sheet []sheetLine

type sheetLine struct {
	heading      bool
	label, value string
}

func (s *sheet) row(label, format string, a ...any) {
	*s = append(*s, sheetLine{label: label, value: fmt.Sprintf(format, a...)})
}

func (s *sheet) heading(format string, a ...any) {
	*s = append(*s, sheetLine{heading: true, value: fmt.Sprintf(format, a...)})
}

func (s sheet) write(w io.Writer) {
	width := 0
	for _, l := range s {
		if !l.heading {
			width = max(width, utf8.RuneCountInString(l.label))
		}
	}
	for _, l := range s {
		if l.heading {
			fmt.Fprintf(w, "\n%s\n", l.value)
			continue
		}
		fmt.Fprintf(w, "  %s%s  %s\n", l.label, strings.Repeat(" ", width-utf8.RuneCountInString(l.label)), l.value)
	}
}

var showCommand = &command{
	Name:  "show",
	Args:  "ID [-cluster DIR]",
	Short: "fetch a withdrawal and re-derive it here, with its approvals verified",
	Long: `Show fetches withdrawal ID (its raw intent and unsigned transaction) from a
node, fetches the policy bundle it was decided under and verifies it here,
asks every node for the wallet's key, and re-derives the withdrawal here
with the policy code the nodes run, on any chain. It shows the chain,
network, wallet, destination and its allowlist label, and amount; what the
chain re-derives of the transaction (for Bitcoin: fee rate, change and
inputs; lines marked !! need a second look); what the wallet signs
(recomputed here), the transaction id, the fee and the account nonce if
any; the request hash (computed here), the approval tier, the approvals so
far (each verified here) and the originator (its signature verified here).
Anything the node reports that this machine does not re-derive is a
PROBLEM, and exit code 1.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			id, err := oneArg(args, "withdrawal id")
			if err != nil {
				return err
			}
			cl, err := c.openCluster()
			if err != nil {
				return err
			}
			defer cl.Close()
			now := time.Now()
			r, err := c.reviewWithdrawal(ctx, cl, id, now)
			if err != nil {
				return err
			}
			writeReview(c.stdout, r, now)
			if len(r.problems) > 0 {
				return fmt.Errorf("withdrawal %s: %d problem(s) found; see above", id, len(r.problems))
			}
			return nil
		}
	},
}

var approveCommand = &command{
	Name:  "approve",
	Args:  "ID [-yes] [-expires 1h] [-reason TEXT]",
	Short: "re-derive a withdrawal, then sign and send your approval to every node",
	Long: `Approve does all that 'officer show' does, and if this machine re-derives
the withdrawal exactly as the node reports it, asks you to type yes (-yes
skips the question), then signs an approval statement: verdict approve, the
withdrawal id, the request hash computed here, the tx id, the hash of the
policy it was decided under, and an expiry. It sends the approval to every
node and reports each node's answer. Exit code 1 if no node counted it, or a
node refused it as invalid.`,
	Flags: approvalFlags(policy.VerdictApprove),
}

var rejectCommand = &command{
	Name:  "reject",
	Args:  "ID -reason TEXT [-yes] [-expires 1h]",
	Short: "re-derive a withdrawal, then sign and send your rejection to every node",
	Long: `Reject is approve with the verdict reject: one valid rejection ends the
withdrawal on every node that receives it. -reason is required and is kept
in the nodes' audit logs.`,
	Flags: approvalFlags(policy.VerdictReject),
}

func approvalFlags(verdict string) func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
	return func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		yes := fs.Bool("yes", false, "sign without asking")
		expires := fs.Duration("expires", time.Hour, "the approval is valid for this `duration` (at most "+policy.MaxApprovalLifetime.String()+")")
		reason := fs.String("reason", "", "why, kept in the nodes' audit logs (required to reject), at most 200 printable bytes")
		return func(ctx context.Context, args []string) error {
			id, err := oneArg(args, "withdrawal id")
			if err != nil {
				return err
			}
			if *expires <= time.Minute || *expires > policy.MaxApprovalLifetime {
				return usagef("-expires %s: want more than a minute and at most %s", *expires, policy.MaxApprovalLifetime)
			}
			if verdict == policy.VerdictReject && strings.TrimSpace(*reason) == "" {
				return usagef("-reason is required to reject")
			}
			if err := policy.CheckReason(*reason); err != nil {
				return usagef("-%v", err)
			}
			return c.approve(ctx, id, verdict, *reason, *expires, *yes)
		}
	}
}

func (c *cli) approve(ctx context.Context, id, verdict, reason string, lifetime time.Duration, yes bool) error {
	me, err := c.identity()
	if err != nil {
		return err
	}
	cl, err := c.openCluster()
	if err != nil {
		return err
	}
	defer cl.Close()
	now := time.Now()
	r, err := c.reviewWithdrawal(ctx, cl, id, now)
	if err != nil {
		return err
	}
	writeReview(c.stdout, r, now)
	fmt.Fprintln(c.stdout)
	if len(r.problems) > 0 {
		if verdict == policy.VerdictApprove {
			return fmt.Errorf("refusing to approve withdrawal %s: %d problem(s) found; see above", id, len(r.problems))
		}
		fmt.Fprintf(c.stdout, "!! %d problem(s) found; a rejection stops the withdrawal on every node that agrees with this machine\n", len(r.problems))
	}
	d := r.decision
	switch {
	case d.Approval == nil:
		return fmt.Errorf("withdrawal %s needs no approval", id)
	case r.w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL:
		return fmt.Errorf("withdrawal %s is %s on %s, not awaiting approval", id, strings.TrimPrefix(r.w.Status.String(), "WITHDRAWAL_STATUS_"), r.node)
	}
	if err := me.resolve(r.policy.bundle); err != nil {
		return fmt.Errorf("your %s would not count: %w", verdict, err)
	}
	switch {
	case !r.policy.bundle.InGroup(me.name, d.Approval.Group):
		return fmt.Errorf("your %s would not count: %s is not in group %s, which this withdrawal's tier requires", verdict, me.name, d.Approval.Group)
	case me.name == r.intent.RequestedBy:
		return fmt.Errorf("your %s would not count: %s requested this withdrawal", verdict, me.name)
	}
	if verdict == policy.VerdictApprove && slices.Contains(r.tally.Approvers, me.name) {
		fmt.Fprintf(c.stdout, "note: you (%s) approved it already; sending a fresh approval\n", me.name)
	}
	txid, fee := r.w.GetTx().GetId(), "?"
	if f, err := chain.ParseAmount(r.w.GetTx().GetFee()); err == nil {
		fee = show(r.rules, f, r.w.GetTx().GetFeeAsset())
	}
	if tx := d.Tx; tx != nil {
		txid, fee = tx.ID, show(r.rules, tx.Fee, tx.FeeAsset)
	}
	dest := fmt.Sprintf("%q (%s)", d.DestinationLabel, printable(r.intent.Destination))
	if d.DestinationLabel == "" {
		dest = printable(r.intent.Destination) + " (NOT ON ALLOWLIST)"
	}
	q := fmt.Sprintf("%s withdrawal %s as %s: %s on %s %s to %s, fee %s?", strings.ToUpper(verdict[:1])+verdict[1:], id, me.name,
		show(r.rules, r.intent.Amount, r.intent.Asset), printable(r.intent.Chain), printable(r.intent.Network), dest, fee)
	if err := c.confirm(q, yes); err != nil {
		return err
	}
	a := policy.Approval{Verdict: verdict, WithdrawalID: id, RequestHash: r.hash, TxID: txid, PolicyHash: d.PolicyHash,
		Expires: now.Add(lifetime).Truncate(time.Second), Reason: reason}
	st := a.Statement()
	if me.where == "ssh-agent" {
		fmt.Fprintln(c.stderr, "signing through ssh-agent: touch your security key if it blinks")
	}
	sig, err := me.signer.Sign(keys.NamespaceApproval, st)
	if err != nil {
		return err
	}
	// Check our own approval as nodes will, before sending it.
	if _, err := r.policy.bundle.CheckApproval(policy.SignedApproval{Officer: me.name, Statement: st, Signature: sig}, r.pending, now); err != nil {
		return fmt.Errorf("the %s just signed does not check here: %w", verdict, err)
	}
	req := &pb.SubmitApprovalRequest{Approval: &pb.Approval{Officer: me.name, Statement: st, Signature: sig}}
	outs, errs := every(ctx, cl, "SubmitApproval", func(ctx context.Context, n *node) (*pb.SubmitApprovalResponse, error) {
		return n.officer.SubmitApproval(ctx, req)
	})
	counted, invalid := 0, 0
	for i, n := range cl.nodes {
		if errs[i] != nil {
			switch codeOf(errs[i]) {
			case codes.InvalidArgument, codes.PermissionDenied:
				invalid++
			}
			fmt.Fprintf(c.stdout, "  %-8s NOT TAKEN  %v\n", n.id, errs[i])
			continue
		}
		counted++
		w := outs[i].Withdrawal
		state := strings.TrimPrefix(w.GetStatus().String(), "WITHDRAWAL_STATUS_")
		if ap := w.GetApproval(); ap != nil {
			state += fmt.Sprintf(", approvals %d/%d", len(ap.Approvers), ap.Required)
		}
		fmt.Fprintf(c.stdout, "  %-8s recorded   %s\n", n.id, state)
	}
	switch {
	case invalid > 0:
		return fmt.Errorf("%d node(s) refused your %s of %s as invalid; see above", invalid, verdict, id)
	case counted == 0:
		return fmt.Errorf("no node recorded your %s of %s", verdict, id)
	}
	fmt.Fprintf(c.stdout, "%s of %s by %s sent; valid until %s\n", map[string]string{policy.VerdictApprove: "approval", policy.VerdictReject: "rejection"}[verdict], id, me.name, a.Expires.UTC().Format(time.RFC3339))
	return nil
}
