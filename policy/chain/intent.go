package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Intent is a withdrawal as the exchange's ledger asks for it, on any
// chain. It is checked, never trusted: a node signs only a transaction
// that its chain's Rederive found to do exactly what the intent says.
//
// It travels, is signed by its originator, is hashed into the request
// hash and is written in audit logs as its canonical bytes
// ([Intent.Canonical]); nodes, the officer CLI and the auditor all parse
// those very bytes with [ParseIntent].
type Intent struct {
	// Version is the canonical form: [IntentV2] for every new intent.
	// [IntentV1] is the Bitcoin-only form of logs written before
	// version 2 existed; it is read, and re-encoded byte for byte, so old
	// request hashes and signatures still verify.
	Version int
	// WithdrawalID is the backend's idempotency key: 1 to [MaxIDLen] of
	// A-Z, a-z, 0-9 and ". _ : -".
	WithdrawalID string
	// WalletID names the wallet paying, spelled as WithdrawalID.
	WalletID string
	// Chain names the chain package ("bitcoin", "ethereum").
	Chain string
	// Network is the chain's network ("mainnet", "regtest", "sepolia").
	Network string
	// Asset is the asset paid: the chain's native asset ("BTC", "ETH") or
	// a token symbol the officer-signed policy registers for the wallet.
	Asset string
	// Destination is the address paid, spelled as the chain spells it.
	Destination string
	// Amount is what Destination receives, in the asset's base units.
	Amount Amount
	// FeeCap is the greatest fee the backend accepts, in base units of the
	// chain's fee asset; for Ethereum the worst case maxFeePerGas×gasLimit.
	FeeCap Amount
	// RequestedBy optionally names the officer who asked for the
	// withdrawal; that officer's approval never counts for it.
	RequestedBy string
	// Replaces optionally names an earlier withdrawal of the same wallet
	// whose account nonce this one reuses with a higher fee (account
	// chains, where the policy allows replacement).
	Replaces string
}

// Canonical forms of an intent.
const (
	IntentV1 = 1 // Bitcoin only, amounts as JSON integers of satoshis
	IntentV2 = 2 // any chain, amounts as decimal strings
)

// canonicalV2 is the byte form of a version 2 intent: compact JSON, fields
// in this order. Compatibility: a field never changes meaning; new fields
// are optional and omitted when empty.
type canonicalV2 struct {
	Version      int    `json:"v"`
	WithdrawalID string `json:"withdrawal_id"`
	WalletID     string `json:"wallet_id"`
	Chain        string `json:"chain"`
	Network      string `json:"network"`
	Asset        string `json:"asset"`
	Destination  string `json:"destination"`
	Amount       Amount `json:"amount"`
	FeeCap       Amount `json:"fee_cap"`
	RequestedBy  string `json:"requested_by,omitempty"`
	Replaces     string `json:"replaces,omitempty"`
}

// canonicalV1 is the byte form of a version 1 intent (Bitcoin only).
type canonicalV1 struct {
	Version      int    `json:"v"`
	WithdrawalID string `json:"withdrawal_id"`
	WalletID     string `json:"wallet_id"`
	Network      string `json:"network"`
	Asset        string `json:"asset"`
	Destination  string `json:"destination"`
	AmountSat    int64  `json:"amount_sat"`
	FeeCapSat    int64  `json:"fee_cap_sat"`
	RequestedBy  string `json:"requested_by,omitempty"`
}

// ErrIntent is wrapped by every error of [ParseIntent] and [Intent.Check].
var ErrIntent = errors.New("chain: intent")

// Canonical returns the intent's canonical bytes, which originators sign.
// A version 1 intent whose amounts do not fit its form encodes as version
// 2; [ParseIntent] never returns one.
func (in Intent) Canonical() []byte {
	var v any
	a, aok := in.Amount.Int64()
	f, fok := in.FeeCap.Int64()
	if in.Version == IntentV1 && in.Chain == "bitcoin" && in.Replaces == "" && aok && fok {
		v = canonicalV1{IntentV1, in.WithdrawalID, in.WalletID, in.Network, in.Asset, in.Destination, a, f, in.RequestedBy}
	} else {
		v = canonicalV2{IntentV2, in.WithdrawalID, in.WalletID, in.Chain, in.Network, in.Asset, in.Destination,
			in.Amount, in.FeeCap, in.RequestedBy, in.Replaces}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and integers: cannot fail
	}
	return b
}

