package bitcoin

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/chaincfg"
)

// Network names a Bitcoin network.
type Network string

// The networks the package knows.
const (
	Mainnet Network = "mainnet"
	Testnet Network = "testnet" // testnet3
	Signet  Network = "signet"  // the default public signet
	Regtest Network = "regtest"
)

// networks lists the known networks in the order error messages name them.
var networks = [...]Network{Mainnet, Testnet, Signet, Regtest}

// ParamsFor returns btcd's parameters for network n. An unknown n gives an
// error wrapping [ErrNetwork] that names n and the known networks.
//
// The parameters are btcd's shared values and must not be modified.
func ParamsFor(n Network) (*chaincfg.Params, error) {
	switch n {
	case Mainnet:
		return &chaincfg.MainNetParams, nil
	case Testnet:
		return &chaincfg.TestNet3Params, nil
	case Signet:
		return &chaincfg.SigNetParams, nil
	case Regtest:
		return &chaincfg.RegressionNetParams, nil
	}
	names := make([]string, len(networks))
	for i, known := range networks {
		names[i] = string(known)
	}
	return nil, fmt.Errorf("%w %s; want one of %s", ErrNetwork, quote(string(n)), strings.Join(names, ", "))
}
