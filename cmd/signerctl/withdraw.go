package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/grpc/codes"
)

var withdrawBuildCommand = &command{
	Name:  "withdraw build",
	Args:  "-wallet WALLET_ID -id WITHDRAWAL_ID -to ADDRESS -amount SATS -fee-cap SATS -utxos FILE [-network regtest] [-fee-rate 5] [-change-index N] [-out FILE] [-intent-out FILE] [flags]",
	Short: "build the unsigned transaction (PSBT) and intent of a withdrawal",
	Long: `Withdraw build writes what the exchange's backend submits: the withdrawal's
intent (-intent-out, JSON) and an unsigned transaction (-out, a binary PSBT)
that spends every coin of -utxos, pays -amount satoshis to -to and returns the
rest, less a fee of -fee-rate satoshis per virtual byte, to the wallet's change
address m/1/N (-change-index). Change below the dust limit goes to the fee.
Every input carries its full previous transaction and the BIP32 path of its
key, as the nodes require.

-utxos is a JSON list of {"prev_tx_hex", "index", "path"}, as 'signerctl fund
-utxos-out' writes. The wallet's root (group public key and chain code) comes
from the node (-node). Nothing is sent to the cluster: the transaction is
re-derived here with the nodes' own code and shown, and 'signerctl withdraw
submit' sends it.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		wallet := fs.String("wallet", "", "the paying wallet's `id` (required)")
		id := fs.String("id", "", "the withdrawal's `id`, the backend's idempotency key: 1-64 of A-Z a-z 0-9 . _ : - (required)")
		netName := fs.String("network", "regtest", "the Bitcoin network: mainnet, testnet, signet or regtest")
		to := fs.String("to", "", "the destination `address` (required)")
		amount := fs.String("amount", "", "what the destination receives, in `satoshis` (required)")
		feeCap := fs.String("fee-cap", "", "the greatest fee the intent accepts, in `satoshis` (required)")
		feeRate := fs.Int64("fee-rate", 5, "the fee rate, in `sat/vB`")
		utxos := fs.String("utxos", "", "the coins to spend, a JSON `file` (required)")
		changeIndex := fs.Uint("change-index", 0, "return change to m/1/`N`")
		out := fs.String("out", "withdrawal.psbt", "write the PSBT to this `file`")
		intentOut := fs.String("intent-out", "intent.json", "write the intent, JSON, to this `file`")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			for _, req := range []struct{ name, v string }{{"wallet", *wallet}, {"id", *id}, {"to", *to}, {"amount", *amount}, {"fee-cap", *feeCap}, {"utxos", *utxos}} {
				if req.v == "" {
					return usagef("-%s is required", req.name)
				}
			}
			n, err := parseNetwork(*netName)
			if err != nil {
				return err
			}
			amt, err := parseSats(*amount)
			if err != nil {
				return usagef("-amount: %v", err)
			}
			feeCapSat, err := parseSats(*feeCap)
			if err != nil {
				return usagef("-fee-cap: %v", err)
			}
			if *feeRate < 1 || *feeRate > 10_000 {
				return usagef("-fee-rate %d: want 1 to 10000 sat/vB", *feeRate)
			}
			if *changeIndex > bitcoin.MaxChangeIndex {
				return usagef("-change-index %d: at most %d", *changeIndex, bitcoin.MaxChangeIndex)
			}
			if *out == "" || *intentOut == "" {
				return usagef("-out and -intent-out must name files")
			}
			in := bitcoin.Intent{WithdrawalID: *id, WalletID: *wallet, Network: n.btc, Asset: bitcoin.Asset, Destination: *to, Amount: amt, FeeCap: feeCapSat}
			if err := in.Check(); err != nil {
				return usagef("%v", err)
			}
			return c.withdrawBuild(ctx, &cf, in, *utxos, uint32(*changeIndex), *feeRate, *out, *intentOut)
		}
	},
}

var withdrawSubmitCommand = &command{
	Name:  "withdraw submit",
	Args:  "-intent FILE -psbt FILE [-follow] [-signed-out FILE] [-yes] [flags]",
	Short: "submit a withdrawal to the cluster, and follow it until it is signed",
	Long: `Withdraw submit sends a withdrawal's intent and unsigned transaction (as
'signerctl withdraw build' writes them) to a node, which becomes its
coordinator. It first re-derives the transaction here, with the nodes' own
code, shows what it does and asks for confirmation (-yes skips the question).
It needs the backend role.

Every node re-derives the transaction itself and checks it against its policy
file; the withdrawal id is then bound, on a majority of the nodes, to this one
intent and transaction forever. A refusal prints the rule that refused it (see
policy/bitcoin/rules.go and policy/decide.go) and its reason, and exits 1 with
the gRPC code. Submitting the same id with the same request again is harmless;
with anything else it is refused as withdrawal.id_reused.

