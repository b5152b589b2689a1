package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
	"github.com/countersign/countersign/policy/keys"
)

// Bundle formats this code reads: 1 (Bitcoin only, satoshis) and 2 (any
// chain, per-asset limits).
const (
	BundleFormat1 = 1
	BundleFormat  = 2
)

// Limits of a bundle, all in one place.
const (
	// MaxBundleSize is the largest bundle file.
	MaxBundleSize = 1 << 20
	// MaxSignatures is the most signatures a bundle may carry.
	MaxSignatures = 64
	// MaxOfficers is the most officers a bundle may name.
	MaxOfficers = 64
	// MaxDestinations is the most allowlisted destinations per wallet.
	MaxDestinations = 10_000
	// MaxRules is the most expression rules per wallet.
	MaxRules = 32
	// MaxAssets is the most assets per wallet.
	MaxAssets = 64
	// MaxApprovalStatement is the longest approval statement.
	MaxApprovalStatement = 1024
	// MaxApprovalLifetime is the longest an approval may be valid for.
	MaxApprovalLifetime = 7 * 24 * time.Hour
)

// Wallet roles.
const (
	RoleHot  = "hot"
	RoleWarm = "warm"
	RoleCold = "cold"
)

// Bundle is the policy in force on a node: who the security officers are,
// how many of them must sign the next bundle, and per wallet where it may
// send, how much, how fast, which withdrawals need officers' approval, and
// which systems may originate withdrawals. Officers sign the exact bytes
// of the file (see [Accept]); nodes never edit it.
//
// The file is strict JSON: unknown fields are refused, and so is anything
// that does not check (see [ParseBundle]).
//
// Compatibility: fields are only added, optional, and never change
// meaning; a change old nodes must not misread bumps Format.
type Bundle struct {
	Format int `json:"format"`
	// Cluster names the cluster the bundle governs; a bundle for another
	// cluster is refused, so a signed bundle cannot be replayed elsewhere.
	Cluster string `json:"cluster"`
	// Version increases with every accepted bundle: a node never goes
	// back to a lower one.
	Version     int64  `json:"version"`
	Description string `json:"description,omitempty"`
	// Officers are the people who sign bundles and approve withdrawals.
	Officers []Officer `json:"officers"`
	// Groups name sets of officers, for approval tiers.
	Groups map[string][]string `json:"groups"`
	// ChangeQuorum is how many of these officers must sign the next
	// bundle.
	ChangeQuorum int                     `json:"change_quorum"`
	Wallets      map[string]*WalletRules `json:"wallets"`

	raw      []byte
	hash     [32]byte
	programs map[string][]program // per wallet, compiled Rules
}

// Officer is a security officer and the SSH public key they sign with
// (ssh-ed25519, or sk-ssh-ed25519@openssh.com on a security key).
type Officer struct {
	Name string         `json:"name"`
	Key  keys.PublicKey `json:"key"`
}

