package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/ethereum"
)

// ethParamFlags are policy propose's flags of an Ethereum wallet's params.
var ethParamFlags = []string{"chain-id", "token", "first-nonce", "max-gas-limit", "allow-replacement",
	"safe", "safe-version", "safe-first-nonce", "max-safe-tx-gas", "accept-legacy-domain"}

// ethChange is what 'policy propose' changes in an Ethereum wallet's
// params. Only the flags in given change anything.
type ethChange struct {
	chainID, firstNonce, maxGasLimit     uint64
	allowReplacement, acceptLegacyDomain bool
	tokens                               []ethTokenJSON
	safe, safeVersion                    string
	safeFirstNonce, maxSafeTxGas         uint64
	given                                map[string]bool
}

func (e *ethChange) register(fs *flag.FlagSet) {
	fs.Uint64Var(&e.chainID, "chain-id", 0, "Ethereum: the wallet's chain `id` (default: its network's; required on dev)")
	fs.Func("token", "Ethereum: register an ERC-20 token, `SYMBOL=CONTRACT:DECIMALS` (the contract in EIP-55), repeatable; give its caps with -cap", func(s string) error {
		t, err := parseToken(s)
		e.tokens = append(e.tokens, t)
		return err
	})
	fs.Uint64Var(&e.firstNonce, "first-nonce", 0, "Ethereum: the account's next unsigned `nonce` when the policy starts")
	fs.Uint64Var(&e.maxGasLimit, "max-gas-limit", 0, fmt.Sprintf("Ethereum: the greatest gas `limit` of a transaction, %d to %d (a new wallet: %d)", ethereum.MinGasLimit, ethereum.MaxGasLimit, ethereum.DefaultMaxGasLimit))
	fs.BoolVar(&e.allowReplacement, "allow-replacement", false, "Ethereum: let a withdrawal take over a stuck one's nonce at a higher fee (-allow-replacement=false: no longer)")
	fs.StringVar(&e.safe, "safe", "", "Ethereum: the wallet's key is an owner of the Safe at this `address` (EIP-55), whose funds it pays")
	fs.StringVar(&e.safeVersion, "safe-version", "", "Ethereum: the Safe's `version`: one of "+strings.Join(ethereum.SafeVersions(), ", "))
	fs.Uint64Var(&e.safeFirstNonce, "safe-first-nonce", 0, "Ethereum: the Safe's next unsigned `nonce` when the policy starts")
	fs.Uint64Var(&e.maxSafeTxGas, "max-safe-tx-gas", 0, "Ethereum: the greatest safeTxGas of a SafeTx (`gas`; default 0)")
	fs.BoolVar(&e.acceptLegacyDomain, "accept-legacy-domain", false, "Ethereum: sign for a Safe below v1.3.0, whose signatures carry no chain id and so replay on every chain")
}

// any reports whether a flag of the params was given.
func (e *ethChange) any() bool { return len(e.given) > 0 }

// names lists the flags given, for a message.
func (e *ethChange) names() string {
	var out []string
	for _, n := range ethParamFlags {
		if e.given[n] {
			out = append(out, "-"+n)
		}
	}
	return strings.Join(out, ", ")
}

// parseToken reads -token SYMBOL=CONTRACT:DECIMALS.
func parseToken(s string) (ethTokenJSON, error) {
	sym, rest, ok := strings.Cut(s, "=")
	contract, dec, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || sym == "" {
		return ethTokenJSON{}, errors.New("want SYMBOL=CONTRACT:DECIMALS, e.g. USDC=0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238:6")
	}
	if _, err := ethereum.ParseAddress(contract); err != nil {
		return ethTokenJSON{}, fmt.Errorf("%s's contract: %v", sym, err)
	}
	d, err := strconv.Atoi(dec)
	if err != nil || d < 0 || d > ethereum.MaxDecimals {
		return ethTokenJSON{}, fmt.Errorf("%s's decimals %q: want 0 to %d", sym, dec, ethereum.MaxDecimals)
	}
	return ethTokenJSON{Symbol: sym, Contract: contract, Decimals: &d}, nil
}

// ethParamsJSON is an Ethereum wallet's params as ethereum.ParseParams
// reads them. Decoding refuses fields it does not name, so that a draft
// never drops a field of a newer policy/ethereum.
type ethParamsJSON struct {
	ChainID          uint64         `json:"chain_id"`
	AccountPath      *string        `json:"account_path,omitempty"`
	FirstNonce       uint64         `json:"first_nonce"`
	MaxGasLimit      *uint64        `json:"max_gas_limit,omitempty"`
	AllowReplacement bool           `json:"allow_replacement"`
	Tokens           []ethTokenJSON `json:"tokens,omitempty"`
	Safe             *ethSafeJSON   `json:"safe,omitempty"`
}

type ethTokenJSON struct {
	Symbol   string `json:"symbol"`
	Contract string `json:"contract"`
	Decimals *int   `json:"decimals"`
}

type ethSafeJSON struct {
	Address            string `json:"address"`
	Version            string `json:"version"`
	FirstNonce         uint64 `json:"first_nonce"`
	MaxSafeTxGas       uint64 `json:"max_safe_tx_gas"`
	AcceptLegacyDomain bool   `json:"accept_legacy_domain,omitempty"`
}

// networkChainID returns the chain id of a named Ethereum network, false
// for dev and unknown networks.
func networkChainID(network string) (uint64, bool) {
	if network == ethereum.DevNetwork {
		return 0, false
	}
	p, err := ethereum.ParseParams(network, nil)
	if err != nil {
		return 0, false
	}
	return p.ChainID(), true
}