// ParseIntent reads canonical intent bytes of either version. Only the
// canonical spelling is accepted: whatever parses re-encodes to the very
// same bytes. It checks the encoding, not the meaning: see [Intent.Check]
// and the chain's CheckIntent.
func ParseIntent(b []byte) (Intent, error) {
	if len(b) > MaxIntentSize {
		return Intent{}, fmt.Errorf("%w: %d bytes, at most %d", ErrIntent, len(b), MaxIntentSize)
	}
	var head struct {
		Version int `json:"v"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Intent{}, fmt.Errorf("%w: %v", ErrIntent, err)
	}
	var in Intent
	switch head.Version {
	case IntentV1:
		var c canonicalV1
		if err := strictJSON(b, &c); err != nil {
			return Intent{}, err
		}
		if c.AmountSat < 0 || c.FeeCapSat < 0 {
			return Intent{}, fmt.Errorf("%w: negative amount", ErrIntent)
		}
		in = Intent{Version: IntentV1, WithdrawalID: c.WithdrawalID, WalletID: c.WalletID, Chain: "bitcoin", Network: c.Network,
			Asset: c.Asset, Destination: c.Destination, Amount: AmountOf(uint64(c.AmountSat)), FeeCap: AmountOf(uint64(c.FeeCapSat)),
			RequestedBy: c.RequestedBy}
	case IntentV2:
		var c canonicalV2
		if err := strictJSON(b, &c); err != nil {
			return Intent{}, err
		}
		in = Intent{Version: IntentV2, WithdrawalID: c.WithdrawalID, WalletID: c.WalletID, Chain: c.Chain, Network: c.Network,
			Asset: c.Asset, Destination: c.Destination, Amount: c.Amount, FeeCap: c.FeeCap, RequestedBy: c.RequestedBy, Replaces: c.Replaces}
	default:
		return Intent{}, fmt.Errorf("%w: version %d, want %d or %d", ErrIntent, head.Version, IntentV1, IntentV2)
	}
	if !bytes.Equal(in.Canonical(), b) {
		return Intent{}, fmt.Errorf("%w: not in canonical form", ErrIntent)
	}
	return in, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrIntent, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: bytes after the intent", ErrIntent)
	}
	return nil
}

// Check returns nil if the intent's chain-neutral fields are well formed,
// and otherwise a [*Refusal] naming the field's rule. The chain's
// CheckIntent checks the rest (network, asset, destination, amounts).
func (in Intent) Check() error {
	switch {
	case !ValidID(in.WithdrawalID):
		return Refuse(RuleIntentWithdrawalID, "withdrawal id %s is not 1 to %d of [A-Za-z0-9._:-]", Quote(in.WithdrawalID), MaxIDLen)
	case !ValidID(in.WalletID):
		return Refuse(RuleIntentWalletID, "wallet id %s is not 1 to %d of [A-Za-z0-9._:-]", Quote(in.WalletID), MaxIDLen)
	case in.RequestedBy != "" && !ValidID(in.RequestedBy):
		return Refuse(RuleIntentRequestedBy, "requested_by %s is not 1 to %d of [A-Za-z0-9._:-]", Quote(in.RequestedBy), MaxIDLen)
	case in.Replaces != "" && (!ValidID(in.Replaces) || in.Replaces == in.WithdrawalID):
		return Refuse(RuleIntentReplaces, "replaces %s is not another withdrawal id", Quote(in.Replaces))
	case in.Amount.Sign() <= 0:
		return Refuse(RuleIntentAmount, "amount %s is not positive", in.Amount)
	case in.FeeCap.Sign() <= 0:
		return Refuse(RuleIntentFeeCap, "fee cap %s is not positive", in.FeeCap)
	case in.Destination == "" || len(in.Destination) > MaxDestinationLen:
		return Refuse(RuleIntentDestinationInvalid, "destination is empty or longer than %d bytes", MaxDestinationLen)
	case in.Asset == "" || len(in.Asset) > MaxAssetLen:
		return Refuse(RuleIntentAsset, "asset %s is empty or longer than %d bytes", Quote(in.Asset), MaxAssetLen)
	}
	return nil
}

// ValidID reports whether s is 1 to MaxIDLen of [A-Za-z0-9._:-].
func ValidID(s string) bool {
	if len(s) < 1 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}