// WalletRules is one wallet's policy.
//
// Format 1 bundles are Bitcoin's only, with amounts in satoshis
// (max_amount_sat and the other _sat fields, allow_rbf, max_lock_time).
// Format 2 names the chain, gives limits per asset in base units as
// decimal strings (assets, max_fee, tiers' asset and min_amount) and the
// chain's own parameters (params, read by the chain's package); the _sat
// fields must then be absent. [ParseBundle] reads both into the format 2
// fields, which are all that decisions read.
type WalletRules struct {
	// Name is how officers know the wallet.
	Name string `json:"name"`
	// Chain is the chain package ("bitcoin", "ethereum"); format 1 is
	// "bitcoin".
	Chain   string `json:"chain,omitempty"`
	Network string `json:"network"`
	// Role is hot, warm or cold. A cold wallet must have an allowlist.
	Role string `json:"role"`
	// AnyDestination lets a hot or warm wallet pay any address; otherwise
	// only Destinations are allowed.
	AnyDestination bool          `json:"any_destination,omitempty"`
	Destinations   []Destination `json:"destinations,omitempty"`

	// Format 1 only (satoshis): the per-withdrawal cap, the caps on what
	// leaves the wallet (amounts and fees) in any rolling 24 hours and 7
	// days, the fee cap, RBF and the highest lock time.
	MaxAmountSat int64  `json:"max_amount_sat,omitempty"`
	DailyCapSat  int64  `json:"daily_cap_sat,omitempty"`
	WeeklyCapSat int64  `json:"weekly_cap_sat,omitempty"`
	MaxFeeSat    int64  `json:"max_fee_sat,omitempty"`
	AllowRBF     bool   `json:"allow_rbf,omitempty"`
	MaxLockTime  uint32 `json:"max_lock_time,omitempty"`

	// Assets are the assets the wallet may pay, with their caps in base
	// units. Outflow in an asset not listed is refused, fees included.
	Assets []AssetLimits `json:"assets,omitempty"`
	// MaxFee caps one withdrawal's fee (its worst case) in base units of
	// the chain's fee asset.
	MaxFee chain.Amount `json:"max_fee,omitzero"`
	// Params are the chain's own parameters for the wallet (see the chain
	// package's ParseParams).
	Params json.RawMessage `json:"params,omitempty"`

	// ApprovalTiers: a withdrawal whose amount is at or above a tier's
	// MinAmount in the tier's asset waits for that tier's approvals (the
	// highest such tier of its asset).
	ApprovalTiers []Tier `json:"approval_tiers,omitempty"`
	// Hours, if set, is when withdrawals may be made (UTC).
	Hours *Hours `json:"hours,omitempty"`
	// Originators are the systems allowed to originate withdrawals: each
	// intent must carry a signature by one of their keys.
	Originators []Originator `json:"originators"`
	// Rules are further conditions, as CEL expressions that must be true.
	Rules []Rule `json:"rules,omitempty"`

	// What ParseBundle read, in one form for both formats.
	chain  chain.Chain
	params chain.Params
	assets []AssetLimits
	maxFee chain.Amount
	tiers  []Tier
}

// AssetLimits are a wallet's caps in one asset, in base units: one
// withdrawal's amount, and what leaves the wallet in any rolling 24 hours
// and 7 days by the node's own committed history.
type AssetLimits struct {
	Asset     string       `json:"asset"`
	MaxAmount chain.Amount `json:"max_amount"`
	DailyCap  chain.Amount `json:"daily_cap"`
	WeeklyCap chain.Amount `json:"weekly_cap"`
}

// Limits returns the wallet's caps in asset, nil if it may not pay it.
func (w *WalletRules) Limits(asset string) *AssetLimits {
	for i := range w.assets {
		if w.assets[i].Asset == asset {
			return &w.assets[i]
		}
	}
	return nil
}

// AssetLimits returns the caps of every asset the wallet may pay, in the
// bundle's order, for both formats.
func (w *WalletRules) AssetLimits() []AssetLimits { return slices.Clone(w.assets) }

// FeeCap returns the wallet's fee cap in base units of its fee asset.
func (w *WalletRules) FeeCap() chain.Amount { return w.maxFee }

// Tiers returns the wallet's approval tiers with their asset and amount,
// for both formats.
func (w *WalletRules) Tiers() []Tier { return slices.Clone(w.tiers) }

// ChainName returns the wallet's chain: "bitcoin" in format 1.
func (w *WalletRules) ChainName() string { return w.chain.Name() }

// ChainOf returns the wallet's chain and parameters, as ParseBundle
// checked them.
func (w *WalletRules) ChainOf() (chain.Chain, chain.Params) { return w.chain, w.params }

// Destination is an allowed address and the label officers know it by.
type Destination struct {
	Address string `json:"address"`
	Label   string `json:"label"`
}

