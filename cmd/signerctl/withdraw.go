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
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/keys"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/grpc/codes"
)

var withdrawBuildCommand = &command{
	Name:  "withdraw build",
	Args:  "-wallet WALLET_ID -id WITHDRAWAL_ID -to ADDRESS -amount N -fee-cap N [-utxos FILE] [-chain ethereum -nonce N -max-fee-per-gas WEI] [-asset ASSET] [-network NETWORK] [-out FILE] [-intent-out FILE] [chain flags] [flags]",
	Short: "build the unsigned transaction and the intent of a withdrawal (Bitcoin PSBT, Ethereum EIP-1559 or SafeTx)",
	Long: `Withdraw build writes what the exchange's backend submits: the withdrawal's
intent (-intent-out) and its unsigned transaction (-out). -amount is what the
destination receives and -fee-cap the greatest fee the intent accepts, both
in base units (satoshis, wei, a token's smallest unit) of the asset and of
the chain's fee asset.

Bitcoin (-chain bitcoin, the default): -out is a binary PSBT that spends
every coin of -utxos, pays -amount satoshis to -to and returns the rest,
less a fee of -fee-rate satoshis per virtual byte, to the wallet's change
address m/1/N (-change-index). Change below the dust limit goes to the fee.
Every input carries its full previous transaction and the BIP32 path of its
key, as the nodes require. -utxos is a JSON list of {"prev_tx_hex", "index",
"path"}, as 'signerctl fund -utxos-out' writes. -network defaults to
regtest.

Ethereum (-chain ethereum): the wallet's params (chain id, token registry,
gas cap, Safe) come from the policy bundle in force on the node, so the
wallet must be in it, and so does the network. -asset is ETH or a token of
the wallet's registry. From the wallet's own account -out is the unsigned
EIP-1559 transaction (raw bytes, 0x02 || rlp([...])) at account nonce
-nonce: ETH to -to, or the token contract's transfer(-to, -amount), with a
worst-case fee of -max-fee-per-gas × -gas-limit wei within -fee-cap. For a
wallet that is an owner of a Safe, -out is the SafeTx (0x53 || rlp([...]))
at Safe nonce -nonce, a CALL with no gas refund; the node computes its
EIP-712 hash itself, and its gas is paid by whoever executes it. The nodes
sign each account nonce once, and none ahead of the next unsigned one: the
exchange's ledger knows which nonce is next.

The intent file is the intent's canonical bytes, exactly what the originating
system (the exchange's ledger) signs and the nodes hash: compact JSON, version
2, fields in a fixed order, amounts as decimal strings of base units, no
newline, e.g.
  {"v":2,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","chain":"bitcoin",
   "network":"regtest","asset":"BTC","destination":"bcrt1q…","amount":"25000000",
   "fee_cap":"10000"}
Do not edit it: any other spelling is refused. A ledger in any language signs
the file's bytes as they are ('ssh-keygen -Y sign -n countersign-intent').

The wallet's root (group public key and chain code) comes from the node
(-node). Nothing is sent to the cluster: the transaction is re-derived here
with the nodes' own code and shown, and 'signerctl withdraw submit' sends
it.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		var b buildFlags
		fs.StringVar(&b.wallet, "wallet", "", "the paying wallet's `id` (required)")
		fs.StringVar(&b.id, "id", "", "the withdrawal's `id`, the backend's idempotency key: 1-64 of A-Z a-z 0-9 . _ : - (required)")
		fs.StringVar(&b.chain, "chain", bitcoin.Name, "the `chain`: "+strings.Join(chains.Names(), " or "))
		fs.StringVar(&b.network, "network", "", "the `network` (Bitcoin: mainnet, testnet, signet or regtest, default regtest; Ethereum: the wallet's in the policy)")
		fs.StringVar(&b.asset, "asset", "", "the `asset` paid (default: the chain's own, BTC or ETH; Ethereum: or a token of the wallet's registry, such as USDC)")
		fs.StringVar(&b.to, "to", "", "the destination `address` (Ethereum: in EIP-55) (required)")
		fs.StringVar(&b.amount, "amount", "", "what the destination receives, in base `units` of the asset: satoshis, wei (required)")
		fs.StringVar(&b.feeCap, "fee-cap", "", "the greatest fee the intent accepts, in base `units` of the fee asset: satoshis, wei (required)")
		fs.Int64Var(&b.feeRate, "fee-rate", 5, "Bitcoin: the fee rate, in `sat/vB`")
		fs.StringVar(&b.utxos, "utxos", "", "Bitcoin: the coins to spend, a JSON `file` (required for Bitcoin)")
		fs.UintVar(&b.changeIndex, "change-index", 0, "Bitcoin: return change to m/1/`N`")
		fs.Uint64Var(&b.nonce, "nonce", 0, "Ethereum: the account's `nonce`, or the Safe's for a Safe owner (required for Ethereum)")
		fs.StringVar(&b.maxFeePerGas, "max-fee-per-gas", "", "Ethereum: maxFeePerGas, in `wei` (required from the wallet's own account)")
		fs.StringVar(&b.priorityFee, "priority-fee", "1000000000", "Ethereum: maxPriorityFeePerGas, in `wei`, at most -max-fee-per-gas")
		fs.Uint64Var(&b.gasLimit, "gas-limit", 0, "Ethereum: the gas `limit` (default 21000 for ETH, 65000 for a token)")
		fs.Uint64Var(&b.safeTxGas, "safe-tx-gas", 0, "Ethereum, a Safe owner: the SafeTx's safeTxGas (`gas`), at most the policy's max_safe_tx_gas")
		fs.StringVar(&b.out, "out", "", "write the unsigned transaction to this `file` (default withdrawal.psbt; Ethereum: withdrawal.tx)")
		fs.StringVar(&b.intentOut, "intent-out", "intent.json", "write the intent's canonical bytes to this `file`")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			for _, req := range []struct{ name, v string }{{"wallet", b.wallet}, {"id", b.id}, {"to", b.to}, {"amount", b.amount}, {"fee-cap", b.feeCap}} {
				if req.v == "" {
					return usagef("-%s is required", req.name)
				}
			}
			if _, err := lookupChain(b.chain); err != nil {
				return err
			}
			b.given = visited(fs, slices.Concat(bitcoinBuildFlags, ethBuildFlags, []string{"out"}))
			if b.intentOut == "" || (b.out == "" && b.given["out"]) {
				return usagef("-out and -intent-out must name files")
			}
			switch b.chain {
			case bitcoin.Name:
				return c.buildBitcoin(ctx, &cf, &b)
			case ethereum.Name:
				return c.buildEthereum(ctx, &cf, &b)
			}
			return usagef("-chain %s: withdraw build builds Bitcoin and Ethereum withdrawals", b.chain)
		}
	},
}

// buildFlags are withdraw build's flags.
type buildFlags struct {
	wallet, id, chain, network, asset, to, amount, feeCap string
	// Bitcoin's
	feeRate     int64
	utxos       string
	changeIndex uint
	// Ethereum's
	nonce                     uint64
	maxFeePerGas, priorityFee string
	gasLimit, safeTxGas       uint64
	out, intentOut            string
	given                     map[string]bool // the chain flags, and -out, given
}

// The flags of withdraw build that belong to one chain.
var (
	bitcoinBuildFlags = []string{"fee-rate", "utxos", "change-index"}
	ethBuildFlags     = []string{"nonce", "max-fee-per-gas", "priority-fee", "gas-limit", "safe-tx-gas"}
)

// otherChainFlags refuses the flags of another chain than b's.
func (b *buildFlags) otherChainFlags(others []string) error {
	for _, name := range others {
		if b.given[name] {
			return usagef("-%s is not a flag of %s withdrawals", name, b.chain)
		}
	}
	return nil
}

func (c *cli) buildBitcoin(ctx context.Context, cf *clientFlags, b *buildFlags) error {
	if err := b.otherChainFlags(ethBuildFlags); err != nil {
		return err
	}
	if b.utxos == "" {
		return usagef("-utxos is required")
	}
	if b.network == "" {
		b.network = string(bitcoin.Regtest)
	}
	if b.out == "" {
		b.out = "withdrawal.psbt"
	}
	if err := checkNetwork(bitcoin.Name, b.network); err != nil {
		return err
	}
	if b.asset != "" && b.asset != bitcoin.Asset {
		return usagef("-asset %s: a Bitcoin wallet pays BTC", b.asset)
	}
	amt, err := parseSats(b.amount)
	if err != nil {
		return usagef("-amount: %v", err)
	}
	feeCapSat, err := parseSats(b.feeCap)
	if err != nil {
		return usagef("-fee-cap: %v", err)
	}
	if b.feeRate < 1 || b.feeRate > 10_000 {
		return usagef("-fee-rate %d: want 1 to 10000 sat/vB", b.feeRate)
	}
	if b.changeIndex > bitcoin.MaxChangeIndex {
		return usagef("-change-index %d: at most %d", b.changeIndex, bitcoin.MaxChangeIndex)
	}
	in := bitcoin.Intent{WithdrawalID: b.id, WalletID: b.wallet, Network: bitcoin.Network(b.network), Asset: bitcoin.Asset, Destination: b.to, Amount: amt, FeeCap: feeCapSat}
	if err := in.Check(); err != nil {
		return usagef("%v", err)
	}
	return c.withdrawBuild(ctx, cf, in, b.utxos, uint32(b.changeIndex), b.feeRate, b.out, b.intentOut)
}

var withdrawSubmitCommand = &command{
	Name:  "withdraw submit",
	Args:  "-intent FILE -tx FILE [-follow] [-signed-out FILE] [-yes] [flags]",
	Short: "submit a withdrawal to the cluster, and follow it until it is signed",
	Long: `Withdraw submit sends a withdrawal's intent and unsigned transaction (as
'signerctl withdraw build' writes them) to a node, which becomes its
coordinator. It first re-derives the transaction here, with the nodes' own
code, shows what it does and asks for confirmation (-yes skips the question).
It needs the backend role.

