// Package bip32 derives the keys of threshold secp256k1 wallets by BIP32
// public (non-hardened) derivation.
//
// A wallet's root is a [Key]: the 33-byte compressed secp256k1 public key
// of a tss-lib ECDSA key generation and the 32-byte chain code agreed in
// the same ceremony. Nobody holds the root's private key. Addresses of
// every chain that signs with secp256k1 (Bitcoin, Ethereum) are children
// of the root:
//
//	child, err := root.Derive(bip32.ReceivePath(7)) // m/0/7
//
// [Key.Derive] follows BIP32's CKDpub exactly, so any BIP32 wallet given
// the same public key and chain code derives the same children. It also
// returns the [Child.Tweak]: the scalar t with childPriv = rootPriv + t
// (mod n), which the signing nodes hand to tss-lib so that a committee
// holding shares of the root key signs for the child.
//
// Guarantees: functions are pure; public keys must be points on the
// curve, paths non-hardened and at most [MaxPathDepth] deep; malformed
// inputs return an error wrapping one of the package's sentinel errors and
// never panic; [ParsePath] accepts exactly one spelling of each path, the
// one [Path.String] writes.
//
// It does not derive hardened children (that needs the private key) and
// does not parse or write extended keys (xpub).
package bip32

import (
	"errors"
	"strconv"
)

// MaxPathDepth is the greatest number of components in a derivation path.
// Wallet addresses use two (m/0/i and m/1/i).
const MaxPathDepth = 4

// Errors of the package.
var (
	// ErrBadPath reports a path that does not parse.
	ErrBadPath = errors.New("bip32: malformed derivation path")
	// ErrHardened reports a hardened index: only public derivation is
	// possible without the private key.
	ErrHardened = errors.New("bip32: hardened index in derivation path")
	// ErrPathTooDeep reports a path of more than MaxPathDepth indexes.
	ErrPathTooDeep = errors.New("bip32: derivation path too deep")
	// ErrInvalidChild reports an index at which BIP32 defines no child
	// (probability about 2^-127); skip the index.
	ErrInvalidChild = errors.New("bip32: no valid child key at this path")
	// ErrBadKey reports a public key that is not a compressed point on
	// secp256k1.
	ErrBadKey = errors.New("bip32: not a compressed secp256k1 public key")
)

func quote(s string) string {
	const maxQuoted = 64
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