// Tier is an approval tier. Format 1 gives MinAmountSat (BTC); format 2
// the Asset and MinAmount in its base units.
type Tier struct {
	MinAmountSat int64        `json:"min_amount_sat,omitempty"`
	Asset        string       `json:"asset,omitempty"`
	MinAmount    chain.Amount `json:"min_amount,omitzero"`
	Approvals    int          `json:"approvals"`
	Group        string       `json:"group"`
}

// Hours is a daily time window, in UTC: From inclusive, To exclusive
// ("09:00" to "17:30"; a window may run past midnight, "22:00" to
// "06:00"), on the listed weekdays ("mon" to "sun"; empty means every
// day, and a window past midnight belongs to the day it starts).
type Hours struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Weekdays []string `json:"weekdays,omitempty"`

	from, to int // minutes after midnight
	days     [7]bool
}

// Originator is a system allowed to originate a wallet's withdrawals,
// such as the exchange's ledger, and the SSH public key it signs
// intents with.
type Originator struct {
	Name string         `json:"name"`
	Key  keys.PublicKey `json:"key"`
}

// Rule is a condition written in CEL (https://cel.dev) over the variables
// listed at [ruleVariables]; a withdrawal is refused with the rule code
// "policy.rule.<name>" unless it is true.
type Rule struct {
	Name    string `json:"name"`
	Expr    string `json:"expr"`
	Message string `json:"message,omitempty"`
}

// Errors about bundles. ErrBundle is wrapped by every one; a bad
// signature or too few also wrap ErrSignatures, and a bundle for another
// cluster or not above the version in force also wraps ErrVersion.
var (
	ErrBundle     = errors.New("policy: bundle")
	ErrSignatures = errors.New("signatures")
	ErrVersion    = errors.New("version")
)

var (
	walletIDPattern = regexp.MustCompile(`^w-[0-9a-f]{16}$`)
	namePattern     = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	hhmmPattern     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	weekdays        = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} // time.Weekday order
)

// maxSat is the most satoshis there will ever be.
const maxSat = bitcoin.MaxSatoshi

// ParseBundle reads and checks a bundle file. It does not check
// signatures: see [Accept] and [AcceptGenesis].
func ParseBundle(raw []byte) (*Bundle, error) {
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBundle, len(raw), MaxBundleSize)
	}
	if err := oneMeaning(raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBundle, err)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBundle, err)
	}
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%w: trailing data after the bundle object", ErrBundle)
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	b.raw = bytes.Clone(raw)
	b.hash = sha256.Sum256(raw)
	return &b, nil
}