-intent is the intent's canonical bytes, the file 'withdraw build -intent-out'
writes; anything else is refused here, as every node would refuse it. -tx is
the unsigned transaction: a PSBT, binary or base64, for Bitcoin (-psbt is
another name for it); for Ethereum the EIP-1559 transaction or SafeTx, raw
bytes or hex. The intent must carry the signature of a system the policy
names as originator: -originator-key signs the file's exact bytes with that
system's key file here (as the exchange's ledger would), or
-intent-signature reads a signature made elsewhere (ssh-keygen -Y sign -n
countersign-intent -f KEY FILE).

Every node re-derives the transaction itself and checks it against its policy
file; the withdrawal id is then bound, on a majority of the nodes, to this one
intent and transaction forever. A refusal prints the rule that refused it (see
policy/rule.go, policy/bitcoin/rules.go and policy/ethereum/rules.go) and its
reason, and exits 1 with the gRPC code. Submitting the same id with the same
request again is harmless; with anything else it is refused as
withdrawal.id_reused.

With -follow it then streams the withdrawal's changes, with times, until it is
signed or failed, and checks the signed result here too: a Bitcoin
transaction with btcd's script engine against the PSBT's coins; an Ethereum
one by re-assembling it from its signature with policy/ethereum's own code,
which recovers the signer and requires the wallet's account (or Safe owner).
It prints the transaction id, the fee and the signing committee, and for
Ethereum the signed EIP-2718 transaction (or the Safe owner's 65-byte
signature) in hex; -signed-out writes the signed result as hex. With -json,
progress goes to standard error and the withdrawal, as JSON, to standard
output.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		intentFile := fs.String("intent", "", "the intent's canonical bytes, a `file` as 'withdraw build -intent-out' writes it (required)")
		txFile := fs.String("tx", "", "the unsigned transaction, a `file` as 'withdraw build -out' writes it (required)")
		psbtFile := fs.String("psbt", "", "Bitcoin: the unsigned transaction, a PSBT `file`, binary or base64 (the same as -tx)")
		follow := fs.Bool("follow", false, "stream its progress until it is signed or failed")
		signedOut := fs.String("signed-out", "", "with -follow: write the signed result (transaction, or Safe owner signature), hex, to this `file`")
		yes := fs.Bool("yes", false, "submit without asking for confirmation")
		timeout := fs.Duration("timeout", 10*time.Minute, "with -follow: give up following after this long")
		fs.StringVar(&cf.originatorKey, "originator-key", "", "sign the intent's bytes with this originating system's key `file` (as the exchange's ledger would)")
		fs.StringVar(&cf.intentSignature, "intent-signature", "", "the originating system's signature of the intent, an armored SSH signature `file`")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *txFile != "" && *psbtFile != "" {
				return usagef("-tx and -psbt are one file: give one of them")
			}
			if *txFile == "" {
				*txFile = *psbtFile
			}
			if *intentFile == "" || *txFile == "" {
				return usagef("-intent and -tx are required (-psbt is -tx for a Bitcoin PSBT)")
			}
			if *signedOut != "" && !*follow {
				return usagef("-signed-out needs -follow")
			}
			if cf.originatorKey != "" && cf.intentSignature != "" {
				return usagef("-originator-key and -intent-signature exclude each other")
			}
			return c.withdrawSubmit(ctx, &cf, *intentFile, *txFile, *follow, *signedOut, *yes, *timeout)
		}
	},
}

