package bitcoin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// canonicalIntent is the byte form of an intent: what an originating
// system signs, what a node's request hash covers and what audit records
// carry. Compatibility: a field never changes meaning; new fields are
// optional and omitted when empty, so the bytes of older intents do not
// change.
type canonicalIntent struct {
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

// canonicalVersion is the "v" of canonical intents.
const canonicalVersion = 1

// ErrCanonical is wrapped by every error of [ParseCanonical].
var ErrCanonical = errors.New("bitcoin: intent encoding")

// Canonical returns the intent's canonical bytes: compact JSON with the
// fields in a fixed order. Originating systems sign exactly these bytes.
func (in Intent) Canonical() []byte {
	b, err := json.Marshal(canonicalIntent{canonicalVersion, in.WithdrawalID, in.WalletID, string(in.Network), in.Asset,
		in.Destination, in.Amount, in.FeeCap, in.RequestedBy})
	if err != nil {
		panic(err) // strings and integers: cannot fail
	}
	return b
}

// ParseCanonical reads canonical intent bytes. Only the canonical spelling
// is accepted: whatever parses re-encodes to the very same bytes, so one
// intent has one encoding, one signature and one request hash.
func ParseCanonical(b []byte) (Intent, error) {
	if len(b) > maxCanonicalIntent {
		return Intent{}, fmt.Errorf("%w: %d bytes, at most %d", ErrCanonical, len(b), maxCanonicalIntent)
	}
	var c canonicalIntent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Intent{}, fmt.Errorf("%w: %v", ErrCanonical, err)
	}
	if c.Version != canonicalVersion {
		return Intent{}, fmt.Errorf("%w: version %d, want %d", ErrCanonical, c.Version, canonicalVersion)
	}
	in := Intent{WithdrawalID: c.WithdrawalID, WalletID: c.WalletID, Network: Network(c.Network), Asset: c.Asset,
		Destination: c.Destination, Amount: c.AmountSat, FeeCap: c.FeeCapSat, RequestedBy: c.RequestedBy}
	if !bytes.Equal(in.Canonical(), b) {
		return Intent{}, fmt.Errorf("%w: not in canonical form", ErrCanonical)
	}
	return in, nil
}
