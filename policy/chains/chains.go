// Package chains is the registry of the chains countersign signs for: the
// one list that the node, the officer CLI and the auditor look chains up
// in. Adding a chain is writing its package (see package chain) and
// adding one line here.
package chains

import (
	"fmt"
	"slices"

	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

var registry = map[string]chain.Chain{
	bitcoin.Name:  bitcoin.Chain{},
	ethereum.Name: ethereum.Chain{},
}

// Lookup returns the chain named name ("bitcoin", "ethereum"), and false for a chain
// countersign does not know.
func Lookup(name string) (chain.Chain, bool) {
	c, ok := registry[name]
	return c, ok
}

// Get is Lookup with an error naming the known chains.
func Get(name string) (chain.Chain, error) {
	if c, ok := registry[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: unknown chain %s; known: %v", chain.ErrIntent, chain.Quote(name), Names())
}

// Names lists the known chains, sorted.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