var withdrawShowCommand = &command{
	Name:  "withdraw show",
	Args:  "WITHDRAWAL_ID [-signed-out FILE] [flags]",
	Short: "show one withdrawal",
	Long: `Withdraw show prints a withdrawal as the node knows it: its intent (chain,
asset and amount), status, the rule and reason of a refusal, the approval it
waits for, its fee, transaction id and signing committee.
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
until it is final: signed, refused or failed. A signed result is checked
here too: a Bitcoin transaction with btcd's script engine, against the
coins of the PSBT the node holds; an Ethereum transaction or Safe owner
signature by re-assembling it with policy/ethereum's own code under the
policy version that decided it.
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

// walletRoot fetches a wallet and returns its root as Bitcoin derives
// from it: the group public key and chain code, public like an xpub.
func (c *cli) walletRoot(ctx context.Context, cf *clientFlags, op, walletID string) (*pb.Wallet, bitcoin.Key, error) {
	w, key, err := c.walletKey(ctx, cf, op, walletID, bitcoin.Chain{})
	if err != nil {
		return nil, bitcoin.Key{}, err
	}
	root, err := bitcoin.KeyOf(key)
	return w, root, err
}

// walletKey fetches a wallet and returns its root as chain ch takes it,
// refusing a wallet of another signature scheme.
func (c *cli) walletKey(ctx context.Context, cf *clientFlags, op, walletID string, ch chain.Chain) (*pb.Wallet, chain.Key, error) {
	cl, client, err := cf.dial()
	if err != nil {
		return nil, chain.Key{}, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.wallets.GetWallet(ctx, &pb.GetWalletRequest{WalletId: walletID})
	if err != nil {
		return nil, chain.Key{}, callFailed(ctx, op, client, cl.role, err)
	}
	w := resp.GetWallet()
	if s := schemeOf(w.GetScheme()); s != ch.Scheme() {
		return nil, chain.Key{}, fmt.Errorf("%s: wallet %s signs with %s; %s needs %s", op, walletID, s, ch.Name(), ch.Scheme())
	}
	if ch.Scheme() == chain.ECDSASecp256k1 && (len(w.GetPublicKey()) != 33 || len(w.GetChainCode()) != 32) {
		return nil, chain.Key{}, withHint(fmt.Errorf("%s: %s served wallet %s without a 33-byte public key and 32-byte chain code", op, client.node.ID, walletID),
			"is the node older than this signerctl? Update it")
	}
	if len(w.GetChainCode()) != 32 {
		return nil, chain.Key{}, fmt.Errorf("%s: %s served wallet %s without a 32-byte chain code", op, client.node.ID, walletID)
	}
	return w, chain.Key{Scheme: ch.Scheme(), PublicKey: bytes.Clone(w.GetPublicKey()), ChainCode: [32]byte(w.GetChainCode())}, nil
}

// intentJSON is a withdrawal intent as the -json outputs print it: its
// fields, amounts in base units as decimal strings. (The intent file is
// not this: it is the canonical bytes, see chain.Intent.Canonical.)
type intentJSON struct {
	Version      int    `json:"v"`
	WithdrawalID string `json:"withdrawal_id"`
	WalletID     string `json:"wallet_id"`
	Chain        string `json:"chain"`
	Network      string `json:"network"`
	Asset        string `json:"asset"`
	Destination  string `json:"destination"`
	Amount       string `json:"amount"`
	FeeCap       string `json:"fee_cap"`
	RequestedBy  string `json:"requested_by,omitempty"`
	Replaces     string `json:"replaces,omitempty"`
}

func intentToJSON(in chain.Intent) intentJSON {
	return intentJSON{in.Version, in.WithdrawalID, in.WalletID, in.Chain, in.Network, in.Asset, in.Destination,
		in.Amount.String(), in.FeeCap.String(), in.RequestedBy, in.Replaces}
}

// maxIntentFile bounds an intent file: above chain.MaxIntentSize, so that
// a file a little too long is refused by the parser, which says why.
const maxIntentFile = 64 << 10

// intentFileHint says how to make an intent file that reads.
const intentFileHint = "the file must be the intent's canonical bytes exactly, as 'signerctl withdraw build -intent-out FILE' writes them " +
	"(compact JSON, fields in order, amounts as decimal strings, no newline); do not edit it: the originator signs those very bytes"

// readIntent reads an intent file: the intent's canonical bytes, nothing
// else. It returns the intent and the exact bytes, which are what is signed
// and submitted.
func readIntent(path string) (chain.Intent, []byte, error) {
	raw, err := readFileMax(path, maxIntentFile)
	if err != nil {
		return chain.Intent{}, nil, err
	}
	in, err := chain.ParseIntent(raw)
	if err == nil {
		return in, raw, nil
	}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) != len(raw) {
		if _, terr := chain.ParseIntent(trimmed); terr == nil {
			return chain.Intent{}, nil, withHint(fmt.Errorf("%s: a canonical intent with white space around it (a newline an editor added?), "+
				"so not the bytes the originator signs", path), "%s", intentFileHint)
		}
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil && fields["v"] == nil && fields["amount_sat"] != nil {
		return chain.Intent{}, nil, withHint(fmt.Errorf("%s: an intent in the JSON of an older signerctl, not canonical intent bytes", path),
			"build it again with 'signerctl withdraw build -intent-out FILE'; %s", intentFileHint)
	}
	return chain.Intent{}, nil, withHint(fmt.Errorf("%s is not a canonical intent: %w", path, err), "%s", intentFileHint)
}

// intentSignature is the originating system's signature of the intent's
// canonical bytes: made now with -originator-key, read from
// -intent-signature, or none (which every node refuses).
func intentSignature(cf *clientFlags, canonical []byte) ([]byte, error) {
	switch {
	case cf.originatorKey != "" && cf.intentSignature != "":
		return nil, usagef("-originator-key and -intent-signature exclude each other")
	case cf.originatorKey != "":
		s, err := keys.LoadKeyFile(cf.originatorKey)
		if err != nil {
			return nil, err
		}
		return s.Sign(keys.NamespaceIntent, canonical)
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
	fmt.Fprintf(w, "  wallet    %s (bitcoin %s)\n", in.WalletID, in.Network)
	fmt.Fprintf(w, "  pays      %s  %s\n", d.Destination.Address, sats(d.Destination.Value))
	for _, ch := range d.Change {
		fmt.Fprintf(w, "  change    %s  %s, back to the wallet at %s\n", ch.Address, sats(ch.Value), ch.Path)
	}
	fmt.Fprintf(w, "  spends    %d coin(s), %s\n", len(d.Inputs), sats(spent))
	fmt.Fprintf(w, "  fee       %s, %.1f sat/vB; the intent's cap is %s\n", sats(d.Fee), float64(d.Fee)/float64(max(d.VSize, 1)), sats(in.FeeCap))
	fmt.Fprintf(w, "  txid      %s\n", d.TxID)
}

// buildJSON is withdraw build's -json output.
type buildJSON struct {
	Intent    intentJSON `json:"intent"`
	TxID      string     `json:"tx_id"`
	Fee       string     `json:"fee"` // base units of fee_asset
	FeeAsset  string     `json:"fee_asset"`
	Out       string     `json:"out"`
	IntentOut string     `json:"intent_out"`
	Nonce     *nonceJSON `json:"nonce,omitempty"` // account chains
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
	intent := bitcoin.NeutralIntent(in)
	canonical := intent.Canonical()
	if back, err := chain.ParseIntent(canonical); err != nil || !bytes.Equal(back.Canonical(), canonical) {
		return fmt.Errorf("withdraw build: the intent's canonical bytes do not read back (%v): nothing was written", err)
	}
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(intentOut, canonical, 0o644); err != nil {
		return err
	}
	if cf.json {
		return printJSON(c, buildJSON{Intent: intentToJSON(intent), TxID: d.TxID.String(), Fee: strconv.FormatInt(d.Fee, 10), FeeAsset: bitcoin.Asset,
			Out: out, IntentOut: intentOut})
	}
	fmt.Fprintf(c.stdout, "withdrawal %s, unsigned:\n", in.WithdrawalID)
	describe(c.stdout, in, d)
	fmt.Fprintf(c.stdout, "wrote %s (the PSBT, %d bytes) and %s (the intent's canonical bytes, %d bytes: what the originator signs)\n",
		out, len(raw), intentOut, len(canonical))
	key := "ORIGINATOR.key"
	if lab := filepath.Join(cf.cluster, "lab-keys", "ledger.key"); fileExists(lab) {
		key = lab
	}
	fmt.Fprintf(c.stdout, "\nSubmit it, signed by a system the policy names as the wallet's originator:\n"+
		"  signerctl withdraw submit -cluster %s -intent %s -psbt %s -originator-key %s -follow\n", cf.cluster, intentOut, out, key)
	return nil
}

// fileExists reports whether path names a regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func (c *cli) withdrawSubmit(ctx context.Context, cf *clientFlags, intentFile, txFile string, follow bool, signedOut string, yes bool, timeout time.Duration) error {
	in, canonical, err := readIntent(intentFile)
	if err != nil {
		return err
	}
	var raw []byte
	if in.Chain == bitcoin.Name {
		raw, err = readPSBT(txFile)
	} else {
		raw, err = readUnsignedTx(txFile)
	}
	if err != nil {
		return err
	}
	sig, err := intentSignature(cf, canonical)
	if err != nil {
		return err
	}
	progress := c.stdout
	if cf.json {
		progress = c.stderr
	}
	if in.Chain == bitcoin.Name {
		_, root, err := c.walletRoot(ctx, cf, "withdraw submit", in.WalletID)
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "withdrawal %s to submit to %s:\n", in.WithdrawalID, cf.node)
		bin, err := bitcoin.IntentOf(in)
		if err == nil {
			err = bin.Check()
		}
		if err != nil {
			fmt.Fprintf(progress, "  WARNING: the intent is not one the nodes take, and every node will refuse it:\n  %v\n", err)
		} else if d, err := bitcoin.Rederive(bin, raw, root, displayLimits()); err != nil {
			fmt.Fprintf(progress, "  WARNING: the PSBT does not do what the intent says, and every node will refuse it:\n  %v\n", err)
		} else {
			describe(progress, bin, d)
		}
	} else {
		r, err := c.rederiveHere(ctx, cf, "withdraw submit", in, raw, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "withdrawal %s to submit to %s:\n", in.WithdrawalID, cf.node)
		if r.warning != "" {
			fmt.Fprintf(progress, "  WARNING: %s, and every node will refuse it:\n  %s\n", r.warning, r.detail)
		} else {
			describeTx(progress, in, r.tx, r.rules)
		}
	}
	if in.RequestedBy != "" {
		fmt.Fprintf(progress, "  asked by  %s (who may not approve it)\n", in.RequestedBy)
	}
	if sig == nil {
		fmt.Fprintf(progress, "  WARNING: the intent is not signed (-originator-key or -intent-signature): every node will refuse it\n")
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
	resp, err := client.withdrawals.SubmitWithdrawal(cctx, &pb.SubmitWithdrawalRequest{Intent: canonical, UnsignedTx: raw, IntentSignature: sig})
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
		fmt.Fprintf(c.stdout, "\nFollow it:\n  signerctl withdraw watch %s -cluster %s -node %s\n", w.GetWithdrawalId(), cf.cluster, client.node.ID)
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
	return withHint(err, "the officer-signed policy in force decides (signerctl policy show); rule codes are listed in policy/rule.go, policy/chain/refusal.go and each chain's rules.go (policy/bitcoin, policy/ethereum). Id %s stays bound to this refused request: a corrected one needs a new id", id)
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
// unsigned, if set, is the transaction the caller submitted: the signed
// one is checked against it. Otherwise the node's copy is used.
func (c *cli) follow(ctx context.Context, cf *clientFlags, cl *cluster, client *client, id string, unsigned []byte, signedOut string, start time.Time, timeout time.Duration) error {
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
	return c.finished(ctx, cf, client, w, unsigned, signedOut)
}

// finished reports a final withdrawal: the signed transaction, checked
// here, or why it was refused or failed.
func (c *cli) finished(ctx context.Context, cf *clientFlags, client *client, w *pb.Withdrawal, unsigned []byte, signedOut string) error {
	id := w.GetWithdrawalId()
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
	txID := w.GetTx().GetId()
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
		fmt.Fprintf(c.stdout, "\nwithdrawal %s is signed; %s took part in the committee, and the coordinator holds the transaction (txid %s)\n", id, client.node.ID, txID)
		return nil
	}
	if unsigned == nil {
		unsigned = w.GetUnsignedTx()
	}
	if w.GetChain() != bitcoin.Name {
		v, err := c.verifyHere(ctx, cf, w, unsigned)
		if err != nil {
			return fmt.Errorf("withdrawal %s: the signed result from %s does not verify here: %w", id, client.node.ID, err)
		}
		if err := writeSigned(signedOut, w.GetSignedTx()); err != nil {
			return err
		}
		if cf.json {
			return printJSON(c, withdrawalToJSON(w, client.node.ID))
		}
		printSigned(c.stdout, w, v, unsigned, signedOut)
		return nil
	}
	txid, vsize, err := verifySigned(unsigned, w.GetSignedTx())
	if err != nil {
		return fmt.Errorf("withdrawal %s: the signed transaction from %s does not verify here: %w", id, client.node.ID, err)
	}
	if txid != txID {
		return fmt.Errorf("withdrawal %s: the signed transaction's id is %s, %s says %s", id, txid, client.node.ID, txID)
	}
	verified := "here too: btcd's script engine accepts every input against the PSBT's coins"
	if err := writeSigned(signedOut, w.GetSignedTx()); err != nil {
		return err
	}
	if cf.json {
		return printJSON(c, withdrawalToJSON(w, client.node.ID))
	}
	fmt.Fprintf(c.stdout, "\nwithdrawal %s is signed\n", id)
	fmt.Fprintf(c.stdout, "  txid       %s\n", txID)
	fee := feeText(w)
	if fsat, err := strconv.ParseInt(w.GetTx().GetFee(), 10, 64); err == nil && vsize > 0 && w.GetTx().GetFeeAsset() == bitcoin.Asset {
		fee += fmt.Sprintf(", %.1f sat/vB, %d vB", float64(fsat)/float64(vsize), vsize)
	}
	fmt.Fprintf(c.stdout, "  fee        %s\n", fee)
	fmt.Fprintf(c.stdout, "  committee  %s (coordinator %s)\n", strings.Join(w.GetCommittee(), ", "), w.GetCoordinator())
	fmt.Fprintf(c.stdout, "  verified   %s\n", verified)
	if signedOut != "" {
		fmt.Fprintf(c.stdout, "  wrote      %s (the %d-byte transaction, hex)\n", signedOut, len(w.GetSignedTx()))
	}
	return nil
}

// writeSigned writes a signed result as hex, with a newline, to path ("":
// nowhere).
func writeSigned(path string, signed []byte) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(signed)+"\n"), 0o644)
}

// printSigned reports a signed withdrawal of a chain other than Bitcoin:
// its id, fee, committee, how it was checked here and the signed result.
func printSigned(w io.Writer, wd *pb.Withdrawal, v *signedView, unsigned []byte, signedOut string) {
	safe := wd.GetChain() == ethereum.Name && len(unsigned) > 0 && unsigned[0] == ethereum.TypeSafeTx
	fmt.Fprintf(w, "\nwithdrawal %s is signed\n", wd.GetWithdrawalId())
	switch {
	case safe:
		fmt.Fprintf(w, "  SafeTx hash  0x%s (what the owners sign, computed by every node)\n", v.txID)
		fmt.Fprintf(w, "  fee          none from the Safe: whoever executes it pays the gas\n")
	case wd.GetChain() == ethereum.Name:
		fmt.Fprintf(w, "  tx hash      0x%s\n", v.txID)
		fmt.Fprintf(w, "  fee          at most %s: maxFeePerGas × gasLimit\n", feeText(wd))
	default:
		fmt.Fprintf(w, "  txid         %s\n", v.txID)
		fmt.Fprintf(w, "  fee          %s\n", feeText(wd))
	}
	if n := wd.GetNonce(); n != nil {
		fmt.Fprintf(w, "  nonce        %d of %s\n", n.GetNonce(), n.GetAccount())
	}
	fmt.Fprintf(w, "  committee    %s (coordinator %s)\n", strings.Join(wd.GetCommittee(), ", "), wd.GetCoordinator())
	fmt.Fprintf(w, "  verified     %s\n", v.verified)
	switch {
	case safe:
		fmt.Fprintf(w, "  owner sig    %x\n               (%d bytes, r || s || v, for the Safe's execTransaction with the other owners' signatures)\n", wd.GetSignedTx(), len(wd.GetSignedTx()))
	case wd.GetChain() == ethereum.Name:
		fmt.Fprintf(w, "  signed tx    %x\n               (the EIP-2718 transaction, %d bytes, to broadcast with eth_sendRawTransaction)\n", wd.GetSignedTx(), len(wd.GetSignedTx()))
	default:
		fmt.Fprintf(w, "  signed       %x\n", wd.GetSignedTx())
	}
	if signedOut != "" {
		fmt.Fprintf(w, "  wrote        %s (hex)\n", signedOut)
	}
}

// feeText is a withdrawal's fee for people, in its asset: "0.0000141 BTC
// (1410 sat)", or "unknown" before a node re-derived the transaction.
func feeText(w *pb.Withdrawal) string {
	tx := w.GetTx()
	if tx == nil || tx.GetFee() == "" {
		return "unknown"
	}
	fee, err := chain.ParseAmount(tx.GetFee())
	if err != nil {
		return fmt.Sprintf("%q %s", tx.GetFee(), tx.GetFeeAsset())
	}
	return amountText(w.GetChain(), w.GetNetwork(), fee, tx.GetFeeAsset())
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
	wj := withdrawalToJSON(w, client.node.ID)
	wj.params = c.walletParams(ctx, cf)[w.GetWalletId()]
	printWithdrawal(c.stdout, wj)
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
	var params map[string]chain.Params
	if !cf.json {
		params = c.walletParams(ctx, cf)
	}
	for _, w := range resp.GetWithdrawals() {
		wj := withdrawalToJSON(w, client.node.ID)
		wj.params = params[w.GetWalletId()]
		out.Withdrawals = append(out.Withdrawals, wj)
	}
	if cf.json {
		return printJSON(c, out)
	}
	if len(out.Withdrawals) == 0 {
		fmt.Fprintf(c.stdout, "%s knows no withdrawals yet\n", client.node.ID)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WITHDRAWAL\tSTATUS\tAMOUNT\tDESTINATION\tRULE\tUPDATED")
	for _, w := range out.Withdrawals {
		dest := w.Destination
		if w.DestinationLabel != "" {
			dest += " (" + w.DestinationLabel + ")"
		}
		rule := strings.Join(w.Rules, ",")
		if rule == "" {
			rule = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", w.WithdrawalID, w.Status, w.amountText(), dest, rule, w.UpdatedAt.Local().Format(time.DateTime))
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

// withdrawalJSON is a withdrawal as the -json outputs print it. Amounts
// are decimal strings of base units: amount of asset, fee_cap and fee of
// fee_asset.
type withdrawalJSON struct {
	WithdrawalID     string        `json:"withdrawal_id"`
	Status           string        `json:"status"`
	WalletID         string        `json:"wallet_id"`
	Chain            string        `json:"chain"`
	Network          string        `json:"network"`
	Asset            string        `json:"asset"`
	Destination      string        `json:"destination"`
	DestinationLabel string        `json:"destination_label,omitempty"`
	Amount           string        `json:"amount"`
	FeeCap           string        `json:"fee_cap"`
	RequestedBy      string        `json:"requested_by,omitempty"`
	Replaces         string        `json:"replaces,omitempty"`
	Originator       string        `json:"originator,omitempty"`
	TxID             string        `json:"tx_id,omitempty"`
	Fee              string        `json:"fee,omitempty"`
	FeeAsset         string        `json:"fee_asset,omitempty"`
	Nonce            *nonceJSON    `json:"nonce,omitempty"`
	Approval         *approvalJSON `json:"approval,omitempty"`
	Rules            []string      `json:"rules"`
	Reason           string        `json:"reason,omitempty"`
	SignedTx         string        `json:"signed_tx,omitempty"` // hex
	RequestHash      string        `json:"request_hash"`
	PolicyVersion    int64         `json:"policy_version,omitempty"`
	Coordinator      string        `json:"coordinator,omitempty"`
	Committee        []string      `json:"committee"`
	CreatedAt        time.Time     `json:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at"`
	Node             string        `json:"node"` // the node that answered

	// params are the wallet's in the policy in force, if known: they give
	// the decimals of its tokens.
	params chain.Params
}

