package ethereum

import (
	"errors"

	"github.com/countersign/countersign/policy/chain"
)

// payment is what an intent asks, read against the params: the asset,
// the destination's address and, for a token, its registry entry.
type payment struct {
	in    chain.Intent
	dest  Address
	token *Token // nil for ETH
}

// asset returns the asset's symbol.
func (pm *payment) asset() string { return pm.in.Asset }

// decimals returns the asset's decimals.
func (pm *payment) decimals() int {
	if pm.token == nil {
		return NativeDecimals
	}
	return pm.token.Decimals
}

// CheckIntent checks an intent's fields against the wallet's params:
// package chain's checks of every intent, then the chain ("ethereum"),
// the network, replacement, the asset (ETH or a registered token) and
// the destination, which must be spelled in EIP-55 and be neither the
// zero address, the wallet's Safe nor a registered token contract. It
// returns nil or the [*chain.Refusal] Rederive returns for the intent
// whatever the transaction.
func CheckIntent(in chain.Intent, p *Params) error {
	if !p.valid() {
		return refuse(RuleParamsInvalid, "the params were not made by ParseParams")
	}
	if _, r := checkIntent(in, p); r != nil {
		return r
	}
	return nil
}

// checkShape checks what an intent's fields say without the policy: the
// chain-neutral fields, the chain, a known network, an asset spelled as
// ETH or a token symbol, and the destination's EIP-55 spelling. A node
// runs it before deciding, to answer a malformed request at once.
func checkShape(in chain.Intent) *chain.Refusal {
	if err := in.Check(); err != nil {
		var r *chain.Refusal
		if !errors.As(err, &r) {
			return refuse(chain.RuleIntentAmount, "%v", err)
		}
		c := *r
		c.Chain = Name
		return &c
	}
	switch _, named := networkChainIDs[in.Network]; {
	case in.Chain != Name:
		return refuse(chain.RuleIntentChain, "the intent is for chain %s, not %s", quote(in.Chain), Name)
	case !named && in.Network != DevNetwork:
		return refuse(chain.RuleIntentNetwork, "network %s, want mainnet, sepolia, holesky or dev", quote(in.Network))
	case in.Asset != NativeAsset && !validSymbol(in.Asset):
		return refuse(chain.RuleIntentAsset, "asset %s is neither %s nor a token symbol (1 to %d of [A-Z0-9])", quote(in.Asset), NativeAsset, MaxSymbolLen)
	}
	a, err := ParseAddress(in.Destination)
	switch {
	case errors.Is(err, ErrAddressSpelling):
		return refuse(RuleIntentDestSpelling, "destination %s is spelled %s in EIP-55", quote(in.Destination), eip55Spelling(in.Destination))
	case err != nil:
		return refuse(chain.RuleIntentDestinationInvalid, "destination %s is not an Ethereum address (\"0x\" and 40 hex digits)", quote(in.Destination))
	case a.IsZero():
		return refuse(chain.RuleIntentDestinationInvalid, "destination is the zero address, which no key controls")
	}
	return nil
}

func checkIntent(in chain.Intent, p *Params) (*payment, *chain.Refusal) {
	if err := in.Check(); err != nil {
		var r *chain.Refusal
		if !errors.As(err, &r) {
			return nil, refuse(chain.RuleIntentAmount, "%v", err) // Check returns only refusals
		}
		c := *r
		c.Chain = Name
		return nil, &c
	}
	if in.Chain != Name {
		return nil, refuse(chain.RuleIntentChain, "the intent is for chain %s, not %s", quote(in.Chain), Name)
	}
	if in.Network != p.network {
		return nil, refuse(chain.RuleIntentNetwork, "the intent is for network %s, the wallet is on %s", quote(in.Network), p.network)
	}
	if in.Replaces != "" && !p.allowReplacement {
		return nil, refuse(RuleIntentReplacement, "the intent replaces withdrawal %s; the params do not allow replacement", quote(in.Replaces))
	}
	if in.Replaces != "" && p.safe != nil {
		return nil, refuse(RuleIntentReplacement, "the intent replaces withdrawal %s; a SafeTx pays no fee to raise, so a Safe's nonce is never replaced", quote(in.Replaces))
	}
	pm := &payment{in: in}
	if _, ok := in.Amount.Add(in.FeeCap); in.Asset == NativeAsset && !ok {
		return nil, refuse(chain.RuleIntentAmount, "the amount and the fee cap add up to more than 2^256 wei")
	}
	if in.Asset != NativeAsset {
		t, ok := p.tokens[in.Asset]
		if !ok {
			return nil, refuse(chain.RuleIntentAsset, "asset %s is neither %s nor a token of the wallet's registry", quote(in.Asset), NativeAsset)
		}
		pm.token = &t
	}
	a, err := ParseAddress(in.Destination)
	switch {
	case errors.Is(err, ErrAddressSpelling):
		return nil, refuse(RuleIntentDestSpelling, "destination %s is spelled %s in EIP-55", quote(in.Destination), eip55Spelling(in.Destination))
	case err != nil:
		return nil, refuse(chain.RuleIntentDestinationInvalid, "destination %s is not an Ethereum address (\"0x\" and 40 hex digits)", quote(in.Destination))
	case a.IsZero():
		return nil, refuse(chain.RuleIntentDestinationInvalid, "destination is the zero address, which no key controls")
	case p.safe != nil && a == p.safe.Address:
		return nil, refuse(RuleIntentDestSelf, "destination %s is the wallet's own Safe", a)
	}
	if t, ok := p.contracts[a]; ok {
		return nil, refuse(RuleIntentDestToken, "destination %s is the contract of token %s: tokens sent there are lost", a, t.Symbol)
	}
	pm.dest = a
	return pm, nil
}

// eip55Spelling returns the EIP-55 spelling of an address spelled otherwise.
func eip55Spelling(s string) string {
	a, err := parseAddressHex(s)
	if err != nil {
		return quote(s)
	}
	return a.String()
}