With -follow it then streams the withdrawal's changes, with times, until it is
signed or failed, checks the signed transaction here too (btcd's script
engine, against the PSBT's coins) and prints its txid, fee and signing
committee; -signed-out writes the signed transaction as hex. With -json,
progress goes to standard error and the withdrawal, as JSON, to standard
output.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		intentFile := fs.String("intent", "", "the intent, a JSON `file` (required)")
		psbtFile := fs.String("psbt", "", "the unsigned transaction, a PSBT `file`, binary or base64 (required)")
		follow := fs.Bool("follow", false, "stream its progress until it is signed or failed")
		signedOut := fs.String("signed-out", "", "with -follow: write the signed transaction, hex, to this `file`")
		yes := fs.Bool("yes", false, "submit without asking for confirmation")
		timeout := fs.Duration("timeout", 10*time.Minute, "with -follow: give up following after this long")
		fs.StringVar(&cf.originatorKey, "originator-key", "", "sign the intent with this originating system's key `file` (as the exchange ledger would)")
		fs.StringVar(&cf.intentSignature, "intent-signature", "", "the originating system's signature of the intent, an armored SSH signature `file`")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *intentFile == "" || *psbtFile == "" {
				return usagef("-intent and -psbt are required")
			}
			if *signedOut != "" && !*follow {
				return usagef("-signed-out needs -follow")
			}
			if cf.originatorKey != "" && cf.intentSignature != "" {
				return usagef("-originator-key and -intent-signature exclude each other")
			}
			return c.withdrawSubmit(ctx, &cf, *intentFile, *psbtFile, *follow, *signedOut, *yes, *timeout)
		}
	},
}

var withdrawShowCommand = &command{
	Name:  "withdraw show",
	Args:  "WITHDRAWAL_ID [-signed-out FILE] [flags]",
	Short: "show one withdrawal",
	Long: `Withdraw show prints a withdrawal as the node knows it: its intent, status,
the rule and reason of a refusal, fee, txid and signing committee.
-signed-out writes the signed transaction, hex, once there is one.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		signedOut := fs.String("signed-out", "", "write the signed transaction, hex, to this `file`")
		return func(ctx context.Context, args []string) error {
			id, err := oneID(args, "withdrawal")
			if err != nil {
				return err
			}
			return c.withdrawShow(ctx, &cf, id, *signedOut)
		}
	},
}

var withdrawListCommand = &command{
	Name:  "withdraw list",
	Args:  "[-wallet WALLET_ID] [-limit N] [flags]",
	Short: "list withdrawals, newest first",
	Long:  `Withdraw list shows the withdrawals a node knows, newest first.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		wallet := fs.String("wallet", "", "only this wallet's")
		limit := fs.Uint("limit", 100, "at most this many, up to 1000")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *limit < 1 || *limit > 1000 {
				return usagef("-limit %d: want 1 to 1000", *limit)
			}
			return c.withdrawList(ctx, &cf, *wallet, uint32(*limit))
		}
	},
}

