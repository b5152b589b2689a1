// Package chain is the seam between the chain-neutral core of countersign
// (the node's withdrawal flow, policy decisions, approvals, velocity, the
// store, audit records, the officers' display and the auditor's replay) and
// the packages that know one blockchain each (policy/bitcoin,
// policy/ethereum).
//
// A chain package implements [Chain] and is listed in package
// policy/chains, the one registry that the node, the officer CLI and the
// auditor use. Given a canonical [Intent], the unsigned transaction bytes
// and the wallet's root [Key], a chain's Rederive decodes the transaction,
// checks that it does exactly what the intent says within the wallet's
// chain [Params], and returns a [Tx]: what must be signed ([SignItem]: the
// digest, or for EdDSA chains the exact message), the outflow per asset,
// the facts an officer sees and CEL rules read, the account nonce it uses
// (account chains), and, given the signatures, the finished transaction,
// checked before it is released ([Tx.Finish]).
//
// Guarantees:
//   - Everything here is pure: no I/O, no clock. State a decision depends
//     on (nonces already used) is passed in.
//   - The [Intent] has one byte form ([Intent.Canonical]); [ParseIntent]
//     accepts only that form, so one intent has one signature and one
//     request hash.
//   - [Amount] is an unsigned integer of base units of any size up to
//     2^256-1, written in decimal without sign or leading zeros.
//
// It is not: a wallet, a node client or a transaction builder. Builders
// for operators and tests live in the chain packages.
package chain
