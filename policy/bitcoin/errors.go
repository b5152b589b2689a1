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
)

// quote returns s quoted for an error message, cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
