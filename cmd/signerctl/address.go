package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"slices"

	"github.com/countersign/countersign/policy/bitcoin"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// network is a -network value.
type network struct {
	name  string
	value pb.Network
	btc   bitcoin.Network
}

// networks are the -network values, in the order help lists them.
var networks = []network{
	{"mainnet", pb.Network_NETWORK_BITCOIN_MAINNET, bitcoin.Mainnet},
	{"testnet", pb.Network_NETWORK_BITCOIN_TESTNET, bitcoin.Testnet},
	{"signet", pb.Network_NETWORK_BITCOIN_SIGNET, bitcoin.Signet},
	{"regtest", pb.Network_NETWORK_BITCOIN_REGTEST, bitcoin.Regtest},
}

// parseNetwork returns the -network value called name.
func parseNetwork(name string) (network, error) {
	i := slices.IndexFunc(networks, func(n network) bool { return n.name == name })
	if i < 0 {
		return network{}, usagef("-network %q: want mainnet, testnet, signet or regtest", name)
	}
	return networks[i], nil
}

// networkOf returns the -network value of a network on the wire.
func networkOf(v pb.Network) (network, bool) {
	i := slices.IndexFunc(networks, func(n network) bool { return n.value == v })
	if i < 0 {
		return network{}, false
	}
	return networks[i], true
}

var addressCommand = &command{
	Name:  "address",
	Args:  "-wallet WALLET_ID [-network mainnet|testnet|signet|regtest] [-change] [-index N] [flags]",
	Short: "derive a deposit or change address of a wallet",
	Long: `Address asks a node to derive a P2WPKH (bech32) address of a wallet: BIP32
non-hardened derivation of the group key at m/0/N (deposits) or m/1/N (change,
with -change). No key generation or signing takes place, and every node
derives the same address: ask several with -node to check. It needs the
backend role.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		wallet := fs.String("wallet", "", "the wallet's `id` (required)")
		netName := fs.String("network", "mainnet", "the Bitcoin network: mainnet, testnet, signet or regtest")
		change := fs.Bool("change", false, "derive from the change branch (m/1/N) instead of deposits (m/0/N)")
		index := fs.Uint64("index", 0, "the address index N, below 2^31")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *wallet == "" {
				return usagef("-wallet is required (see 'signerctl wallet list')")
			}
			n, err := parseNetwork(*netName)
			if err != nil {
				return err
			}
			if *index > math.MaxInt32 {
				return usagef("-index %d: non-hardened indexes are below 2^31", *index)
			}
			req := &pb.DeriveAddressRequest{WalletId: *wallet, Network: n.value, Change: *change, Index: uint32(*index)}
			return c.address(ctx, &cf, req, n.name)
		}
	},
}

// addressJSON is address's -json output.
type addressJSON struct {
	WalletID  string `json:"wallet_id"`
	Network   string `json:"network"`
	Path      string `json:"path"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"` // the child key, compressed, hex
	Node      string `json:"node"`
}

func (c *cli) address(ctx context.Context, cf *clientFlags, req *pb.DeriveAddressRequest, netName string) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.wallets.DeriveAddress(ctx, req)
	if err != nil {
		return callFailed(ctx, "address", client, cl.role, err)
	}
	out := addressJSON{WalletID: req.WalletId, Network: netName, Path: resp.Path, Address: resp.Address,
		PublicKey: hex.EncodeToString(resp.PublicKey), Node: client.node.ID}
	if cf.json {
		return printJSON(c, out)
	}
	fmt.Fprintf(c.stdout, "address  %s\n", out.Address)
	fmt.Fprintf(c.stdout, "path     %s (%s, wallet %s)\n", out.Path, out.Network, out.WalletID)
	fmt.Fprintf(c.stdout, "pubkey   %s\n", out.PublicKey)
	return nil
}
