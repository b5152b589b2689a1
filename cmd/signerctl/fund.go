package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy/bitcoin"
)

var fundCommand = &command{
	Name:  "fund",
	Args:  "-wallet WALLET_ID -paths m/0/0,... -amounts SATS,... [-network regtest] [-out FILE] [-utxos-out FILE] [flags]",
	Short: "fabricate a transaction that pays a wallet's addresses, for demos and tests",
	Long: `Fund fabricates a Bitcoin transaction paying the wallet's P2WPKH addresses at
-paths (BIP32 paths below the wallet's root, such as m/0/0 for the first
deposit address) the -amounts in satoshis, one amount per path, and writes it
as hex to -out. Its one input spends an outpoint that does not exist: the
transaction is never valid on any chain and is broadcast nowhere. It gives
'signerctl withdraw build' coins to spend, and the nodes the previous
transaction they require, on a machine with no Bitcoin node.

-utxos-out writes the coins as the JSON list 'withdraw build -utxos' reads:
[{"prev_tx_hex": ..., "index": N, "path": "m/0/0"}, ...].

The wallet's root (group public key and chain code) comes from the node
(-node), and the addresses are derived here from it; compare them with
'signerctl address'. Any client role may read a wallet.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		wallet := fs.String("wallet", "", "the wallet's `id` (required)")
		netName := fs.String("network", "regtest", "the Bitcoin network of the addresses: mainnet, testnet, signet or regtest")
		paths := fs.String("paths", "", "the `paths` to pay, comma-separated, such as m/0/0,m/0/7 (required)")
		amounts := fs.String("amounts", "", "the `satoshis` to pay to each path, comma-separated (required)")
		out := fs.String("out", "funding.hex", "write the transaction, hex, to this `file`")
		utxosOut := fs.String("utxos-out", "", "also write the coins for 'withdraw build -utxos' to this `file`")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *wallet == "" {
				return usagef("-wallet is required (see 'signerctl wallet list')")
			}
			if err := checkNetwork(bitcoin.Name, *netName); err != nil {
				return err
			}
			outs, err := parseFundingOutputs(*paths, *amounts)
			if err != nil {
				return err
			}
			if *out == "" {
				return usagef("-out is empty")
			}
			return c.fund(ctx, &cf, *wallet, bitcoin.Network(*netName), outs, *out, *utxosOut)
		}
	},
}

// fundingOutput is one output of a fabricated funding transaction.
type fundingOutput struct {
	path   bitcoin.Path
	amount int64
}

// parseFundingOutputs pairs -paths with -amounts.
func parseFundingOutputs(paths, amounts string) ([]fundingOutput, error) {
	if paths == "" || amounts == "" {
		return nil, usagef("-paths and -amounts are required, one amount per path")
	}
	ps, as := strings.Split(paths, ","), strings.Split(amounts, ",")
	if len(ps) != len(as) {
		return nil, usagef("-paths lists %d paths and -amounts %d amounts: give one amount per path", len(ps), len(as))
	}
	if len(ps) > bitcoin.MaxOutputs {
		return nil, usagef("-paths lists %d paths, at most %d", len(ps), bitcoin.MaxOutputs)
	}
	var outs []fundingOutput
	for i := range ps {
		p, err := bitcoin.ParsePath(strings.TrimSpace(ps[i]))
		if err != nil {
			return nil, usagef("-paths: %v", err)
		}
		if slices.ContainsFunc(outs, func(o fundingOutput) bool { return slices.Equal(o.path, p) }) {
			return nil, usagef("-paths: %s is given twice", p)
		}
		a, err := parseSats(strings.TrimSpace(as[i]))
		if err != nil {
			return nil, usagef("-amounts: %v", err)
		}
		outs = append(outs, fundingOutput{path: p, amount: a})
	}
	return outs, nil
}

// parseSats parses an amount in satoshis: 1 to 21e14.
func parseSats(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 || v > bitcoin.MaxSatoshi {
		return 0, fmt.Errorf("%q is not a whole number of satoshis from 1 to %d", s, int64(bitcoin.MaxSatoshi))
	}
	return v, nil
}

// fundingTx fabricates a transaction paying root's P2WPKH keys at each
// output's path. Its one input spends a random outpoint that exists on no
// chain, so every call gives new coins.
func fundingTx(root bitcoin.Key, outs []fundingOutput) (*wire.MsgTx, []bitcoin.UTXO, error) {
	var prev chainhash.Hash
	if _, err := rand.Read(prev[:]); err != nil {
		return nil, nil, err
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, nil))
	var utxos []bitcoin.UTXO
	for i, o := range outs {
		child, err := root.Derive(o.path)
		if err != nil {
			return nil, nil, fmt.Errorf("fund: %s: %w", o.path, err)
		}
		tx.AddTxOut(wire.NewTxOut(o.amount, bitcoin.P2WPKHScript(child.PublicKey)))
		utxos = append(utxos, bitcoin.UTXO{PrevTx: tx, Index: uint32(i), Path: o.path})
	}
	return tx, utxos, nil
}

// utxoJSON is one coin in the file 'fund -utxos-out' writes and 'withdraw
// build -utxos' reads: output index of the previous transaction, paying the
// wallet's key at path.
type utxoJSON struct {
	PrevTxHex string `json:"prev_tx_hex"`
	Index     uint32 `json:"index"`
	Path      string `json:"path"`
}

// maxUTXOFile bounds the UTXO file read: 64 coins of large previous
// transactions, hex.
const maxUTXOFile = 64 << 20

func utxosToJSON(utxos []bitcoin.UTXO) ([]utxoJSON, error) {
	out := []utxoJSON{}
	for _, u := range utxos {
		var buf bytes.Buffer
		if err := u.PrevTx.Serialize(&buf); err != nil {
			return nil, err
		}
		out = append(out, utxoJSON{PrevTxHex: hex.EncodeToString(buf.Bytes()), Index: u.Index, Path: u.Path.String()})
	}
	return out, nil
}

// readUTXOs reads a UTXO file strictly: unknown fields, bad hex, bad
// transactions and bad paths are errors naming the coin.
func readUTXOs(path string) ([]bitcoin.UTXO, error) {
	raw, err := readFileMax(path, maxUTXOFile)
	if err != nil {
		return nil, err
	}
	var list []utxoJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil || dec.More() {
		if err == nil {
			err = errors.New("data after the list")
		}
		return nil, withHint(fmt.Errorf("%s: %v", path, err), `want a JSON list of {"prev_tx_hex", "index", "path"}, as 'signerctl fund -utxos-out' writes`)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: no coins", path)
	}
	var utxos []bitcoin.UTXO
	for i, u := range list {
		b, err := hex.DecodeString(u.PrevTxHex)
		if err != nil {
			return nil, fmt.Errorf("%s: coin %d: prev_tx_hex: %v", path, i, err)
		}
		tx := wire.NewMsgTx(2)
		if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("%s: coin %d: prev_tx_hex is not a transaction: %v", path, i, err)
		}
		p, err := bitcoin.ParsePath(u.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: coin %d: %v", path, i, err)
		}
		utxos = append(utxos, bitcoin.UTXO{PrevTx: tx, Index: u.Index, Path: p})
	}
	return utxos, nil
}

// fundJSON is fund's -json output.
type fundJSON struct {
	WalletID  string           `json:"wallet_id"`
	Network   string           `json:"network"`
	TxID      string           `json:"txid"`
	Outputs   []fundOutputJSON `json:"outputs"`
	Out       string           `json:"out"`
	UTXOsFile string           `json:"utxos_file,omitempty"`
}

type fundOutputJSON struct {
	Index    uint32 `json:"index"`
	Path     string `json:"path"`
	Address  string `json:"address"`
	ValueSat int64  `json:"value_sat"`
}

func (c *cli) fund(ctx context.Context, cf *clientFlags, walletID string, n bitcoin.Network, outs []fundingOutput, out, utxosOut string) error {
	_, root, err := c.walletRoot(ctx, cf, "fund", walletID)
	if err != nil {
		return err
	}
	tx, utxos, err := fundingTx(root, outs)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return err
	}
	res := fundJSON{WalletID: walletID, Network: string(n), TxID: tx.TxHash().String(), Out: out, UTXOsFile: utxosOut, Outputs: []fundOutputJSON{}}
	for i, o := range outs {
		child, err := root.Derive(o.path)
		if err != nil {
			return err
		}
		addr, err := bitcoin.P2WPKHAddress(child.PublicKey, n)
		if err != nil {
			return err
		}
		res.Outputs = append(res.Outputs, fundOutputJSON{Index: uint32(i), Path: o.path.String(), Address: addr, ValueSat: o.amount})
	}
	if err := os.WriteFile(out, []byte(hex.EncodeToString(buf.Bytes())+"\n"), 0o644); err != nil {
		return err
	}
	if utxosOut != "" {
		list, err := utxosToJSON(utxos)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(utxosOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if cf.json {
		return printJSON(c, res)
	}
	fmt.Fprintf(c.stdout, "funding transaction %s (bitcoin %s)\n", res.TxID, n)
	fmt.Fprintln(c.stdout, "  fabricated: its input spends an outpoint that exists nowhere, and it is broadcast nowhere")
	for _, o := range res.Outputs {
		fmt.Fprintf(c.stdout, "  output %d  %-7s %s  %s\n", o.Index, o.Path, o.Address, sats(o.ValueSat))
	}
	fmt.Fprintf(c.stdout, "wrote %s", out)
	if utxosOut != "" {
		fmt.Fprintf(c.stdout, " and %s (%d coins)", utxosOut, len(utxos))
	}
	fmt.Fprintln(c.stdout)
	return nil
}

// readFileMax reads a file of at most max bytes.
func readFileMax(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", path, max)
	}
	return b, nil
}
