package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/grpc/codes"
)

var networks = map[pb.Network]bitcoin.Network{
	pb.Network_NETWORK_BITCOIN_MAINNET: bitcoin.Mainnet,
	pb.Network_NETWORK_BITCOIN_TESTNET: bitcoin.Testnet,
	pb.Network_NETWORK_BITCOIN_SIGNET:  bitcoin.Signet,
	pb.Network_NETWORK_BITCOIN_REGTEST: bitcoin.Regtest,
}

func intentOf(in *pb.WithdrawalIntent) (bitcoin.Intent, error) {
	if in == nil {
		return bitcoin.Intent{}, errors.New("the node sent no intent")
	}
	n, ok := networks[in.Network]
	if !ok {
		return bitcoin.Intent{}, fmt.Errorf("the intent names network %v", in.Network)
	}
	if in.AmountSat > bitcoin.MaxSatoshi || in.FeeCapSat > bitcoin.MaxSatoshi {
		return bitcoin.Intent{}, fmt.Errorf("the intent's amount or fee cap is out of range")
	}
	return bitcoin.Intent{WithdrawalID: in.WithdrawalId, WalletID: in.WalletId, Network: n, Asset: in.Asset,
		Destination: in.Destination, Amount: int64(in.AmountSat), FeeCap: int64(in.FeeCapSat), RequestedBy: in.RequestedBy}, nil
}

var pendingCommand = &command{
	Name:  "pending",
	Args:  "[-cluster DIR]",
	Short: "list the withdrawals waiting for officers' approval",
	Long: `Pending asks every node for the withdrawals awaiting approval and lists
them: id, wallet, amount, destination label, approvals counted of those
needed, and age. These are the nodes' figures; 'officer show ID' re-derives a
withdrawal and verifies its approvals here.`,
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
					id := w.GetIntent().GetWithdrawalId()
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
			fmt.Fprintln(tw, "ID\tWALLET\tAMOUNT BTC\tDESTINATION\tAPPROVALS\tAGE\tNODES")
			for _, r := range rows {
				w := r.w
				label := w.DestinationLabel
				if label == "" {
					label = "!! not allowlisted: " + w.GetIntent().GetDestination()
				}
				got, need := 0, 0
				if a := w.Approval; a != nil {
					got, need = len(a.Approvers), int(a.Required)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", w.GetIntent().GetWithdrawalId(), w.GetIntent().GetWalletId(),
					btc(int64(w.GetIntent().GetAmountSat())), label, got, need, age(time.Since(w.CreatedAt.AsTime())), strings.Join(r.nodes, ","))
			}
			tw.Flush()
			fmt.Fprintln(c.stdout, "\n(the nodes' figures; 'officer show ID' re-derives and verifies one here)")
			return nil
		}
	},
}