func (b *Bundle) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBundle, fmt.Sprintf(format, a...))
	}
	switch {
	case b.Format != BundleFormat1 && b.Format != BundleFormat:
		return bad("format %d, this code reads %d and %d", b.Format, BundleFormat1, BundleFormat)
	case !namePattern.MatchString(b.Cluster):
		return bad("cluster %q: want a name of a-z, 0-9, _ and -", b.Cluster)
	case b.Version < 1:
		return bad("version %d: want 1 or more", b.Version)
	case len(b.Officers) == 0 || len(b.Officers) > MaxOfficers:
		return bad("officers: want 1 to %d", MaxOfficers)
	case b.ChangeQuorum < 1 || b.ChangeQuorum > len(b.Officers):
		return bad("change_quorum %d: want 1 to the number of officers (%d)", b.ChangeQuorum, len(b.Officers))
	}
	names, fingerprints := map[string]bool{}, map[string]string{}
	for i, o := range b.Officers {
		switch {
		case !namePattern.MatchString(o.Name):
			return bad("officers[%d].name %q: want a-z, 0-9, _ and -, starting with a letter", i, o.Name)
		case names[o.Name]:
			return bad("officers[%d]: %s is named twice", i, o.Name)
		case o.Key.IsZero():
			return bad("officers[%d] (%s): no key", i, o.Name)
		case fingerprints[o.Key.Fingerprint()] != "":
			return bad("officers[%d] (%s): the key of %s; one key, one officer", i, o.Name, fingerprints[o.Key.Fingerprint()])
		}
		names[o.Name], fingerprints[o.Key.Fingerprint()] = true, o.Name
	}
	for g, members := range b.Groups {
		if !namePattern.MatchString(g) || len(members) == 0 {
			return bad("groups.%s: want a name and at least one officer", g)
		}
		for _, m := range members {
			if !names[m] {
				return bad("groups.%s: %q is not an officer", g, m)
			}
		}
		if len(slices.Compact(slices.Sorted(slices.Values(members)))) != len(members) {
			return bad("groups.%s: an officer is listed twice", g)
		}
	}
	b.programs = map[string][]program{}
	for id, w := range b.Wallets {
		if err := b.checkWallet(id, w); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bundle) checkWallet(id string, w *WalletRules) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: wallets.%s: %s", ErrBundle, id, fmt.Sprintf(format, a...))
	}
	if !walletIDPattern.MatchString(id) {
		return bad("not a wallet id (w- and 16 hex digits)")
	}
	if w == nil {
		return bad("empty")
	}
	if err := b.normalize(w); err != nil {
		return bad("%v", err)
	}
	switch {
	case len(w.Name) == 0 || len(w.Name) > 64:
		return bad("name: want 1-64 bytes")
	case w.Role != RoleHot && w.Role != RoleWarm && w.Role != RoleCold:
		return bad("role %q: want hot, warm or cold", w.Role)
	case w.Role == RoleCold && w.AnyDestination:
		return bad("a cold wallet pays only allowlisted destinations: any_destination is not allowed")
	case !w.AnyDestination && len(w.Destinations) == 0:
		return bad("no destinations: set destinations or, for a hot or warm wallet, any_destination")
	case len(w.Destinations) > MaxDestinations:
		return bad("destinations: at most %d", MaxDestinations)
	case len(w.assets) == 0 || len(w.assets) > MaxAssets:
		return bad("assets: want 1 to %d", MaxAssets)
	case w.maxFee.Sign() <= 0:
		return bad("max_fee must be at least 1")
	case len(w.Originators) == 0:
		return bad("originators: name at least one system allowed to originate withdrawals")
	case len(w.Rules) > MaxRules:
		return bad("rules: at most %d", MaxRules)
	}
	for i, l := range w.assets {
		asset := l.Asset
		if slices.ContainsFunc(w.assets[:i], func(o AssetLimits) bool { return o.Asset == asset }) {
			return bad("assets[%d]: %s is listed twice", i, asset)
		}
		if _, ok := w.params.Decimals(asset); !ok {
			return bad("assets.%s: not an asset this %s wallet can pay (a token must be in the chain parameters' registry)", asset, w.chain.Name())
		}
		switch {
		case l.MaxAmount.Sign() <= 0:
			return bad("assets.%s.max_amount must be at least 1", asset)
		case l.DailyCap.Cmp(l.MaxAmount) < 0:
			return bad("assets.%s.daily_cap must be at least max_amount", asset)
		case l.WeeklyCap.Cmp(l.DailyCap) < 0:
			return bad("assets.%s.weekly_cap must be at least daily_cap", asset)
		}
	}
	if w.Limits(w.params.FeeAsset()) == nil {
		return bad("assets: %s, the fee asset, needs limits too: fees leave the wallet", w.params.FeeAsset())
	}
	seen := map[string]bool{}
	for i, d := range w.Destinations {
		if len(d.Label) == 0 || len(d.Label) > 64 {
			return bad("destinations[%d]: needs a label of 1-64 bytes", i)
		}
		k, err := w.chain.AddressKey(w.Network, d.Address)
		if err != nil {
			return bad("destinations[%d] (%s): %v", i, d.Label, err)
		}
		if seen[k] {
			return bad("destinations[%d] (%s): %s is listed twice", i, d.Label, d.Address)
		}
		seen[k] = true
	}
	for i, t := range w.tiers {
		members, ok := b.Groups[t.Group]
		prev := slices.IndexFunc(w.tiers[:i], func(p Tier) bool { return p.Asset == t.Asset && p.MinAmount.Cmp(t.MinAmount) >= 0 })
		switch {
		case w.Limits(t.Asset) == nil:
			return bad("approval_tiers[%d].asset %q is not one of the wallet's assets", i, t.Asset)
		case t.MinAmount.Sign() <= 0:
			return bad("approval_tiers[%d].min_amount must be at least 1", i)
		case prev >= 0:
			return bad("approval_tiers[%d]: tiers must be in increasing min_amount within an asset", i)
		case !ok:
			return bad("approval_tiers[%d].group %q is not a group", i, t.Group)
		case t.Approvals < 1 || t.Approvals > len(members):
			return bad("approval_tiers[%d].approvals %d: want 1 to the size of group %s (%d)", i, t.Approvals, t.Group, len(members))
		}
	}
	if w.Hours != nil {
		if err := w.Hours.parse(); err != nil {
			return bad("hours: %v", err)
		}
	}
	names := map[string]bool{}
	for i, o := range w.Originators {
		if !namePattern.MatchString(o.Name) || names[o.Name] || o.Key.IsZero() {
			return bad("originators[%d]: want a unique name of a-z, 0-9, _ and - and a key", i)
		}
		names[o.Name] = true
	}
	rnames := map[string]bool{}
	for i, r := range w.Rules {
		if !namePattern.MatchString(r.Name) || rnames[r.Name] {
			return bad("rules[%d]: want a unique name of a-z, 0-9, _ and -", i)
		}
		rnames[r.Name] = true
		p, err := compileRule(r)
		if err != nil {
			return bad("rules[%d] (%s): %v", i, r.Name, err)
		}
		b.programs[id] = append(b.programs[id], p)
	}
	return nil
}

