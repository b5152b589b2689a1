package mpc

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Check errors wrap ErrBadMessage; protocol failures are
// *Error values that name the culprits when they can be named.
var (
	ErrBadMessage   = errors.New("mpc: bad message")
	ErrBadPreParams = errors.New("mpc: invalid pre-parameters")
	ErrBadShare     = errors.New("mpc: invalid share")
	ErrBadCommittee = errors.New("mpc: invalid committee")
	ErrFinished     = errors.New("mpc: protocol already finished")
)

// Error is a failed protocol run. Culprits are node ids the protocol holds
// responsible; it may be empty when nobody can be named.
type Error struct {
	Reason   string
	Culprits []string
	cause    error
}

func (e *Error) Error() string {
	if len(e.Culprits) == 0 {
		return "mpc: " + e.Reason
	}
	return fmt.Sprintf("mpc: %s (culprits: %s)", e.Reason, strings.Join(e.Culprits, ", "))
}

func (e *Error) Unwrap() error { return e.cause }

// badMessage reports a message that failed a check, blaming its sender.
func badMessage(from, format string, a ...any) error {
	return &Error{
		Reason:   fmt.Sprintf("bad message from %s: %s", from, fmt.Sprintf(format, a...)),
		Culprits: []string{from},
		cause:    ErrBadMessage,
	}
}
