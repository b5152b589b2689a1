package bitcoin

import (
	"errors"
	"strconv"
)

// Errors returned by the package, always wrapped with detail; test for them
// with [errors.Is].
var (
	// ErrBadPath reports a derivation path that is not written as
	// ParsePath requires.
	ErrBadPath = errors.New("bitcoin: malformed derivation path")

	// ErrHardened reports a hardened index (≥ 2³¹) in a derivation path.
	// Hardened children need the private key, which no one holds.
	ErrHardened = errors.New("bitcoin: hardened index in derivation path")

	// ErrPathTooDeep reports a derivation path of more than MaxPathDepth
	// components.
	ErrPathTooDeep = errors.New("bitcoin: derivation path too deep")

	// ErrInvalidChild reports that BIP32 defines no child at a path: an
	// intermediate value was zero, not below the curve order, or gave the
	// point at infinity. This happens with probability below 2⁻¹²⁷ per
	// index; per BIP32, the caller skips to the next index.
	ErrInvalidChild = errors.New("bitcoin: no valid child key at this path")

	// ErrBadKey reports bytes that are not a compressed secp256k1 public
	// key.
	ErrBadKey = errors.New("bitcoin: not a compressed secp256k1 public key")

	// ErrNetwork reports an unknown Network.
	ErrNetwork = errors.New("bitcoin: unknown network")

	// ErrRefused reports a withdrawal that policy does not allow. Every
	// error of [Rederive] is a [*Refusal] naming the rule, and matches
	// ErrRefused with errors.Is.
	ErrRefused = errors.New("bitcoin: refused")

	// ErrSignature reports signatures that do not make a valid
	// transaction: wrong count, values out of range, or a script that
	// fails in btcd's script engine.
	ErrSignature = errors.New("bitcoin: signatures do not verify")

	// ErrFunds reports coins that do not cover a withdrawal's amount and
	// fee, or a fee above the intent's cap.
	ErrFunds = errors.New("bitcoin: insufficient funds")

	// ErrUTXO reports a coin that the wallet cannot spend as a P2WPKH
	// input at the path given.
	ErrUTXO = errors.New("bitcoin: coin not spendable by the wallet")
)

// quote returns s quoted for an error message, cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
