package keys

import (
	"errors"
	"strconv"
)

// Errors returned by the package, always wrapped with detail; test for them
// with [errors.Is].
var (
	// ErrBadSignature reports a signature that is malformed, or made by
	// another key, for another namespace or over another message.
	ErrBadSignature = errors.New("keys: bad signature")

	// ErrBadPublicKey reports a public key that is not one
	// authorized_keys line of an accepted type.
	ErrBadPublicKey = errors.New("keys: bad public key")
)

// Why a signature is bad. They are wrapped inside [ErrBadSignature] so that
// tests can tell which check refused a signature; callers need only
// ErrBadSignature.
var (
	errMalformed    = errors.New("malformed")
	errWrongKey     = errors.New("wrong key")
	errWrongNS      = errors.New("wrong namespace")
	errDoesNotCheck = errors.New("does not verify")
)

// quote returns s quoted for an error message, cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
