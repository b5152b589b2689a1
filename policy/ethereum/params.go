package ethereum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
)

// NativeAsset is the asset of ETH transfers and of fees.
const NativeAsset = "ETH"

// The networks a wallet's params may name, with their chain ids. "dev"
// takes the chain id the params give, for local test chains; it may not
// be one of these.
var networkChainIDs = map[string]uint64{
	"mainnet": 1,
	"sepolia": 11_155_111,
	"holesky": 17_000,
}

// DevNetwork is the network of local test chains.
const DevNetwork = "dev"

// DefaultAccountPath is the path of the wallet's sending account below its
// root when the params name none.
const DefaultAccountPath = "m/0/0"

// Params are one wallet's Ethereum parameters from the officer-signed
// policy bundle, made by [ParseParams] only and never modified. They
// implement [chain.Params].
type Params struct {
	network          string
	chainID          uint64
	accountPath      bip32.Path
	firstNonce       uint64
	maxGasLimit      uint64
	allowReplacement bool
	tokens           map[string]Token  // by symbol
	contracts        map[Address]Token // by contract
	safe             *Safe
}

var _ chain.Params = (*Params)(nil)

// Token is an ERC-20 token of a wallet's registry.
type Token struct {
	Symbol   string
	Contract Address
	Decimals int
}

// Safe is the Safe whose funds a wallet's key co-signs for, as one owner.
type Safe struct {
	Address Address
	// Version is one of [SafeVersions]'s.
	Version string
	// FirstNonce is the Safe's next unsigned nonce when the policy starts.
	FirstNonce uint64
	// MaxSafeTxGas is the greatest safeTxGas a SafeTx may give.
	MaxSafeTxGas uint64
	// AcceptLegacyDomain is the officers' consent to a version below
	// v1.3.0, whose signatures carry no chain id.
	AcceptLegacyDomain bool
}

// LegacyDomain reports whether the Safe's signatures carry no chain id.
func (s Safe) LegacyDomain() bool { return legacyDomain(s.Version) }

// paramsJSON is the params' JSON form; see [ParseParams].
type paramsJSON struct {
	ChainID          *uint64     `json:"chain_id"`
	AccountPath      *string     `json:"account_path"`
	FirstNonce       uint64      `json:"first_nonce"`
	MaxGasLimit      *uint64     `json:"max_gas_limit"`
	AllowReplacement bool        `json:"allow_replacement"`
	Tokens           []tokenJSON `json:"tokens"`
	Safe             *safeJSON   `json:"safe"`
}

type tokenJSON struct {
	Symbol   string `json:"symbol"`
	Contract string `json:"contract"`
	Decimals *int   `json:"decimals"`
}

type safeJSON struct {
	Address            string `json:"address"`
	Version            string `json:"version"`
	FirstNonce         uint64 `json:"first_nonce"`
	MaxSafeTxGas       uint64 `json:"max_safe_tx_gas"`
	AcceptLegacyDomain bool   `json:"accept_legacy_domain"`
}

// ParseParams reads a wallet's Ethereum params from a policy bundle: a
// JSON object
//
//	{"chain_id": 11155111,           required; the network's (any but theirs for "dev")
//	 "account_path": "m/0/0",        the sending account (or Safe owner) below the root
//	 "first_nonce": 0,               the account's next unsigned nonce when the policy starts
//	 "max_gas_limit": 100000,        21000..2^24, default 100000
//	 "allow_replacement": false,     whether a withdrawal may reuse a nonce with a higher fee
//	 "tokens": [{"symbol": "USDC", "contract": "0x…", "decimals": 6}],
//	 "safe": {"address": "0x…", "version": "1.3.0", "first_nonce": 0,
//	          "max_safe_tx_gas": 0, "accept_legacy_domain": false}}
//
// on network "mainnet" (chain id 1), "sepolia" (11155111), "holesky"
// (17000) or "dev". Empty raw gives the defaults of a named network. It
// reads strictly: unknown fields, duplicate keys, null, numbers that are
// not integers, and bytes after the object are refused. Token symbols are
// 1 to 16 of [A-Z0-9], never "ETH"; decimals 0..36; contracts and the
// Safe's address are spelled in EIP-55, not zero, and all different. A
// Safe below v1.3.0 needs accept_legacy_domain; newer ones refuse it.
//
// Every error is a [*chain.Refusal] by the rule params.invalid or
// safe.legacy_domain.
func ParseParams(network string, raw json.RawMessage) (*Params, error) {
	p, r := parseParams(network, raw)
	if r != nil {
		return nil, r
	}
	return p, nil
}

