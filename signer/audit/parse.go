package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnknownKind: ParseBody was given a kind this package does not know. A
// log may hold such kinds (written by a newer node); they verify like any
// other record, and readers count or skip them.
var ErrUnknownKind = errors.New("audit: unknown kind")

// maxNodeID is the longest node id a body may name (pki.MaxNameLen or
// less).
const maxNodeID = 64

// bodyTypes maps every known kind to a new value of its body type.
var bodyTypes = map[Kind]func() any{
	KindGenesis:            func() any { return new(Genesis) },
	KindWalletCreated:      func() any { return new(WalletCreated) },
	KindWalletDiscarded:    func() any { return new(WalletDiscarded) },
	KindSessionStarted:     func() any { return new(SessionStarted) },
	KindSessionEnded:       func() any { return new(SessionEnded) },
	KindSessionAborted:     func() any { return new(SessionAborted) },
	KindCallRefused:        func() any { return new(CallRefused) },
	KindPeerHead:           func() any { return new(PeerHead) },
	KindWithdrawalReceived: func() any { return new(WithdrawalReceived) },
	KindWithdrawalDecided:  func() any { return new(WithdrawalDecided) },
	KindWithdrawalConflict: func() any { return new(WithdrawalConflict) },
	KindWithdrawalSigned:   func() any { return new(WithdrawalSigned) },
	KindWithdrawalFailed:   func() any { return new(WithdrawalFailed) },
	KindWithdrawalApproval: func() any { return new(WithdrawalApproval) },
	KindWithdrawalApproved: func() any { return new(WithdrawalApproved) },
	KindWithdrawalRejected: func() any { return new(WithdrawalRejected) },
	KindPolicyAccepted:     func() any { return new(PolicyAccepted) },
	KindPolicyRefused:      func() any { return new(PolicyRefused) },
}

// Known reports whether ParseBody knows kind.
func (k Kind) Known() bool {
	_, ok := bodyTypes[k]
	return ok
}

// ParseBody decodes the body of a record of kind into a pointer to its Go
// type: *Genesis for KindGenesis, *PeerHead for KindPeerHead, and so on.
// Fields a newer writer added (optional, by the rules of the package
// documentation) are ignored; the body must otherwise be one JSON object
// of the kind's type, with nothing after it. A body of a kind this package
// does not know is ErrUnknownKind; any other failure wraps ErrMalformed
// and says what is wrong. Verification never parses bodies: a record
// whose body does not parse can still be part of a valid log.
func ParseBody(kind Kind, body []byte) (any, error) {
	newBody, ok := bodyTypes[kind]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	v := newBody()
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("%w: %s body: %v", ErrMalformed, kind, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s body: data after the JSON object", ErrMalformed, kind)
	}
	if b, ok := v.(*PeerHead); ok {
		if _, err := b.Head(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// ParseBody parses the record's body; see [ParseBody].
func (r *Record) ParseBody() (any, error) { return ParseBody(r.Kind, r.Body) }

// Head checks a peer head read from a log, or received from a peer, and
// returns it: the peer must be a node id (1 to 64 of a-z, 0-9, '.', '_',
// '-') and the hash 64 lower-case hex digits, not all zero.
func (p *PeerHead) Head() (Head, error) {
	if err := CheckNodeID(p.Peer); err != nil {
		return Head{}, fmt.Errorf("%w: peer head: %v", ErrMalformed, err)
	}
	var h Head
	if len(p.Hash) != 2*len(h.Hash) {
		return Head{}, fmt.Errorf("%w: peer head of %s: hash of %d characters, want %d hex digits", ErrMalformed, p.Peer, len(p.Hash), 2*len(h.Hash))
	}
	if _, err := hex.Decode(h.Hash[:], []byte(p.Hash)); err != nil || hex.EncodeToString(h.Hash[:]) != p.Hash {
		return Head{}, fmt.Errorf("%w: peer head of %s: hash %q is not lower-case hex", ErrMalformed, p.Peer, p.Hash)
	}
	if h.Hash == ([32]byte{}) {
		return Head{}, fmt.Errorf("%w: peer head of %s: zero hash", ErrMalformed, p.Peer)
	}
	h.Seq = p.Seq
	return h, nil
}

// CheckNodeID says what makes id unfit to name a node in a body, or nil:
// it must be 1 to 64 of a-z, 0-9, '.', '_' and '-'.
func CheckNodeID(id string) error {
	if len(id) == 0 || len(id) > maxNodeID {
		return fmt.Errorf("node id of %d bytes, want 1 to %d", len(id), maxNodeID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("node id %q: character %d not in [a-z0-9._-]", id, i)
		}
	}
	return nil
}