var withdrawWatchCommand = &command{
	Name:  "withdraw watch",
	Args:  "WITHDRAWAL_ID [-signed-out FILE] [flags]",
	Short: "follow a withdrawal until it is signed, refused or failed",
	Long: `Withdraw watch streams a withdrawal's changes from the node, with times,
until it is final: signed, refused or failed. A signed transaction is checked
here too (btcd's script engine, against the coins of the PSBT the node holds).
The exit code is 0 once signed and 1 if refused or failed.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		signedOut := fs.String("signed-out", "", "write the signed transaction, hex, to this `file`")
		timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
		return func(ctx context.Context, args []string) error {
			id, err := oneID(args, "withdrawal")
			if err != nil {
				return err
			}
			return c.withdrawWatch(ctx, &cf, id, *signedOut, *timeout)
		}
	},
}

// oneID returns the one positional argument of a command about one thing.
func oneID(args []string, what string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usagef("which %s? give its id", what)
	case len(args) > 1:
		return "", usagef("unexpected argument %q", args[1])
	}
	return args[0], nil
}

// walletRoot fetches a wallet and returns its root: the group public key
// and chain code, public like an xpub.
func (c *cli) walletRoot(ctx context.Context, cf *clientFlags, op, walletID string) (*pb.Wallet, bitcoin.Key, error) {
	cl, client, err := cf.dial()
	if err != nil {
		return nil, bitcoin.Key{}, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.wallets.GetWallet(ctx, &pb.GetWalletRequest{WalletId: walletID})
	if err != nil {
		return nil, bitcoin.Key{}, callFailed(ctx, op, client, cl.role, err)
	}
	w := resp.GetWallet()
	if len(w.GetPublicKey()) != 33 || len(w.GetChainCode()) != 32 {
		return nil, bitcoin.Key{}, withHint(fmt.Errorf("%s: %s served wallet %s without a 33-byte public key and 32-byte chain code", op, client.node.ID, walletID),
			"is the node older than this signerctl? Update it")
	}
	return w, bitcoin.Key{PublicKey: [33]byte(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}, nil
}

// intentJSON is a withdrawal intent as 'withdraw build -intent-out' writes
// it and 'withdraw submit -intent' reads it.
type intentJSON struct {
	WithdrawalID string `json:"withdrawal_id"`
	WalletID     string `json:"wallet_id"`
	Network      string `json:"network"`
	Asset        string `json:"asset"`
	Destination  string `json:"destination"`
	AmountSat    int64  `json:"amount_sat"`
	FeeCapSat    int64  `json:"fee_cap_sat"`
	RequestedBy  string `json:"requested_by,omitempty"`
}

func intentToJSON(in bitcoin.Intent) intentJSON {
	return intentJSON{in.WithdrawalID, in.WalletID, string(in.Network), in.Asset, in.Destination, in.Amount, in.FeeCap, in.RequestedBy}
}

// maxIntentFile bounds an intent file.
const maxIntentFile = 64 << 10

// readIntent reads an intent file strictly.
func readIntent(path string) (bitcoin.Intent, network, error) {
	raw, err := readFileMax(path, maxIntentFile)
	if err != nil {
		return bitcoin.Intent{}, network{}, err
	}
	var j intentJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || dec.More() {
		if err == nil {
			err = errors.New("data after the intent")
		}
		return bitcoin.Intent{}, network{}, withHint(fmt.Errorf("%s: %v", path, err), "want the JSON intent 'signerctl withdraw build -intent-out' writes")
	}
	n, err := parseNetwork(j.Network)
	if err != nil {
		return bitcoin.Intent{}, network{}, fmt.Errorf("%s: network %q: want mainnet, testnet, signet or regtest", path, j.Network)
	}
	if j.AmountSat < 1 || j.FeeCapSat < 1 {
		return bitcoin.Intent{}, network{}, fmt.Errorf("%s: amount_sat and fee_cap_sat must be positive", path)
	}
	in := bitcoin.Intent{WithdrawalID: j.WithdrawalID, WalletID: j.WalletID, Network: n.btc, Asset: j.Asset, Destination: j.Destination,
		Amount: j.AmountSat, FeeCap: j.FeeCapSat, RequestedBy: j.RequestedBy}
	return in, n, nil
}

// intentSignature is the originating system's signature of the intent:
// made now with -originator-key, read from -intent-signature, or none
// (which every node refuses).
func intentSignature(cf *clientFlags, in bitcoin.Intent) ([]byte, error) {
	switch {
	case cf.originatorKey != "" && cf.intentSignature != "":
		return nil, usagef("-originator-key and -intent-signature exclude each other")
	case cf.originatorKey != "":
		s, err := keys.LoadKeyFile(cf.originatorKey)
		if err != nil {
			return nil, err
		}
		return s.Sign(keys.NamespaceIntent, in.Canonical())
	case cf.intentSignature != "":
		return readFileMax(cf.intentSignature, keys.MaxSignatureSize)
	}
	return nil, nil
}

// psbtMagic starts every PSBT; base64 of it is "cHNidP8".
var psbtMagic = []byte("psbt\xff")

// readPSBT reads a PSBT file, binary or base64.
func readPSBT(path string) ([]byte, error) {
	raw, err := readFileMax(path, 2*bitcoin.MaxPSBTSize)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(raw, psbtMagic) {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || !bytes.HasPrefix(dec, psbtMagic) {
			return nil, withHint(fmt.Errorf("%s is not a PSBT, binary or base64", path), "'signerctl withdraw build -out' writes one")
		}
		raw = dec
	}
	if len(raw) > bitcoin.MaxPSBTSize {
		return nil, fmt.Errorf("%s: %d bytes, the nodes take at most %d", path, len(raw), bitcoin.MaxPSBTSize)
	}
	return raw, nil
}

// displayLimits are the widest limits Rederive takes: the CLI re-derives a
// transaction to show what it does, and leaves the policy to the nodes.
func displayLimits() bitcoin.Limits {
	return bitcoin.Limits{MaxFee: bitcoin.MaxSatoshi, MaxInputs: bitcoin.MaxInputs, MaxOutputs: bitcoin.MaxOutputs,
		MaxLockTime: bitcoin.LockTimeThreshold - 1, AllowRBF: true, ChangeIndexMax: bitcoin.MaxChangeIndex}
}

// describe prints what a re-derived withdrawal does.
func describe(w io.Writer, in bitcoin.Intent, d *bitcoin.Withdrawal) {
	var spent int64
	for _, i := range d.Inputs {
		spent += i.Value
	}
	fmt.Fprintf(w, "  wallet    %s (%s)\n", in.WalletID, in.Network)
	fmt.Fprintf(w, "  pays      %s  %s\n", d.Destination.Address, sats(d.Destination.Value))
	for _, ch := range d.Change {
		fmt.Fprintf(w, "  change    %s  %s, back to the wallet at %s\n", ch.Address, sats(ch.Value), ch.Path)
	}
	fmt.Fprintf(w, "  spends    %d coin(s), %s\n", len(d.Inputs), sats(spent))
	fmt.Fprintf(w, "  fee       %d sat (%.1f sat/vB; the intent's cap is %d)\n", d.Fee, float64(d.Fee)/float64(max(d.VSize, 1)), in.FeeCap)
	fmt.Fprintf(w, "  txid      %s\n", d.TxID)
}

func (c *cli) withdrawBuild(ctx context.Context, cf *clientFlags, in bitcoin.Intent, utxoFile string, changeIndex uint32, feeRate int64, out, intentOut string) error {
	utxos, err := readUTXOs(utxoFile)
	if err != nil {
		return err
	}
	_, root, err := c.walletRoot(ctx, cf, "withdraw build", in.WalletID)
	if err != nil {
		return err
	}
	raw, err := bitcoin.BuildWithdrawal(in, root, utxos, changeIndex, feeRate)
	if err != nil {
		return withHint(fmt.Errorf("withdraw build: %w", err), "are -utxos the wallet's coins (signerctl fund -utxos-out), and do they cover -amount and the fee?")
	}
	d, err := bitcoin.Rederive(in, raw, root, displayLimits())
	if err != nil {
		return fmt.Errorf("withdraw build: the PSBT built does not re-derive: %w", err)
	}
	ib, err := json.MarshalIndent(intentToJSON(in), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(intentOut, append(ib, '\n'), 0o644); err != nil {
		return err
	}
	if cf.json {
		return printJSON(c, struct {
			Intent    intentJSON `json:"intent"`
			TxID      string     `json:"txid"`
			FeeSat    int64      `json:"fee_sat"`
			Out       string     `json:"out"`
			IntentOut string     `json:"intent_out"`
		}{intentToJSON(in), d.TxID.String(), d.Fee, out, intentOut})
	}
	fmt.Fprintf(c.stdout, "withdrawal %s, unsigned:\n", in.WithdrawalID)
	describe(c.stdout, in, d)
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes) and %s\n", out, len(raw), intentOut)
	fmt.Fprintf(c.stdout, "\nSubmit it:\n  signerctl withdraw submit -cluster %s -intent %s -psbt %s -follow\n", cf.cluster, intentOut, out)
	return nil
}

func (c *cli) withdrawSubmit(ctx context.Context, cf *clientFlags, intentFile, psbtFile string, follow bool, signedOut string, yes bool, timeout time.Duration) error {
	in, n, err := readIntent(intentFile)
	if err != nil {
		return err
	}
	raw, err := readPSBT(psbtFile)
	if err != nil {
		return err
	}
	_, root, err := c.walletRoot(ctx, cf, "withdraw submit", in.WalletID)
	if err != nil {
		return err
	}
	sig, err := intentSignature(cf, in)
	if err != nil {
		return err
	}
	progress := c.stdout
	if cf.json {
		progress = c.stderr
	}
	fmt.Fprintf(progress, "withdrawal %s to submit to %s:\n", in.WithdrawalID, cf.node)
	if d, err := bitcoin.Rederive(in, raw, root, displayLimits()); err != nil {
		fmt.Fprintf(progress, "  WARNING: the PSBT does not do what the intent says, and every node will refuse it:\n  %v\n", err)
	} else {
		describe(progress, in, d)
	}
	if err := c.confirm(fmt.Sprintf("Submit withdrawal %s?", in.WithdrawalID), yes); err != nil {
		return err
	}

	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	resp, err := client.withdrawals.SubmitWithdrawal(cctx, &pb.SubmitWithdrawalRequest{Intent: intentProto(in, n), Psbt: raw, IntentSignature: sig})
	cancel()
	if err != nil {
		return c.submitFailed(ctx, cf, client, in.WithdrawalID, callFailed(ctx, "withdraw submit", client, cl.role, err))
	}
	w := resp.GetWithdrawal()
	if !follow {
		fmt.Fprintf(progress, "submitted: %s\n", statusLine(w))
		if cf.json {
			return printJSON(c, withdrawalToJSON(w, client.node.ID))
		}
		fmt.Fprintf(c.stdout, "\nFollow it:\n  signerctl withdraw watch %s -cluster %s -node %s\n", w.GetIntent().GetWithdrawalId(), cf.cluster, client.node.ID)
		return nil
	}
	return c.follow(ctx, cf, cl, client, in.WithdrawalID, raw, signedOut, start, timeout)
}

// submitFailed explains a refused submission: the rule, the reason, and
// what to do.
func (c *cli) submitFailed(ctx context.Context, cf *clientFlags, client *client, id string, err error) error {
	var ce *callError
	if !errors.As(err, &ce) || ce.code != codes.FailedPrecondition {
		return err
	}
	if ce.rule == "" {
		return err
	}
	if ce.rule == "withdrawal.id_reused" {
		out := refusalJSON{WithdrawalID: id, Status: "REFUSED", Rules: []string{ce.rule}, Reason: ce.msg, Node: client.node.ID}
		if cf.json {
			_ = printJSON(c, out)
		} else {
			printRefusal(c.stdout, out)
		}
		return withHint(err, "withdrawal id %s is bound, on every node that saw it, to the request first submitted under it; a different transaction needs a new id (and passes the policy afresh). The nodes logged an alert", id)
	}
	// The refused request is recorded under its id: show the record.
	out := refusalJSON{WithdrawalID: id, Status: "REFUSED", Rules: []string{ce.rule}, Reason: ce.msg, Node: client.node.ID}
	gctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if resp, gerr := client.withdrawals.GetWithdrawal(gctx, &pb.GetWithdrawalRequest{WithdrawalId: id}); gerr == nil &&
		resp.GetWithdrawal().GetStatus() == pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED {
		out.Rules, out.Reason = resp.Withdrawal.Rules, resp.Withdrawal.Reason
		out.DestinationLabel = resp.Withdrawal.DestinationLabel
	}
	if cf.json {
		_ = printJSON(c, out)
	} else {
		printRefusal(c.stdout, out)
	}
	return withHint(err, "the officer-signed policy in force decides (signerctl policy show); rule codes are listed in policy/bitcoin/rules.go and policy/decide.go. Id %s stays bound to this refused request: a corrected one needs a new id", id)
}

// refusalJSON is a refused submission as -json prints it.
type refusalJSON struct {
	WithdrawalID     string   `json:"withdrawal_id"`
	Status           string   `json:"status"`
	Rules            []string `json:"rules"`
	Reason           string   `json:"reason"`
	DestinationLabel string   `json:"destination_label,omitempty"`
	Node             string   `json:"node"`
}

func printRefusal(w io.Writer, r refusalJSON) {
	fmt.Fprintf(w, "withdrawal %s REFUSED by %s\n", r.WithdrawalID, r.Node)
	fmt.Fprintf(w, "  rule      %s\n", strings.Join(r.Rules, ", "))
	fmt.Fprintf(w, "  reason    %s\n", r.Reason)
}

// follow streams a withdrawal until it is final, then reports it.
// psbtRaw, if set, is the transaction the caller submitted: the signed one
// is checked against its coins. Otherwise the node's copy is used.
func (c *cli) follow(ctx context.Context, cf *clientFlags, cl *cluster, client *client, id string, psbtRaw []byte, signedOut string, start time.Time, timeout time.Duration) error {
	progress := c.stdout
	if cf.json {
		progress = c.stderr
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stream, err := client.withdrawals.WatchWithdrawal(ctx, &pb.WatchWithdrawalRequest{WithdrawalId: id})
	if err != nil {
		return callFailed(ctx, "withdraw watch", client, cl.role, err)
	}
	var last string
	var w *pb.Withdrawal
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return withHint(callFailed(ctx, "withdraw watch", client, cl.role, err), "the withdrawal goes on without a watcher: 'signerctl withdraw watch %s' picks it up again", id)
		}
		w = resp.GetWithdrawal()
		if line := statusLine(w); line != last {
			at := w.GetUpdatedAt().AsTime().Local()
			fmt.Fprintf(progress, "%s [%6s] %s\n", at.Format("15:04:05.000"), elapsed(time.Since(start)), line)
			if last == "" && w.GetStatus() == pb.WithdrawalStatus_WITHDRAWAL_STATUS_RECEIVED && w.GetCoordinator() == "" {
				fmt.Fprintf(progress, "note: %s bound this withdrawal for another node, its coordinator; unless %s joins the signing committee, its record stays RECEIVED. Watch the coordinator (-node) for the signed transaction\n", client.node.ID, client.node.ID)
			}
			last = line
		}
		if isFinal(w.GetStatus()) {
			break
		}
	}
	if w == nil || !isFinal(w.GetStatus()) {
		return fmt.Errorf("withdraw watch on %s: the stream ended before withdrawal %s was final", client.node.ID, id)
	}
	return c.finished(cf, client, w, psbtRaw, signedOut)
}

// finished reports a final withdrawal: the signed transaction, checked
// here, or why it was refused or failed.
func (c *cli) finished(cf *clientFlags, client *client, w *pb.Withdrawal, psbtRaw []byte, signedOut string) error {
	id := w.GetIntent().GetWithdrawalId()
	switch w.GetStatus() {
	case pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED:
	case pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED:
		if cf.json {
			_ = printJSON(c, withdrawalToJSON(w, client.node.ID))
		} else {
			printRefusal(c.stdout, refusalJSON{WithdrawalID: id, Status: "REFUSED", Rules: w.GetRules(), Reason: w.GetReason(), Node: client.node.ID})
		}
		return fmt.Errorf("withdrawal %s was refused (%s)", id, strings.Join(w.GetRules(), ", "))
	default:
		if cf.json {
			_ = printJSON(c, withdrawalToJSON(w, client.node.ID))
		}
		return withHint(fmt.Errorf("withdrawal %s %s: %s", id, statusName(w.GetStatus()), w.GetReason()),
			"the nodes' logs say more; the id stays bound to this request, so a new attempt needs a new id")
	}
	if len(w.GetSignedTx()) == 0 {
		// A committee member records that it signed; the coordinator
		// assembles the transaction.
		if signedOut != "" {
			return withHint(fmt.Errorf("withdrawal %s: %s signed it as a committee member and holds no signed transaction", id, client.node.ID),
				"ask its coordinator: 'signerctl withdraw show %s -node NODE -signed-out %s'", id, signedOut)
		}
		if cf.json {
			return printJSON(c, withdrawalToJSON(w, client.node.ID))
		}
		fmt.Fprintf(c.stdout, "\nwithdrawal %s is signed; %s took part in the committee, and the coordinator holds the transaction (txid %s)\n", id, client.node.ID, w.GetTxid())
		return nil
	}
	if psbtRaw == nil {
		psbtRaw = w.GetPsbt()
	}
	txid, vsize, err := verifySigned(psbtRaw, w.GetSignedTx())
	if err != nil {
		return fmt.Errorf("withdrawal %s: the signed transaction from %s does not verify here: %w", id, client.node.ID, err)
	}
	if txid != w.GetTxid() {
		return fmt.Errorf("withdrawal %s: the signed transaction's id is %s, %s says %s", id, txid, client.node.ID, w.GetTxid())
	}
	if signedOut != "" {
		if err := os.WriteFile(signedOut, []byte(hex.EncodeToString(w.GetSignedTx())+"\n"), 0o644); err != nil {
			return err
		}
	}
	if cf.json {
		return printJSON(c, withdrawalToJSON(w, client.node.ID))
	}
	fmt.Fprintf(c.stdout, "\nwithdrawal %s is signed\n", id)
	fmt.Fprintf(c.stdout, "  txid       %s\n", txid)
	fmt.Fprintf(c.stdout, "  fee        %d sat (%.1f sat/vB, %d vB)\n", w.GetFeeSat(), float64(w.GetFeeSat())/float64(max(vsize, 1)), vsize)
	fmt.Fprintf(c.stdout, "  committee  %s (coordinator %s)\n", strings.Join(w.GetCommittee(), ", "), w.GetCoordinator())
	fmt.Fprintf(c.stdout, "  verified   here too: btcd's script engine accepts every input against the PSBT's coins\n")
	if signedOut != "" {
		fmt.Fprintf(c.stdout, "  wrote      %s (the %d-byte transaction, hex)\n", signedOut, len(w.GetSignedTx()))
	}
	return nil
}

// verifySigned checks a signed transaction against the unsigned one in
// psbtRaw: the same transaction (txid), and every input valid under btcd's
// script engine against the output it spends, taken from the PSBT's full
// previous transactions. It returns the txid and the virtual size.
func verifySigned(psbtRaw, signed []byte) (string, int64, error) {
	p, err := psbt.NewFromRawBytes(bytes.NewReader(psbtRaw), false)
	if err != nil {
		return "", 0, fmt.Errorf("the PSBT: %w", err)
	}
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(signed)); err != nil {
		return "", 0, fmt.Errorf("the signed transaction does not decode: %w", err)
	}
	if tx.TxHash() != p.UnsignedTx.TxHash() {
		return "", 0, fmt.Errorf("it is not the PSBT's transaction: txid %s, want %s", tx.TxHash(), p.UnsignedTx.TxHash())
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, txIn := range tx.TxIn {
		prev := p.Inputs[i].NonWitnessUtxo
		if prev == nil || prev.TxHash() != txIn.PreviousOutPoint.Hash || int(txIn.PreviousOutPoint.Index) >= len(prev.TxOut) {
			return "", 0, fmt.Errorf("input %d: the PSBT has not the previous transaction it spends", i)
		}
		fetcher.AddPrevOut(txIn.PreviousOutPoint, prev.TxOut[txIn.PreviousOutPoint.Index])
	}
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, txIn := range tx.TxIn {
		out := fetcher.FetchPrevOutput(txIn.PreviousOutPoint)
		vm, err := txscript.NewEngine(out.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, out.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return "", 0, fmt.Errorf("input %d: %w", i, err)
		}
	}
	weight := int64(tx.SerializeSizeStripped()*3 + tx.SerializeSize())
	return tx.TxHash().String(), (weight + 3) / 4, nil
}

func (c *cli) withdrawShow(ctx context.Context, cf *clientFlags, id, signedOut string) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.withdrawals.GetWithdrawal(ctx, &pb.GetWithdrawalRequest{WithdrawalId: id})
	if err != nil {
		return callFailed(ctx, "withdraw show", client, cl.role, err)
	}
	w := resp.GetWithdrawal()
	if signedOut != "" {
		if len(w.GetSignedTx()) == 0 {
			return fmt.Errorf("withdrawal %s is %s: there is no signed transaction to write yet", id, statusName(w.GetStatus()))
		}
		if err := os.WriteFile(signedOut, []byte(hex.EncodeToString(w.GetSignedTx())+"\n"), 0o644); err != nil {
			return err
		}
	}
	if cf.json {
		return printJSON(c, withdrawalToJSON(w, client.node.ID))
	}
	printWithdrawal(c.stdout, withdrawalToJSON(w, client.node.ID))
	return nil
}

func (c *cli) withdrawList(ctx context.Context, cf *clientFlags, wallet string, limit uint32) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.withdrawals.ListWithdrawals(ctx, &pb.ListWithdrawalsRequest{WalletId: wallet, Limit: limit})
	if err != nil {
		return callFailed(ctx, "withdraw list", client, cl.role, err)
	}
	out := struct {
		Withdrawals []withdrawalJSON `json:"withdrawals"`
	}{Withdrawals: []withdrawalJSON{}}
	for _, w := range resp.GetWithdrawals() {
		out.Withdrawals = append(out.Withdrawals, withdrawalToJSON(w, client.node.ID))
	}
	if cf.json {
		return printJSON(c, out)
	}
	if len(out.Withdrawals) == 0 {
		fmt.Fprintf(c.stdout, "%s knows no withdrawals yet\n", client.node.ID)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WITHDRAWAL\tSTATUS\tAMOUNT (SAT)\tDESTINATION\tRULE\tUPDATED")
	for _, w := range out.Withdrawals {
		dest := w.Destination
		if w.DestinationLabel != "" {
			dest += " (" + w.DestinationLabel + ")"
		}
		rule := strings.Join(w.Rules, ",")
		if rule == "" {
			rule = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", w.WithdrawalID, w.Status, w.AmountSat, dest, rule, w.UpdatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func (c *cli) withdrawWatch(ctx context.Context, cf *clientFlags, id, signedOut string, timeout time.Duration) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	return c.follow(ctx, cf, cl, client, id, nil, signedOut, time.Now(), timeout)
}

// withdrawalJSON is a withdrawal as the -json outputs print it.
type withdrawalJSON struct {
	WithdrawalID     string    `json:"withdrawal_id"`
	Status           string    `json:"status"`
	WalletID         string    `json:"wallet_id"`
	Network          string    `json:"network"`
	Asset            string    `json:"asset"`
	Destination      string    `json:"destination"`
	DestinationLabel string    `json:"destination_label,omitempty"`
	AmountSat        uint64    `json:"amount_sat"`
	FeeCapSat        uint64    `json:"fee_cap_sat"`
	FeeSat           uint64    `json:"fee_sat"`
	Rules            []string  `json:"rules"`
	Reason           string    `json:"reason,omitempty"`
	TxID             string    `json:"txid,omitempty"`
	SignedTx         string    `json:"signed_tx,omitempty"` // hex
	RequestHash      string    `json:"request_hash"`
	Coordinator      string    `json:"coordinator,omitempty"`
	Committee        []string  `json:"committee"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	Node             string    `json:"node"` // the node that answered
}