func parseParams(network string, raw []byte) (*Params, *chain.Refusal) {
	if len(raw) > MaxParamsSize {
		return nil, refuse(RuleParamsInvalid, "the params are %d bytes, at most %d", len(raw), MaxParamsSize)
	}
	want, named := networkChainIDs[network]
	if !named && network != DevNetwork {
		return nil, refuse(RuleParamsInvalid, "network %s, want mainnet, sepolia, holesky or dev", quote(network))
	}
	var j paramsJSON
	if len(bytes.TrimSpace(raw)) == 0 {
		if !named {
			return nil, refuse(RuleParamsInvalid, "network dev needs params with a chain_id")
		}
		j.ChainID = &want
	} else if err := strictJSON(raw, &j); err != nil {
		return nil, refuse(RuleParamsInvalid, "%v", err)
	}

	p := &Params{network: network, firstNonce: j.FirstNonce, allowReplacement: j.AllowReplacement,
		maxGasLimit: DefaultMaxGasLimit, tokens: map[string]Token{}, contracts: map[Address]Token{}}
	switch {
	case j.ChainID == nil:
		return nil, refuse(RuleParamsInvalid, "chain_id is missing")
	case named && *j.ChainID != want:
		return nil, refuse(RuleParamsInvalid, "chain_id %d is not %s's (%d)", *j.ChainID, network, want)
	case !named && (*j.ChainID == 0 || *j.ChainID > MaxChainID):
		return nil, refuse(RuleParamsInvalid, "chain_id %d, want 1..%d", *j.ChainID, uint64(MaxChainID))
	case !named && isNamedChainID(*j.ChainID):
		return nil, refuse(RuleParamsInvalid, "network dev may not use chain id %d, a public network's", *j.ChainID)
	}
	p.chainID = *j.ChainID

	path := DefaultAccountPath
	if j.AccountPath != nil {
		path = *j.AccountPath
	}
	var err error
	if p.accountPath, err = bip32.ParsePath(path); err != nil {
		return nil, refuse(RuleParamsInvalid, "account_path: %v", err)
	}
	if p.firstNonce > MaxNonce {
		return nil, refuse(RuleParamsInvalid, "first_nonce %d is above %d", p.firstNonce, uint64(MaxNonce))
	}
	if j.MaxGasLimit != nil {
		p.maxGasLimit = *j.MaxGasLimit
	}
	if p.maxGasLimit < MinGasLimit || p.maxGasLimit > MaxGasLimit {
		return nil, refuse(RuleParamsInvalid, "max_gas_limit %d, want %d..%d", p.maxGasLimit, MinGasLimit, MaxGasLimit)
	}

	if j.Safe != nil {
		s, r := parseSafe(j.Safe)
		if r != nil {
			return nil, r
		}
		p.safe = s
	}

	if len(j.Tokens) > MaxTokens {
		return nil, refuse(RuleParamsInvalid, "%d tokens, at most %d", len(j.Tokens), MaxTokens)
	}
	for _, tj := range j.Tokens {
		sym := tj.Symbol
		t, r := parseToken(sym, tj)
		if r != nil {
			return nil, r
		}
		if _, dup := p.tokens[sym]; dup {
			return nil, refuse(RuleParamsInvalid, "token %s is registered twice", sym)
		}
		if other, dup := p.contracts[t.Contract]; dup {
			return nil, refuse(RuleParamsInvalid, "tokens %s and %s have the same contract %s", other.Symbol, sym, t.Contract)
		}
		if p.safe != nil && t.Contract == p.safe.Address {
			return nil, refuse(RuleParamsInvalid, "token %s's contract is the Safe %s", sym, t.Contract)
		}
		if what, ok := multiSendDeployments[t.Contract]; ok {
			return nil, refuse(RuleParamsInvalid, "token %s's contract %s is %s", sym, t.Contract, what)
		}
		p.tokens[sym] = t
		p.contracts[t.Contract] = t
	}
	return p, nil
}

func isNamedChainID(id uint64) bool {
	for _, known := range networkChainIDs {
		if id == known {
			return true
		}
	}
	return false
}

func parseSafe(j *safeJSON) (*Safe, *chain.Refusal) {
	a, err := ParseAddress(j.Address)
	if err != nil {
		return nil, refuse(RuleParamsInvalid, "safe.address: %v", err)
	}
	if a.IsZero() {
		return nil, refuse(RuleParamsInvalid, "safe.address is the zero address")
	}
	if what, ok := multiSendDeployments[a]; ok {
		return nil, refuse(RuleParamsInvalid, "safe.address %s is %s", a, what)
	}
	s := &Safe{Address: a, Version: j.Version, FirstNonce: j.FirstNonce, MaxSafeTxGas: j.MaxSafeTxGas,
		AcceptLegacyDomain: j.AcceptLegacyDomain}
	switch {
	case !slices.Contains(safeVersions[:], s.Version):
		return nil, refuse(RuleParamsInvalid, "safe.version %s, want one of %v", quote(s.Version), safeVersions)
	case s.LegacyDomain() && !s.AcceptLegacyDomain:
		return nil, refuse(RuleSafeLegacyDomain, "Safe %s is v%s, whose signatures carry no chain id and are valid on every chain "+
			"where a Safe of this address exists; set accept_legacy_domain to sign for it", a, s.Version)
	case !s.LegacyDomain() && s.AcceptLegacyDomain:
		return nil, refuse(RuleParamsInvalid, "safe.accept_legacy_domain is set for v%s, whose domain has a chain id", s.Version)
	case s.FirstNonce > MaxNonce:
		return nil, refuse(RuleParamsInvalid, "safe.first_nonce %d is above %d", s.FirstNonce, uint64(MaxNonce))
	case s.MaxSafeTxGas > MaxGasLimit:
		return nil, refuse(RuleParamsInvalid, "safe.max_safe_tx_gas %d is above %d", s.MaxSafeTxGas, MaxGasLimit)
	}
	return s, nil
}