// normalize reads a wallet's format 1 fields into the format 2 ones, and
// its chain and parameters, so that decisions read one form.
func (b *Bundle) normalize(w *WalletRules) error {
	var name string
	var params json.RawMessage
	if b.Format == BundleFormat1 {
		switch {
		case w.Chain != "" || len(w.Assets) > 0 || !w.MaxFee.IsZero() || len(w.Params) > 0:
			return fmt.Errorf("chain, assets, max_fee and params are format 2 fields")
		case w.MaxAmountSat <= 0 || w.MaxAmountSat > maxSat:
			return fmt.Errorf("max_amount_sat must be 1 to %d", int64(maxSat))
		case w.DailyCapSat < w.MaxAmountSat || w.DailyCapSat > maxSat:
			return fmt.Errorf("daily_cap_sat must be at least max_amount_sat")
		case w.WeeklyCapSat < w.DailyCapSat || w.WeeklyCapSat > maxSat:
			return fmt.Errorf("weekly_cap_sat must be at least daily_cap_sat")
		case w.MaxFeeSat <= 0 || w.MaxFeeSat > maxSat:
			return fmt.Errorf("max_fee_sat must be 1 to %d", int64(maxSat))
		case w.MaxLockTime >= bitcoin.LockTimeThreshold:
			return fmt.Errorf("max_lock_time is a block height, below %d", bitcoin.LockTimeThreshold)
		}
		sat := func(v int64) chain.Amount { return chain.AmountOf(uint64(v)) }
		name = bitcoin.Name
		w.assets = []AssetLimits{{Asset: bitcoin.Asset, MaxAmount: sat(w.MaxAmountSat), DailyCap: sat(w.DailyCapSat), WeeklyCap: sat(w.WeeklyCapSat)}}
		w.maxFee = sat(w.MaxFeeSat)
		w.tiers = nil
		for i, t := range w.ApprovalTiers {
			if t.MinAmountSat < 1 || t.MinAmountSat > maxSat || t.Asset != "" || !t.MinAmount.IsZero() {
				return fmt.Errorf("approval_tiers[%d].min_amount_sat must be 1 to %d", i, int64(maxSat))
			}
			t.Asset, t.MinAmount = bitcoin.Asset, sat(t.MinAmountSat)
			w.tiers = append(w.tiers, t)
		}
		var err error
		if params, err = json.Marshal(bitcoin.Params{AllowRBF: w.AllowRBF, MaxLockTime: w.MaxLockTime}); err != nil {
			return err
		}
	} else {
		if w.MaxAmountSat != 0 || w.DailyCapSat != 0 || w.WeeklyCapSat != 0 || w.MaxFeeSat != 0 || w.AllowRBF || w.MaxLockTime != 0 {
			return fmt.Errorf("the _sat fields, allow_rbf and max_lock_time are format 1 fields: use assets, max_fee and params")
		}
		for i, t := range w.ApprovalTiers {
			if t.MinAmountSat != 0 {
				return fmt.Errorf("approval_tiers[%d].min_amount_sat is a format 1 field: use asset and min_amount", i)
			}
		}
		name, params = w.Chain, w.Params
		w.assets, w.maxFee, w.tiers = slices.Clone(w.Assets), w.MaxFee, slices.Clone(w.ApprovalTiers)
	}
	c, ok := chains.Lookup(name)
	if !ok {
		return fmt.Errorf("chain %q: want one of %v", name, chains.Names())
	}
	p, err := c.ParseParams(w.Network, params)
	if err != nil {
		return fmt.Errorf("network %q, params: %v", w.Network, err)
	}
	w.chain, w.params = c, p
	return nil
}