func withdrawalToJSON(w *pb.Withdrawal, node string) withdrawalJSON {
	in := w.GetIntent()
	netName := in.GetNetwork().String()
	if n, ok := networkOf(in.GetNetwork()); ok {
		netName = n.name
	}
	out := withdrawalJSON{
		WithdrawalID: in.GetWithdrawalId(), Status: statusName(w.GetStatus()), WalletID: in.GetWalletId(), Network: netName,
		Asset: in.GetAsset(), Destination: in.GetDestination(), DestinationLabel: w.GetDestinationLabel(),
		AmountSat: in.GetAmountSat(), FeeCapSat: in.GetFeeCapSat(), FeeSat: w.GetFeeSat(), Rules: w.GetRules(), Reason: w.GetReason(),
		TxID: w.GetTxid(), RequestHash: hex.EncodeToString(w.GetRequestHash()), Coordinator: w.GetCoordinator(), Committee: w.GetCommittee(),
		CreatedAt: w.GetCreatedAt().AsTime().UTC(), UpdatedAt: w.GetUpdatedAt().AsTime().UTC(), Node: node,
	}
	if len(w.GetSignedTx()) > 0 {
		out.SignedTx = hex.EncodeToString(w.GetSignedTx())
	}
	if out.Rules == nil {
		out.Rules = []string{}
	}
	if out.Committee == nil {
		out.Committee = []string{}
	}
	return out
}

