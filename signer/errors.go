package signer

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors of the node. Each maps to one gRPC code in toStatus.
var (
	errInvalid      = errors.New("invalid argument")
	errNotFound     = errors.New("not found")
	errRefused      = errors.New("refused")
	errUnavailable  = errors.New("unavailable")
	errAborted      = errors.New("session aborted")
	errPermission   = errors.New("permission denied")
	errSessionEnded = errors.New("session has ended")
	errInboxFull    = errors.New("session inbox is full")
)

// ruleError is an error with a stable rule code (package policy's and
// the chain packages' rules, approval.*, withdrawal.id_reused): clients get
// the code in a google.rpc.ErrorInfo detail as well as in the message.
type ruleError struct {
	kind error // the sentinel that chooses the gRPC code
	rule string
	msg  string
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.kind }

// withRule returns an error of kind naming rule.
func withRule(kind error, rule, format string, a ...any) error {
	return &ruleError{kind: kind, rule: rule, msg: fmt.Sprintf("%v: %s", kind, fmt.Sprintf(format, a...))}
}

// ErrorDomain is the domain of the ErrorInfo details a node attaches to
// errors that name a rule; their reason is the rule code. Clients read it
// from package roster.
const ErrorDomain = roster.ErrorDomain

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, a...))
}

// toStatus maps an error to a gRPC status. Messages of the errors below are
// written for clients; anything else is internal, logged by the caller and
// answered with a generic message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, errInvalid), errors.Is(err, bip32.ErrBadPath), errors.Is(err, bip32.ErrHardened),
		errors.Is(err, bip32.ErrPathTooDeep), errors.Is(err, bip32.ErrInvalidChild):
		code = codes.InvalidArgument
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, errPermission):
		code = codes.PermissionDenied
	case errors.Is(err, errRefused), errors.Is(err, errConflict), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrState),
		errors.Is(err, errSessionEnded), errors.Is(err, store.ErrEmpty):
		code = codes.FailedPrecondition
	case errors.Is(err, errAborted), errors.Is(err, mpc.ErrBadMessage):
		code = codes.Aborted
	case errors.Is(err, errUnavailable), errors.Is(err, errInboxFull):
		code = codes.Unavailable
	case errors.Is(err, errThrottled):
		code = codes.ResourceExhausted
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	if code == codes.Internal {
		return status.Error(code, "internal error; see the node's log")
	}
	var re *ruleError
	if errors.As(err, &re) {
		st, derr := status.New(code, err.Error()).WithDetails(&errdetails.ErrorInfo{Reason: re.rule, Domain: ErrorDomain})
		if derr == nil {
			return st.Err()
		}
	}
	return status.Error(code, err.Error())
}

// statusMessage is an RPC error as a person reads it: code and message.
func statusMessage(err error) string {
	if s, ok := status.FromError(err); ok {
		return s.Code().String() + ": " + s.Message()
	}
	return err.Error()
}