// review is a withdrawal fetched from a node and re-derived here.
type review struct {
	w        *pb.Withdrawal // as the node reported it
	node     string
	intent   bitcoin.Intent
	policy   *verified
	wallet   bitcoin.Key
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
	r := &review{w: resp.Withdrawal, node: n.id}
	if r.w == nil {
		return nil, fmt.Errorf("%s returned no withdrawal", n.id)
	}
	problem := func(format string, a ...any) { r.problems = append(r.problems, fmt.Sprintf(format, a...)) }
	if r.intent, err = intentOf(r.w.Intent); err != nil {
		return nil, fmt.Errorf("withdrawal %s as %s serves it: %w", id, n.id, err)
	}
	if r.intent.WithdrawalID != id {
		return nil, fmt.Errorf("%s answered for withdrawal %s with withdrawal %q", n.id, id, r.intent.WithdrawalID)
	}
	r.hash = policy.RequestHash(r.intent, r.w.Psbt)
	if !bytes.Equal(r.hash[:], r.w.RequestHash) {
		problem("REQUEST HASH MISMATCH: %s reports %x, this machine computes %x from the intent and PSBT it sent", n.id, r.w.RequestHash, r.hash)
	}
	if r.w.PolicyVersion < 1 {
		return nil, fmt.Errorf("withdrawal %s: %s names no policy version", id, n.id)
	}
	if r.policy, err = c.verifiedPolicy(ctx, cl, r.w.PolicyVersion); err != nil {
		return nil, err
	}
	if ph := r.policy.bundle.Hash(); !bytes.Equal(ph[:], r.w.PolicyHash) {
		problem("POLICY MISMATCH: %s says it decided under policy %x…, but version %d is %x…", n.id, short(r.w.PolicyHash), r.w.PolicyVersion, ph[:6])
	}
	if r.wallet, err = c.walletKey(ctx, cl, r.intent.WalletID); err != nil {
		return nil, err
	}
	decidedAt := r.w.CreatedAt.AsTime()
	r.decision = r.policy.bundle.Decide(policy.Request{Intent: r.intent, IntentSignature: r.w.IntentSignature, PSBT: r.w.Psbt,
		Wallet: r.wallet, Now: decidedAt})
	d := r.decision
	if !d.Allowed {
		problem("REFUSED HERE: %s: %s", d.Rule, d.Reason)
	}
	if d.Withdrawal != nil {
		if d.Withdrawal.TxID.String() != r.w.Txid && r.w.Txid != "" {
			problem("TXID MISMATCH: %s reports %s, re-derived here %s", n.id, r.w.Txid, d.Withdrawal.TxID)
		}
		if r.w.FeeSat != 0 && int64(r.w.FeeSat) != d.Withdrawal.Fee {
			problem("FEE MISMATCH: %s reports %d sat, re-derived here %d sat", n.id, r.w.FeeSat, d.Withdrawal.Fee)
		}
	}
	if d.Allowed && d.DestinationLabel != r.w.DestinationLabel {
		problem("LABEL MISMATCH: %s labels the destination %q, the policy here %q", n.id, r.w.DestinationLabel, d.DestinationLabel)
	}
	if d.Allowed && d.Originator != r.w.Originator {
		problem("ORIGINATOR MISMATCH: %s says %q signed the intent, verified here: %q", n.id, r.w.Originator, d.Originator)
	}
	a := r.w.Approval
	switch {
	case d.Approval == nil && a != nil:
		problem("TIER MISMATCH: %s asks for %d approvals of %s; re-derived here, this withdrawal needs none", n.id, a.Required, a.Group)
	case d.Approval != nil && a == nil:
		problem("TIER MISMATCH: re-derived here it needs %d approvals of %s; %s asks for none", d.Approval.Approvals, d.Approval.Group, n.id)
	case d.Approval != nil && (int(a.Required) != d.Approval.Approvals || a.Group != d.Approval.Group):
		problem("TIER MISMATCH: %s asks for %d of %s; re-derived here: %d of %s", n.id, a.Required, a.Group, d.Approval.Approvals, d.Approval.Group)
	}
	r.notes = append(r.notes, fmt.Sprintf("the 24h and 7d caps depend on what each node committed before; they are checked by the nodes. Re-derived here as if nothing else had left the wallet, at the node's decision time %s.",
		decidedAt.UTC().Format(time.RFC3339)))
	if d.Approval != nil {
		r.pending = policy.Pending{WithdrawalID: id, RequestHash: r.hash, Tier: *d.Approval, RequestedBy: r.intent.RequestedBy}
		var signed []policy.SignedApproval
		if a != nil {
			for _, ap := range a.Approvals {
				signed = append(signed, policy.SignedApproval{Officer: ap.Officer, Statement: ap.Statement, Signature: ap.Signature})
			}
		}
		r.tally = r.policy.bundle.Tally(signed, r.pending, now)
	}
	return r, nil
}

