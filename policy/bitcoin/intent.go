package bitcoin

import (
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/policy/chain"
)

// Asset is the only asset a Bitcoin intent may name.
const Asset = "BTC"

// Intent is a withdrawal as the exchange's backend asks for it. It is
// checked, never trusted: [Rederive] signs only a transaction that does
// exactly what the intent says.
type Intent struct {
	// WithdrawalID is the backend's idempotency key: 1 to
	// [MaxWithdrawalIDLen] of A-Z, a-z, 0-9 and ". _ : -".
	WithdrawalID string
	// WalletID names the wallet paying, spelled as WithdrawalID.
	WalletID string
	// Network is the network of the wallet and of Destination.
	Network Network
	// Asset is "BTC".
	Asset string
	// Destination is the address paid: P2PKH, P2SH, P2WPKH, P2WSH or
	// P2TR, of Network, spelled as btcutil encodes it (bech32 in lower
	// case).
	Destination string
	// Amount is what Destination receives, in satoshis, 1..[MaxSatoshi].
	Amount int64
	// FeeCap is the greatest fee the backend accepts, in satoshis,
	// 1..[MaxSatoshi].
	FeeCap int64
	// RequestedBy optionally names the officer who asked for the
	// withdrawal, spelled as WithdrawalID; that officer's approval never
	// counts for it.
	RequestedBy string
}

// destination is an intent's destination, decoded.
type destination struct {
	address  btcutil.Address
	pkScript []byte
}

// check returns the intent's destination, or a refusal if the intent is
// not well formed.
func (in *Intent) check() (destination, *Refusal) {
	if !validID(in.WithdrawalID) {
		return destination{}, refuse(RuleIntentWithdrawalID, "withdrawal id %s is not 1 to %d of [A-Za-z0-9._:-]", quote(in.WithdrawalID), MaxWithdrawalIDLen)
	}
	if !validID(in.WalletID) {
		return destination{}, refuse(RuleIntentWalletID, "wallet id %s is not 1 to %d of [A-Za-z0-9._:-]", quote(in.WalletID), MaxWithdrawalIDLen)
	}
	params, err := ParamsFor(in.Network)
	if err != nil {
		return destination{}, refuse(RuleIntentNetwork, "%v", err)
	}
	if in.RequestedBy != "" && !validID(in.RequestedBy) {
		return destination{}, refuse(RuleIntentRequestedBy, "requested_by %s is not 1 to %d of [A-Za-z0-9._:-]", quote(in.RequestedBy), MaxWithdrawalIDLen)
	}
	if in.Asset != Asset {
		return destination{}, refuse(RuleIntentAsset, "asset %s, want %q", quote(in.Asset), Asset)
	}
	if in.Amount < 1 || in.Amount > MaxSatoshi {
		return destination{}, refuse(RuleIntentAmount, "amount %d sats is not in 1..%d", in.Amount, int64(MaxSatoshi))
	}
	if in.FeeCap < 1 || in.FeeCap > MaxSatoshi {
		return destination{}, refuse(RuleIntentFeeCap, "fee cap %d sats is not in 1..%d", in.FeeCap, int64(MaxSatoshi))
	}

	addr, err := btcutil.DecodeAddress(in.Destination, params)
	if err != nil || !addr.IsForNet(params) {
		for _, other := range networks {
			if other == in.Network {
				continue
			}
			p, _ := ParamsFor(other)
			if a, err := btcutil.DecodeAddress(in.Destination, p); err == nil && a.IsForNet(p) {
				return destination{}, refuse(RuleIntentDestinationNetwork, "destination %s is an address of %s, the intent is on %s", quote(in.Destination), other, in.Network)
			}
		}
		if err != nil {
			return destination{}, refuse(RuleIntentDestinationInvalid, "destination %s is not a %s address: %v", quote(in.Destination), in.Network, err)
		}
		return destination{}, refuse(RuleIntentDestinationNetwork, "destination %s is not an address of %s", quote(in.Destination), in.Network)
	}
	switch addr.(type) {
	case *btcutil.AddressPubKeyHash, *btcutil.AddressScriptHash,
		*btcutil.AddressWitnessPubKeyHash, *btcutil.AddressWitnessScriptHash,
		*btcutil.AddressTaproot:
	default:
		return destination{}, refuse(RuleIntentDestinationType, "destination %s is a %T, want P2PKH, P2SH, P2WPKH, P2WSH or P2TR", quote(in.Destination), addr)
	}
	if canonical := addr.EncodeAddress(); canonical != in.Destination {
		return destination{}, refuse(RuleIntentDestinationSpelling, "destination %s is spelled %s by the address encoder", quote(in.Destination), quote(canonical))
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return destination{}, refuse(RuleIntentDestinationType, "destination %s: %v", quote(in.Destination), err)
	}
	return destination{address: addr, pkScript: script}, nil
}

// Check returns nil if the intent is well formed, and otherwise the
// [*Refusal] that [Rederive] would return for it whatever the PSBT.
func (in Intent) Check() error {
	if _, r := in.check(); r != nil {
		return r
	}
	return nil
}

// CheckID returns nil if the intent's withdrawal id is well formed: 1 to
// [MaxWithdrawalIDLen] of [A-Za-z0-9._:-].
func (in Intent) CheckID() error {
	if !validID(in.WithdrawalID) {
		return refuse(RuleIntentWithdrawalID, "withdrawal id %s is not 1 to %d of [A-Za-z0-9._:-]", quote(in.WithdrawalID), MaxWithdrawalIDLen)
	}
	return nil
}

// validID reports whether s is 1 to MaxWithdrawalIDLen of [A-Za-z0-9._:-]:
// the chain-neutral rule of package chain.
func validID(s string) bool { return chain.ValidID(s) }
