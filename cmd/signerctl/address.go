package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
	"github.com/countersign/countersign/policy/ethereum"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// labCluster is the name of the cluster 'signerctl dev' creates under its
// lab genesis policy: loopback only, plaintext keys, test networks.
const labCluster = "lab"

// labNetworks are the networks a lab cluster's addresses default to, per
// chain, where the choice is clear. Other chains, and every chain on a
// cluster that is not a lab, need -network: no command defaults to
// mainnet.
var labNetworks = map[string]string{bitcoin.Name: string(bitcoin.Regtest)}

// lookupChain returns the chain a -chain flag names.
func lookupChain(name string) (chain.Chain, error) {
	c, ok := chains.Lookup(name)
	if !ok {
		return nil, usagef("-chain %q: want one of %s", name, strings.Join(chains.Names(), ", "))
	}
	return c, nil
}

// checkNetwork refuses a -network the chain does not have, where signerctl
// knows the chain's networks (Bitcoin, Ethereum); the nodes check the
// others.
func checkNetwork(chainName, network string) error {
	switch chainName {
	case bitcoin.Name:
		if _, err := bitcoin.ParamsFor(bitcoin.Network(network)); err != nil {
			return usagef("-network %q: want %s", network, networksOf(chainName))
		}
	case ethereum.Name:
		if _, named := networkChainID(network); !named && network != ethereum.DevNetwork {
			return usagef("-network %q: want %s", network, networksOf(chainName))
		}
	}
	return nil
}

// networksOf names a chain's networks, for messages.
func networksOf(chainName string) string {
	switch chainName {
	case bitcoin.Name:
		return "mainnet, testnet, signet or regtest"
	case ethereum.Name:
		return "mainnet, sepolia, holesky or dev (a local chain)"
	}
	return "the chain's networks"
}

var addressCommand = &command{
	Name:  "address",
	Args:  "-wallet WALLET_ID [-chain bitcoin|ethereum] [-network NETWORK] [-change] [-index N] [flags]",
	Short: "derive a deposit or change address of a wallet",
	Long: `Address asks a node to derive an address of a wallet on a chain (-chain):
BIP32 non-hardened derivation of the group key at m/0/N (deposits) or m/1/N
(change, with -change). For Bitcoin a P2WPKH (bech32) address; for
Ethereum the EIP-55 address of the child key, the account that sends a
wallet's withdrawals being the one at the policy's account_path (m/0/0,
-index 0, unless the policy says otherwise). No key generation or signing
takes place, and every node derives the same address: ask several with
-node to check. It needs the backend role.

-network is required: an address of the wrong network is a deposit lost or
stuck, so it is never guessed and never defaults to mainnet. Only on a lab
cluster ('signerctl dev', cluster "lab") does a chain whose lab network is
clear default to it: Bitcoin to regtest.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		var cf clientFlags
		cf.register(fs)
		wallet := fs.String("wallet", "", "the wallet's `id` (required)")
		chainName := fs.String("chain", bitcoin.Name, "the `chain` of the address: "+strings.Join(chains.Names(), ", "))
		netName := fs.String("network", "", "the chain's `network` (Bitcoin: mainnet, testnet, signet or regtest; Ethereum: mainnet, sepolia, holesky or dev); required unless the cluster is a lab (Bitcoin lab: regtest)")
		change := fs.Bool("change", false, "derive from the change branch (m/1/N) instead of deposits (m/0/N)")
		index := fs.Uint64("index", 0, "the address index N, below 2^31")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if *wallet == "" {
				return usagef("-wallet is required (see 'signerctl wallet list')")
			}
			if _, err := lookupChain(*chainName); err != nil {
				return err
			}
			if *netName != "" {
				if err := checkNetwork(*chainName, *netName); err != nil {
					return err
				}
			}
			if *index > math.MaxInt32 {
				return usagef("-index %d: non-hardened indexes are below 2^31", *index)
			}
			req := &pb.DeriveAddressRequest{WalletId: *wallet, Chain: *chainName, Network: *netName, Change: *change, Index: uint32(*index)}
			return c.address(ctx, &cf, req)
		}
	},
}

// addressJSON is address's -json output.
type addressJSON struct {
	WalletID  string `json:"wallet_id"`
	Chain     string `json:"chain"`
	Network   string `json:"network"`
	Path      string `json:"path"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"` // the child key, compressed, hex
	Node      string `json:"node"`
}

// labNetwork returns the network an address defaults to on cl, or a
// usage error asking for -network.
func labNetwork(cl *cluster, chainName string) (string, error) {
	if n := labNetworks[chainName]; n != "" && cl.manifest.Cluster == labCluster {
		return n, nil
	}
	if n := labNetworks[chainName]; n != "" {
		return "", usagef("-network is required: cluster %q is not a lab, so no network is assumed (a lab cluster's %s default is %s)", cl.manifest.Cluster, chainName, n)
	}
	return "", usagef("-network is required for chain %s", chainName)
}

func (c *cli) address(ctx context.Context, cf *clientFlags, req *pb.DeriveAddressRequest) error {
	cl, client, err := cf.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	defaulted := false
	if req.Network == "" {
		if req.Network, err = labNetwork(cl, req.Chain); err != nil {
			return err
		}
		defaulted = true
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := client.wallets.DeriveAddress(ctx, req)
	if err != nil {
		return callFailed(ctx, "address", client, cl.role, err)
	}
	out := addressJSON{WalletID: req.WalletId, Chain: req.Chain, Network: req.Network, Path: resp.Path, Address: resp.Address,
		PublicKey: hex.EncodeToString(resp.PublicKey), Node: client.node.ID}
	if cf.json {
		return printJSON(c, out)
	}
	network := out.Network
	if defaulted {
		network += ", the lab cluster's default"
	}
	fmt.Fprintf(c.stdout, "address  %s\n", out.Address)
	fmt.Fprintf(c.stdout, "path     %s (%s %s, wallet %s)\n", out.Path, out.Chain, network, out.WalletID)
	fmt.Fprintf(c.stdout, "pubkey   %s\n", out.PublicKey)
	return nil
}
