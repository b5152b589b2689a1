package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// FileVersion is the version of the policy file this code reads.
const FileVersion = 1

// File is a node's policy: per wallet, where it may send, how much and how
// fast. It is read from a strict JSON file; unknown fields are refused.
// Officer-signed policy bundles will replace it, keeping Decide's shape.
//
// Compatibility: fields are only added, optional, and never change
// meaning; a change old nodes must not misread bumps Version.
type File struct {
	Version int                     `json:"version"`
	Wallets map[string]*WalletRules `json:"wallets"`

	raw []byte // the exact bytes read: what Hash covers
}

// WalletRules is one wallet's policy.
type WalletRules struct {
	// AnyDestination lets a hot wallet pay any address; otherwise only
	// Destinations are allowed.
	AnyDestination bool          `json:"any_destination,omitempty"`
	Destinations   []Destination `json:"destinations,omitempty"`
	// MaxAmountSat caps one withdrawal's amount.
	MaxAmountSat int64 `json:"max_amount_sat"`
	// DailyCapSat caps what leaves the wallet (amounts and fees) in any
	// rolling 24 hours, as this node recorded it.
	DailyCapSat int64 `json:"daily_cap_sat"`
	// MaxFeeSat caps one withdrawal's fee.
	MaxFeeSat int64 `json:"max_fee_sat"`
	// AllowRBF allows the replace-by-fee sequence 0xfffffffd.
	AllowRBF bool `json:"allow_rbf,omitempty"`
	// MaxLockTime is the highest block height a lock time may name; 0
	// allows only lock time 0.
	MaxLockTime uint32 `json:"max_lock_time,omitempty"`
}

// Destination is an allowed address and the label officers know it by.
type Destination struct {
	Address string `json:"address"`
	Label   string `json:"label"`
}

// ErrFile is wrapped by every policy file error.
var ErrFile = errors.New("policy: file")

var walletIDPattern = regexp.MustCompile(`^w-[0-9a-f]{16}$`)

// maxSat is the most satoshis there will ever be.
const maxSat = 21_000_000 * 100_000_000

// ParseFile reads and checks a policy file.
func ParseFile(raw []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the policy object", ErrFile)
	}
	if f.Version != FileVersion {
		return nil, fmt.Errorf("%w: version %d, this code reads %d", ErrFile, f.Version, FileVersion)
	}
	for id, w := range f.Wallets {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: wallets.%s: %s", ErrFile, id, fmt.Sprintf(format, a...))
		}
		switch {
		case !walletIDPattern.MatchString(id):
			return nil, bad("not a wallet id")
		case w == nil:
			return nil, bad("empty")
		case w.AnyDestination == (len(w.Destinations) > 0):
			return nil, bad("set either any_destination or destinations")
		case w.MaxAmountSat <= 0 || w.MaxAmountSat > maxSat:
			return nil, bad("max_amount_sat must be 1 to %d", int64(maxSat))
		case w.DailyCapSat < w.MaxAmountSat || w.DailyCapSat > maxSat:
			return nil, bad("daily_cap_sat must be at least max_amount_sat")
		case w.MaxFeeSat <= 0 || w.MaxFeeSat > maxSat:
			return nil, bad("max_fee_sat must be positive")
		case w.MaxLockTime >= 500_000_000:
			return nil, bad("max_lock_time is a block height, below 500000000")
		}
		for i, d := range w.Destinations {
			if d.Address == "" || len(d.Label) == 0 || len(d.Label) > 64 {
				return nil, bad("destinations[%d]: needs an address and a label of 1-64 bytes", i)
			}
		}
	}
	f.raw = bytes.Clone(raw)
	return &f, nil
}

// Hash is SHA-256 of the file's exact bytes: decisions record it.
func (f *File) Hash() [32]byte { return sha256.Sum256(f.raw) }
