// Package policy decides whether a countersign node may sign a transaction.
//
// Every decision and check in policy and its subpackages is pure: it does
// no network or disk I/O and reads no clock. (The signers of package keys,
// which officers and originating systems use, are the exception: they read
// key files and talk to ssh-agent. Verifying is pure.) Time, chain parameters and state are
// passed in by the caller. That is what lets the signer daemon, the
// officer CLI and the auditor run the very same checks on the very same
// bytes and reach the very same answer.
//
// Each chain has a subpackage: [github.com/countersign/countersign/policy/bitcoin]
// derives the keys and addresses of a threshold Bitcoin wallet.
//
// policy does not sign, hold secrets, or talk to tss-lib; it tells the
// signer what it may sign and with which key.
package policy