// readEthParams reads a wallet's params into ethParamsJSON; empty params
// are the network's defaults.
func readEthParams(id, network string, raw json.RawMessage) (ethParamsJSON, error) {
	var p ethParamsJSON
	if len(bytes.TrimSpace(raw)) == 0 {
		p.ChainID, _ = networkChainID(network)
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, withHint(fmt.Errorf("wallet %s: its params in the bundle in force do not read here: %v", id, err),
			"a newer signerctl may know their fields; or draft the params in the bundle itself")
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, fmt.Errorf("wallet %s: bytes after its params object", id)
	}
	return p, nil
}

// apply returns the wallet's params with e applied. A new wallet's params
// name the network's chain id, account path m/0/0 and the default gas cap.
func (e *ethChange) apply(id string, w *policy.WalletRules, isNew bool) (json.RawMessage, error) {
	p, err := readEthParams(id, w.Network, w.Params)
	if err != nil {
		return nil, err
	}
	if isNew {
		path, gas := ethereum.DefaultAccountPath, uint64(ethereum.DefaultMaxGasLimit)
		p.AccountPath, p.MaxGasLimit = &path, &gas
	}
	set := e.given
	if set["chain-id"] {
		p.ChainID = e.chainID
	}
	if p.ChainID == 0 {
		return nil, usagef("wallet %s is on Ethereum network %s: -chain-id is required", id, w.Network)
	}
	if set["first-nonce"] {
		p.FirstNonce = e.firstNonce
	}
	if set["max-gas-limit"] {
		gas := e.maxGasLimit
		p.MaxGasLimit = &gas
	}
	if set["allow-replacement"] {
		p.AllowReplacement = e.allowReplacement
	}
	had := map[string]bool{}
	for _, t := range p.Tokens {
		had[t.Symbol] = true
	}
	p.Tokens = slices.Clone(p.Tokens)
	for _, t := range e.tokens {
		if i := slices.IndexFunc(p.Tokens, func(o ethTokenJSON) bool { return o.Symbol == t.Symbol }); i >= 0 {
			p.Tokens[i] = t
		} else {
			p.Tokens = append(p.Tokens, t)
		}
		if !had[t.Symbol] && !slices.ContainsFunc(w.Assets, func(l policy.AssetLimits) bool { return l.Asset == t.Symbol }) {
			return nil, usagef("-token %s: give its caps too, -cap %[1]s=MAX:DAILY:WEEKLY in base units: a token without caps cannot be paid", t.Symbol)
		}
	}
	safeFlags := set["safe-version"] || set["safe-first-nonce"] || set["max-safe-tx-gas"] || set["accept-legacy-domain"]
	switch {
	case e.safe != "" && (p.Safe == nil || p.Safe.Address != e.safe):
		p.Safe = &ethSafeJSON{Address: e.safe}
	case e.safe == "" && p.Safe == nil && safeFlags:
		return nil, usagef("wallet %s names no Safe: -safe-version, -safe-first-nonce, -max-safe-tx-gas and -accept-legacy-domain need -safe ADDRESS", id)
	}
	if s := p.Safe; s != nil {
		cp := *s
		if set["safe-version"] {
			cp.Version = e.safeVersion
		}
		if set["safe-first-nonce"] {
			cp.FirstNonce = e.safeFirstNonce
		}
		if set["max-safe-tx-gas"] {
			cp.MaxSafeTxGas = e.maxSafeTxGas
		}
		if set["accept-legacy-domain"] {
			cp.AcceptLegacyDomain = e.acceptLegacyDomain
		}
		if cp.Version == "" {
			return nil, usagef("-safe %s: give its version, -safe-version (one of %s): it decides what the owner's signature covers", cp.Address, strings.Join(ethereum.SafeVersions(), ", "))
		}
		p.Safe = &cp
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if _, err := ethereum.ParseParams(w.Network, raw); err != nil {
		return nil, withHint(fmt.Errorf("wallet %s: the Ethereum params: %w", id, err), "nothing was written; adjust the flags")
	}
	return raw, nil
}

// printEthParams prints an Ethereum wallet's params for people, as
// printWalletRules prints the rest of its rules.
func printEthParams(w io.Writer, p *ethereum.Params) {
	replace := "no: one transaction per nonce"
	if p.AllowReplacement() {
		replace = "yes, at a higher fee, by a withdrawal naming the one it replaces"
	}
	fmt.Fprintf(w, "  %-12s chain id %d; account %s, first nonce %d; gas limit at most %d; replacement %s\n", "ethereum",
		p.ChainID(), p.AccountPath(), p.FirstNonce(), p.MaxGasLimit(), replace)
	for _, t := range p.Tokens() {
		fmt.Fprintf(w, "  %-12s %s at %s, %d decimals\n", "token", t.Symbol, t.Contract, t.Decimals)
	}
	if s, ok := p.Safe(); ok {
		domain := "its signatures name the chain id"
		if s.LegacyDomain() {
			domain = "LEGACY DOMAIN: its signatures carry no chain id and replay on every chain"
		}
		fmt.Fprintf(w, "  %-12s %s v%s (%s), the wallet's key one owner; first Safe nonce %d, safeTxGas at most %d\n", "safe",
			s.Address, s.Version, domain, s.FirstNonce, s.MaxSafeTxGas)
	}
}