func (h *Hours) parse() error {
	for _, s := range []string{h.From, h.To} {
		if !hhmmPattern.MatchString(s) {
			return fmt.Errorf("%q is not a time of day written hh:mm", s)
		}
	}
	mins := func(s string) int { return int(s[0]-'0')*600 + int(s[1]-'0')*60 + int(s[3]-'0')*10 + int(s[4]-'0') }
	h.from, h.to = mins(h.From), mins(h.To)
	if h.from == h.to {
		return errors.New("from and to are equal")
	}
	h.days = [7]bool{}
	for _, d := range h.Weekdays {
		i := slices.Index(weekdays, d)
		if i < 0 {
			return fmt.Errorf("weekday %q: want one of %s", d, strings.Join(weekdays, ", "))
		}
		h.days[i] = true
	}
	if len(h.Weekdays) == 0 {
		h.days = [7]bool{true, true, true, true, true, true, true}
	}
	return nil
}

// open reports whether t is within the window.
func (h *Hours) open(t time.Time) bool {
	t = t.UTC()
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if h.from < h.to {
		return h.days[day] && m >= h.from && m < h.to
	}
	// past midnight: the part after midnight belongs to the day before
	if m >= h.from {
		return h.days[day]
	}
	return m < h.to && h.days[(day+6)%7]
}

// Raw returns the exact bytes of the bundle file.
func (b *Bundle) Raw() []byte { return bytes.Clone(b.raw) }

// Hash is SHA-256 of the bundle's exact bytes: decisions and approvals
// name the bundle by it.
func (b *Bundle) Hash() [32]byte { return b.hash }

// Officer returns the officer named name.
func (b *Bundle) Officer(name string) (Officer, bool) {
	i := slices.IndexFunc(b.Officers, func(o Officer) bool { return o.Name == name })
	if i < 0 {
		return Officer{}, false
	}
	return b.Officers[i], true
}

// InGroup reports whether officer belongs to group.
func (b *Bundle) InGroup(officer, group string) bool {
	return slices.Contains(b.Groups[group], officer)
}

// Signature is one officer's SSH signature (armored, as `ssh-keygen -Y
// sign` writes it) over a bundle file's exact bytes, in namespace
// [keys.NamespacePolicy].
type Signature struct {
	Officer   string `json:"officer"`
	Signature string `json:"signature"`
}

