// Package bitcoin derives the keys and addresses of threshold Bitcoin
// wallets.
//
// A wallet's root is a [Key]: the 33-byte compressed secp256k1 public key of
// a tss-lib ECDSA key generation and the 32-byte chain code agreed in the
// same ceremony. Nobody holds the root's private key. Deposit and change
// addresses are BIP32 non-hardened children of the root:
//
//	child, err := root.Derive(bitcoin.ReceivePath(7)) // m/0/7
//	addr, err := bitcoin.P2WPKHAddress(child.PublicKey, bitcoin.Mainnet)
//
// [Key.Derive] follows BIP32's public child derivation (CKDpub) exactly, so
// any BIP32 wallet given the same public key and chain code derives the same
// children. It also returns the [Child.Tweak]: the scalar t with
// childPriv = rootPriv + t (mod n), which the signing nodes hand to tss-lib
// so that a committee holding shares of the root key signs for the child.
//
// Guarantees:
//   - Functions are pure: no I/O, no clock, no global state besides
//     btcd's chain parameters.
//   - Inputs are validated: public keys must be points on the curve, paths
//     must be non-hardened and at most [MaxPathDepth] deep; malformed
//     inputs return an error wrapping one of the package's sentinel errors
//     and never panic.
//   - [ParsePath] accepts exactly one spelling of each path, the one
//     [Path.String] writes.
//
// Nothing here is secret: the tweak can be computed by anyone who knows the
// root's public key and chain code. Those two reveal every address of the
// wallet, so they are private to the exchange, but they cannot move funds.
//
// The package does not derive hardened children (that needs the private
// key), does not parse or write extended keys (xpub), and knows only
// pay-to-witness-public-key-hash (P2WPKH) outputs.
package bitcoin
