package bitcoin

import (
	"errors"
	"strconv"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
)

// Errors returned by the package, always wrapped with detail; test for them
// with [errors.Is].
var (
	// The derivation errors of package bip32, for callers of this
	// package's aliases.
	ErrBadPath      = bip32.ErrBadPath
	ErrHardened     = bip32.ErrHardened
	ErrPathTooDeep  = bip32.ErrPathTooDeep
	ErrInvalidChild = bip32.ErrInvalidChild
	ErrBadKey       = bip32.ErrBadKey

	// ErrNetwork reports an unknown Network.
	ErrNetwork = errors.New("bitcoin: unknown network")

	// ErrRefused reports a withdrawal that policy does not allow. Every
	// error of [Rederive] is a [*Refusal] naming the rule, and matches
	// ErrRefused with errors.Is.
	ErrRefused = chain.ErrRefused

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