// walletKey asks every node for the wallet's root key and requires them
// to agree: the key decides which outputs are change.
func (c *cli) walletKey(ctx context.Context, cl *cluster, id string) (bitcoin.Key, error) {
	outs, errs := every(ctx, cl, "GetWallet", func(ctx context.Context, n *node) (*pb.GetWalletResponse, error) {
		return n.wallets.GetWallet(ctx, &pb.GetWalletRequest{WalletId: id})
	})
	var key bitcoin.Key
	var from string
	for i, n := range cl.nodes {
		if errs[i] != nil {
			continue
		}
		w := outs[i].Wallet
		if w == nil || len(w.PublicKey) != 33 || len(w.ChainCode) != 32 {
			return bitcoin.Key{}, fmt.Errorf("%s returned wallet %s without a 33-byte public key and 32-byte chain code", n.id, id)
		}
		k := bitcoin.Key{PublicKey: [33]byte(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}
		if from == "" {
			key, from = k, n.id
		} else if k != key {
			return bitcoin.Key{}, fmt.Errorf("WALLET KEY MISMATCH: %s and %s return different keys for wallet %s: do not approve anything from it", from, n.id, id)
		}
	}
	if from == "" {
		return bitcoin.Key{}, fmt.Errorf("wallet %s: %w", id, errors.Join(errs...))
	}
	return key, nil
}

// writeReview shows a reviewed withdrawal.
func writeReview(w io.Writer, r *review, now time.Time) {
	in, d := r.intent, r.decision
	fmt.Fprintf(w, "withdrawal %s: %s on %s, created %s (%s ago)\n", in.WithdrawalID, strings.TrimPrefix(r.w.Status.String(), "WITHDRAWAL_STATUS_"),
		r.node, r.w.CreatedAt.AsTime().UTC().Format("2006-01-02 15:04:05 UTC"), age(now.Sub(r.w.CreatedAt.AsTime())))
	fmt.Fprintf(w, "re-derived on this machine from the raw intent and PSBT, under policy version %d (%s)\n\n", r.policy.bundle.Version, signedByText(r.policy))
	rules := r.policy.bundle.Wallets[in.WalletID]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("network", "%s", in.Network)
	if rules != nil {
		row("wallet", "%s %q (%s)", in.WalletID, rules.Name, rules.Role)
	} else {
		row("wallet", "%s !! NOT IN THE POLICY", in.WalletID)
	}
	row("destination", "%s", in.Destination)
	switch {
	case d.DestinationLabel != "":
		row("", "allowlisted as %q", d.DestinationLabel)
	default:
		row("", "!! NOT ON ALLOWLIST")
	}
	row("amount", "%s", amount(in.Amount))
	if wd := d.Withdrawal; wd != nil {
		rate := "?"
		if wd.VSize > 0 {
			rate = fmt.Sprintf("%.1f sat/vB", float64(wd.Fee)/float64(wd.VSize))
		}
		row("fee", "%s, %s (~%d vB); intent's cap %s", amount(wd.Fee), rate, wd.VSize, sats(in.FeeCap))
		if len(wd.Change) == 0 {
			row("change", "none")
		}
		for i, ch := range wd.Change {
			k := ""
			if i == 0 {
				k = "change"
			}
			row(k, "%s to %s (%s, the wallet's own)", amount(ch.Value), ch.Address, ch.Path)
		}
		var spent int64
		for _, inp := range wd.Inputs {
			spent += inp.Value
		}
		row("inputs", "%d, spending %s", len(wd.Inputs), amount(spent))
		row("txid", "%s", wd.TxID)
		for i, dg := range wd.Digests {
			k := ""
			if i == 0 {
				k = "sighashes"
			}
			row(k, "input %d: %x", i, dg)
		}
	} else {
		row("transaction", "!! NOT RE-DERIVED: %s", d.Reason)
	}
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
	tw.Flush()
	fmt.Fprintln(w)
	if t := d.Approval; t != nil {
		fmt.Fprintf(w, "approval: %d of group %s (%s), required for amounts from %s BTC\n", t.Approvals, t.Group,
			strings.Join(r.policy.bundle.Groups[t.Group], ", "), btc(t.MinAmountSat))
		fmt.Fprintf(w, "  approved by (verified here): %s  [%d of %d]\n", orNone(strings.Join(r.tally.Approvers, ", ")), len(r.tally.Approvers), t.Approvals)
		if r.tally.Rejection != nil {
			rej, _ := policy.ParseStatement(r.tally.Rejection.Statement)
			fmt.Fprintf(w, "  !! REJECTED by %s: %s\n", r.tally.Rejection.Officer, rej.Reason)
		}
		if r.w.Approval != nil {
			for i, p := range r.tally.Problems {
				fmt.Fprintf(w, "  does not count: %s: %v\n", r.w.Approval.Approvals[i].Officer, p)
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

var showCommand = &command{
	Name:  "show",
	Args:  "ID [-cluster DIR]",
	Short: "fetch a withdrawal and re-derive it here, with its approvals verified",
	Long: `Show fetches withdrawal ID (its raw intent and PSBT) from a node, fetches
the policy bundle it was decided under and verifies it here, asks every node
for the wallet's key, and re-derives the withdrawal here with the policy
code the nodes run. It shows the network, wallet, destination and its
allowlist label, amount, fee and fee rate, change, the sighash digests, the
txid and the request hash (computed here), the approval tier, the approvals
so far (each verified here) and the originator (its signature verified
here). Anything the node reports that this machine does not re-derive is a
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
withdrawal id, the request hash computed here, the txid, the hash of the
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
	txid, fee := r.w.Txid, int64(r.w.FeeSat)
	if wd := d.Withdrawal; wd != nil {
		txid, fee = wd.TxID.String(), wd.Fee
	}
	dest := fmt.Sprintf("%q (%s)", d.DestinationLabel, r.intent.Destination)
	if d.DestinationLabel == "" {
		dest = r.intent.Destination + " (NOT ON ALLOWLIST)"
	}
	q := fmt.Sprintf("%s withdrawal %s as %s: %s BTC to %s, fee %s?", strings.ToUpper(verdict[:1])+verdict[1:], id, me.name, btc(r.intent.Amount), dest, sats(fee))
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