// nonceJSON is the account nonce a withdrawal holds (account chains).
type nonceJSON struct {
	Account string `json:"account"`
	Nonce   uint64 `json:"nonce"`
}

// approvalJSON is the approval a withdrawal needs, and what it has.
type approvalJSON struct {
	Required      uint32            `json:"required"`
	Group         string            `json:"group"`
	TierAsset     string            `json:"tier_asset"`
	TierMinAmount string            `json:"tier_min_amount"`
	Approvers     []string          `json:"approvers"`
	Problems      map[string]string `json:"problems,omitempty"`
}

func withdrawalToJSON(w *pb.Withdrawal, node string) withdrawalJSON {
	out := withdrawalJSON{
		WithdrawalID: w.GetWithdrawalId(), Status: statusName(w.GetStatus()), WalletID: w.GetWalletId(), Chain: w.GetChain(), Network: w.GetNetwork(),
		DestinationLabel: w.GetDestinationLabel(), Replaces: w.GetReplaces(), Originator: w.GetOriginator(), Rules: w.GetRules(), Reason: w.GetReason(),
		RequestHash: hex.EncodeToString(w.GetRequestHash()), PolicyVersion: w.GetPolicyVersion(), Coordinator: w.GetCoordinator(), Committee: w.GetCommittee(),
		CreatedAt: w.GetCreatedAt().AsTime().UTC(), UpdatedAt: w.GetUpdatedAt().AsTime().UTC(), Node: node,
	}
	if in, err := chain.ParseIntent(w.GetIntent()); err == nil {
		out.Asset, out.Destination, out.Amount, out.FeeCap, out.RequestedBy = in.Asset, in.Destination, in.Amount.String(), in.FeeCap.String(), in.RequestedBy
	}
	if tx := w.GetTx(); tx != nil {
		out.TxID, out.Fee, out.FeeAsset = tx.GetId(), tx.GetFee(), tx.GetFeeAsset()
	}
	if n := w.GetNonce(); n != nil {
		out.Nonce = &nonceJSON{Account: n.GetAccount(), Nonce: n.GetNonce()}
	}
	if a := w.GetApproval(); a != nil {
		out.Approval = &approvalJSON{Required: a.GetRequired(), Group: a.GetGroup(), TierAsset: a.GetTierAsset(), TierMinAmount: a.GetTierMinAmount(),
			Approvers: a.GetApprovers(), Problems: a.GetProblems()}
		if out.Approval.Approvers == nil {
			out.Approval.Approvers = []string{}
		}
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

// amount returns an amount of wj's as people read it, "" for none.
func (wj withdrawalJSON) amount(v, asset string) string {
	a, err := chain.ParseAmount(v)
	if err != nil || asset == "" {
		return ""
	}
	if wj.params != nil {
		if dec, ok := wj.params.Decimals(asset); ok {
			return fmt.Sprintf("%s %s (%s %s)", a.Decimal(dec), asset, a, baseUnit(asset))
		}
	}
	return amountText(wj.Chain, wj.Network, a, asset)
}

// walletParams returns every wallet's chain params in the policy in force
// on the node, to show amounts of tokens; nil if the node does not say.
func (c *cli) walletParams(ctx context.Context, cf *clientFlags) map[string]chain.Params {
	_, b, err := c.fetchPolicy(ctx, cf, 0)
	if err != nil {
		return nil
	}
	out := map[string]chain.Params{}
	for id, w := range b.Wallets {
		_, out[id] = w.ChainOf()
	}
	return out
}

// amountText is what the withdrawal pays, for people: "0.25 BTC (25000000 sat)".
func (wj withdrawalJSON) amountText() string {
	if s := wj.amount(wj.Amount, wj.Asset); s != "" {
		return s
	}
	return "?"
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
	fmt.Fprintf(w, "wallet       %s (%s %s)\n", wj.WalletID, wj.Chain, wj.Network)
	dest := wj.Destination
	if wj.DestinationLabel != "" {
		dest += "  (" + wj.DestinationLabel + ")"
	}
	fmt.Fprintf(w, "destination  %s\n", dest)
	fmt.Fprintf(w, "amount       %s\n", wj.amountText())
	feeAsset := wj.FeeAsset
	if feeAsset == "" {
		feeAsset = feeAssetOf(wj.Chain, wj.Network)
	}
	feeCap := wj.amount(wj.FeeCap, feeAsset)
	if feeCap == "" {
		feeCap = wj.FeeCap + " base units"
	}
	if fee := wj.amount(wj.Fee, wj.FeeAsset); fee != "" {
		fmt.Fprintf(w, "fee          %s; the intent's cap is %s\n", fee, feeCap)
	} else {
		fmt.Fprintf(w, "fee cap      %s (the fee is known once a node re-derived the transaction)\n", feeCap)
	}
	if wj.TxID != "" {
		fmt.Fprintf(w, "txid         %s\n", wj.TxID)
	}
	if wj.Nonce != nil {
		fmt.Fprintf(w, "nonce        %d of %s\n", wj.Nonce.Nonce, wj.Nonce.Account)
	}
	if wj.Replaces != "" {
		fmt.Fprintf(w, "replaces     %s (its nonce, at a higher fee)\n", wj.Replaces)
	}
	if wj.Originator != "" {
		fmt.Fprintf(w, "originator   %s\n", wj.Originator)
	}
	if wj.RequestedBy != "" {
		fmt.Fprintf(w, "asked by     %s (who may not approve it)\n", wj.RequestedBy)
	}
	if a := wj.Approval; a != nil {
		from := wj.amount(a.TierMinAmount, a.TierAsset)
		if from == "" {
			from = a.TierMinAmount + " " + a.TierAsset
		}
		approvers := strings.Join(a.Approvers, ", ")
		if approvers == "" {
			approvers = "none yet"
		}
		fmt.Fprintf(w, "approval     %d of group %s (from %s); counted: %s\n", a.Required, a.Group, from, approvers)
		for _, officer := range slices.Sorted(maps.Keys(a.Problems)) {
			fmt.Fprintf(w, "             %s's does not count: %s\n", officer, a.Problems[officer])
		}
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
	if wj.PolicyVersion > 0 {
		fmt.Fprintf(w, "policy       version %d\n", wj.PolicyVersion)
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
		line += ", txid " + w.GetTx().GetId()
	}
	return line
}