func parseToken(sym string, j tokenJSON) (Token, *chain.Refusal) {
	if !validSymbol(sym) {
		return Token{}, refuse(RuleParamsInvalid, "token symbol %s is not 1 to %d of [A-Z0-9]", quote(sym), MaxSymbolLen)
	}
	if sym == NativeAsset {
		return Token{}, refuse(RuleParamsInvalid, "%s is the native asset, not a token", NativeAsset)
	}
	a, err := ParseAddress(j.Contract)
	if err != nil {
		return Token{}, refuse(RuleParamsInvalid, "token %s: contract: %v", sym, err)
	}
	if a.IsZero() {
		return Token{}, refuse(RuleParamsInvalid, "token %s: the contract is the zero address", sym)
	}
	if j.Decimals == nil || *j.Decimals < 0 || *j.Decimals > MaxDecimals {
		return Token{}, refuse(RuleParamsInvalid, "token %s: decimals missing or not in 0..%d", sym, MaxDecimals)
	}
	return Token{Symbol: sym, Contract: a, Decimals: *j.Decimals}, nil
}

func validSymbol(s string) bool {
	if len(s) < 1 || len(s) > MaxSymbolLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// strictJSON decodes raw into v, refusing unknown fields, duplicate keys,
// null and bytes after the value.
func strictJSON(raw []byte, v any) error {
	if err := checkJSONValue(json.NewDecoder(bytes.NewReader(raw)), 0); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("bytes after the params object")
	}
	return nil
}

// maxJSONDepth bounds the nesting of params: object, tokens list, token.
const maxJSONDepth = 3

// checkJSONValue reads one JSON value from dec, refusing duplicate keys
// in an object, null, and nesting deeper than maxJSONDepth.
func checkJSONValue(dec *json.Decoder, depth int) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch t {
	case nil:
		return errors.New("null is not a value here")
	case json.Delim('{'):
		if depth >= maxJSONDepth {
			return errors.New("objects nested too deep")
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			if seen[key] {
				return fmt.Errorf("key %s appears twice", quote(key))
			}
			seen[key] = true
			if err := checkJSONValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		if depth >= maxJSONDepth {
			return errors.New("arrays nested too deep")
		}
		for dec.More() {
			if err := checkJSONValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// Network returns the wallet's network.
func (p *Params) Network() string { return p.network }

// FeeAsset returns "ETH".
func (p *Params) FeeAsset() string { return NativeAsset }

// Decimals returns 18 for ETH, a registered token's decimals, and false
// for any other asset.
func (p *Params) Decimals(asset string) (int, bool) {
	if asset == NativeAsset {
		return NativeDecimals, true
	}
	t, ok := p.tokens[asset]
	return t.Decimals, ok
}

// ChainID returns the wallet's chain id.
func (p *Params) ChainID() uint64 { return p.chainID }

// AccountPath returns the path of the wallet's sending account (or Safe
// owner key) below its root.
func (p *Params) AccountPath() bip32.Path { return slices.Clone(p.accountPath) }

// FirstNonce returns the account's next unsigned nonce when the policy
// starts.
func (p *Params) FirstNonce() uint64 { return p.firstNonce }

// MaxGasLimit returns the greatest gas limit the wallet's transactions may
// give.
func (p *Params) MaxGasLimit() uint64 { return p.maxGasLimit }

// AllowReplacement reports whether a withdrawal may reuse a nonce with a
// higher fee.
func (p *Params) AllowReplacement() bool { return p.allowReplacement }

// Token returns the registered token of a symbol.
func (p *Params) Token(symbol string) (Token, bool) {
	t, ok := p.tokens[symbol]
	return t, ok
}

// Tokens returns the registry, by symbol.
func (p *Params) Tokens() []Token {
	out := make([]Token, 0, len(p.tokens))
	for _, t := range p.tokens {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}

// Safe returns the wallet's Safe, and false if its key sends from its
// own account.
func (p *Params) Safe() (Safe, bool) {
	if p.safe == nil {
		return Safe{}, false
	}
	return *p.safe, true
}

// valid reports whether p was made by ParseParams.
func (p *Params) valid() bool { return p != nil && p.chainID != 0 && p.tokens != nil }