func printWithdrawal(w io.Writer, wj withdrawalJSON) {
	fmt.Fprintf(w, "withdrawal   %s (as %s knows it)\n", wj.WithdrawalID, wj.Node)
	fmt.Fprintf(w, "status       %s\n", wj.Status)
	if len(wj.Rules) > 0 {
		fmt.Fprintf(w, "rule         %s\n", strings.Join(wj.Rules, ", "))
	}
	if wj.Reason != "" {
		fmt.Fprintf(w, "reason       %s\n", wj.Reason)
	}
	fmt.Fprintf(w, "wallet       %s (%s)\n", wj.WalletID, wj.Network)
	dest := wj.Destination
	if wj.DestinationLabel != "" {
		dest += "  (" + wj.DestinationLabel + ")"
	}
	fmt.Fprintf(w, "destination  %s\n", dest)
	fmt.Fprintf(w, "amount       %s\n", sats(int64(wj.AmountSat)))
	fmt.Fprintf(w, "fee          %d sat (the intent's cap is %d)\n", wj.FeeSat, wj.FeeCapSat)
	if wj.TxID != "" {
		fmt.Fprintf(w, "txid         %s\n", wj.TxID)
	}
	if wj.SignedTx != "" {
		fmt.Fprintf(w, "signed tx    %d bytes (write it with -signed-out FILE)\n", len(wj.SignedTx)/2)
	}
	if wj.Coordinator != "" {
		fmt.Fprintf(w, "coordinator  %s\n", wj.Coordinator)
	}
	if len(wj.Committee) > 0 {
		fmt.Fprintf(w, "committee    %s\n", strings.Join(wj.Committee, ", "))
	}
	fmt.Fprintf(w, "request      %s\n", wj.RequestHash)
	fmt.Fprintf(w, "created      %s\n", wj.CreatedAt.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "updated      %s\n", wj.UpdatedAt.Local().Format(time.RFC3339))
}