// ParseSignatures reads a signatures file: a JSON array of Signature.
func ParseSignatures(raw []byte) ([]Signature, error) {
	if err := oneMeaning(raw); err != nil {
		return nil, fmt.Errorf("%w: signatures: %v", ErrBundle, err)
	}
	var sigs []Signature
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sigs); err != nil {
		return nil, fmt.Errorf("%w: signatures: %v", ErrBundle, err)
	}
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%w: signatures: trailing data after the array", ErrBundle)
	}
	if len(sigs) > MaxSignatures {
		return nil, fmt.Errorf("%w: %d signatures, at most %d", ErrBundle, len(sigs), MaxSignatures)
	}
	return sigs, nil
}

// verifySignatures returns the officers of signers whose signatures over
// raw verify. Any signature that names an unknown officer, an officer
// twice, or does not verify makes the whole set invalid: a forged
// signature is an attack to report, not noise to skip.
func verifySignatures(signers *Bundle, raw []byte, sigs []Signature) ([]string, error) {
	if len(sigs) > MaxSignatures {
		return nil, fmt.Errorf("%w: %d signatures, at most %d", ErrBundle, len(sigs), MaxSignatures)
	}
	var ok []string
	for i, s := range sigs {
		o, known := signers.Officer(s.Officer)
		switch {
		case !known:
			return nil, fmt.Errorf("%w: %w[%d]: %q is not an officer of bundle version %d", ErrBundle, ErrSignatures, i, s.Officer, signers.Version)
		case slices.Contains(ok, s.Officer):
			return nil, fmt.Errorf("%w: %w[%d]: %s signed twice", ErrBundle, ErrSignatures, i, s.Officer)
		}
		if err := keys.Verify(o.Key, keys.NamespacePolicy, raw, []byte(s.Signature)); err != nil {
			return nil, fmt.Errorf("%w: %w[%d]: %s's signature does not verify: %v", ErrBundle, ErrSignatures, i, s.Officer, err)
		}
		ok = append(ok, s.Officer)
	}
	return ok, nil
}

// AcceptGenesis checks a cluster's first bundle: a quorum of its own
// officers must have signed it.
func AcceptGenesis(raw []byte, sigs []Signature) (*Bundle, error) {
	b, err := ParseBundle(raw)
	if err != nil {
		return nil, err
	}
	signed, err := verifySignatures(b, raw, sigs)
	if err != nil {
		return nil, err
	}
	if len(signed) < b.ChangeQuorum {
		return nil, fmt.Errorf("%w: %w: signed by %d officers (%s), the first bundle needs %d of its own", ErrBundle, ErrSignatures, len(signed), strings.Join(signed, ", "), b.ChangeQuorum)
	}
	return b, nil
}

// Accept checks a proposed bundle against the bundle in force: it must
// govern the same cluster, have a higher version, and be signed by at
// least current.ChangeQuorum of current's officers. It returns the new
// bundle and the officers whose signatures counted.
func Accept(current *Bundle, raw []byte, sigs []Signature) (*Bundle, []string, error) {
	next, err := ParseBundle(raw)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case next.Cluster != current.Cluster:
		return nil, nil, fmt.Errorf("%w: %w: bundle is for cluster %q, this is %q", ErrBundle, ErrVersion, next.Cluster, current.Cluster)
	case next.Version <= current.Version:
		return nil, nil, fmt.Errorf("%w: %w %d is not above the version in force (%d): no rollback", ErrBundle, ErrVersion, next.Version, current.Version)
	}
	signed, err := verifySignatures(current, raw, sigs)
	if err != nil {
		return nil, nil, err
	}
	if len(signed) < current.ChangeQuorum {
		return nil, nil, fmt.Errorf("%w: %w: signed by %d officers (%s); changing the policy takes %d of the officers of version %d",
			ErrBundle, ErrSignatures, len(signed), strings.Join(signed, ", "), current.ChangeQuorum, current.Version)
	}
	return next, signed, nil
}
