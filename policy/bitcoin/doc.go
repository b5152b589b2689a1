// Package bitcoin derives the keys and addresses of threshold Bitcoin
// wallets, and re-derives from its unsigned transaction what a withdrawal
// from such a wallet does.
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
//     btcd's chain parameters. The same arguments give the same verdict,
//     and the same refusal, on every machine.
//   - Inputs are validated: public keys must be points on the curve, paths
//     must be non-hardened and at most [MaxPathDepth] deep; malformed
//     inputs return an error wrapping one of the package's sentinel errors
//     and never panic.
//   - [ParsePath] accepts exactly one spelling of each path, the one
//     [Path.String] writes.
//
// # Withdrawals
//
// [Rederive] is what a node runs before it signs: it decodes the unsigned
// transaction of a withdrawal (a BIP174 PSBT from the backend, which may
// be hostile) and checks it against the backend's [Intent] and the node's
// [Limits]. It trusts nothing the PSBT claims. Input values and scripts
// come from each input's full previous transaction, whose id must be the
// outpoint's, so a witness_utxo understating an amount (the 2020 fee
// attack on BIP143) is refused rather than believed. Every key is derived
// here from the wallet's root at the path the PSBT claims and must pay
// the very script spent or paid. Exactly one output pays the intent's
// destination exactly the intent's amount; every other output pays the
// wallet's own change key m/1/i; the fee is within the intent's cap and
// the policy's. On success it returns the [Withdrawal] with the BIP143
// SIGHASH_ALL digest of each input, the only values a node signs, and the
// tweak that moves the root key to each input's key. Anything else is a
// [*Refusal] naming a stable [Rule].
//
// [Withdrawal.Finalize] puts the signatures into the transaction and runs
// btcd's script engine on every input before returning it.
// [BuildWithdrawal] makes PSBTs that Rederive accepts, for operators and
// tests.
//
// Rederive does not know the chain: it cannot tell whether a previous
// transaction was ever mined or an output is still unspent. A previous
// transaction made up to match its outpoint gives a transaction that can
// never be mined, and SIGHASH_ALL binds every signature to it.
//
// Nothing here is secret: the tweak can be computed by anyone who knows the
// root's public key and chain code. Those two reveal every address of the
// wallet, so they are private to the exchange, but they cannot move funds.
//
// The package does not derive hardened children (that needs the private
// key), does not parse or write extended keys (xpub), and spends and
// makes change only to pay-to-witness-public-key-hash (P2WPKH) outputs; it
// pays P2PKH, P2SH, P2WPKH, P2WSH and P2TR destinations.
package bitcoin