// statusName is a status without its enum prefix: "SIGNED".
func statusName(s pb.WithdrawalStatus) string {
	return strings.TrimPrefix(s.String(), "WITHDRAWAL_STATUS_")
}

func isFinal(s pb.WithdrawalStatus) bool {
	switch s {
	case pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED, pb.WithdrawalStatus_WITHDRAWAL_STATUS_REFUSED, pb.WithdrawalStatus_WITHDRAWAL_STATUS_FAILED:
		return true
	}
	return false
}

// statusLine is one line of a withdrawal's progress: what changed is worth
// a new line.
func statusLine(w *pb.Withdrawal) string {
	line := statusName(w.GetStatus())
	if w.GetCoordinator() != "" {
		line += " coordinator " + w.GetCoordinator()
	}
	if len(w.GetCommittee()) > 0 {
		line += ", committee " + strings.Join(w.GetCommittee(), " + ")
	}
	if len(w.GetRules()) > 0 {
		line += ", rule " + strings.Join(w.GetRules(), ",")
	}
	if w.GetStatus() == pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
		line += ", txid " + w.GetTxid()
	}
	return line
}

func intentProto(in bitcoin.Intent, n network) *pb.WithdrawalIntent {
	return &pb.WithdrawalIntent{WithdrawalId: in.WithdrawalID, WalletId: in.WalletID, Network: n.value, Asset: in.Asset,
		Destination: in.Destination, AmountSat: uint64(in.Amount), FeeCapSat: uint64(in.FeeCap), RequestedBy: in.RequestedBy}
}
