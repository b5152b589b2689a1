package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// WithdrawalStatus is where a withdrawal is on this node.
type WithdrawalStatus string

// Statuses. A coordinator's withdrawal goes signing -> signed | failed; a
// member's is bound (it decided to allow it and bound the id) until it
// signs. Either waits in awaiting while the policy requires officers'
// approvals it does not have yet; a rejection makes it refused. A refused
// withdrawal keeps its id bound to the refused request.
const (
	WithdrawalRefused  WithdrawalStatus = "refused"
	WithdrawalAwaiting WithdrawalStatus = "awaiting"
	WithdrawalBound    WithdrawalStatus = "bound"
	WithdrawalSigning  WithdrawalStatus = "signing"
	WithdrawalSigned   WithdrawalStatus = "signed"
	WithdrawalFailed   WithdrawalStatus = "failed"
)

// Withdrawal is a node's record of one withdrawal id, bound forever to one
// request (intent and unsigned transaction). Stored as JSON; fields are
// only ever added.
type Withdrawal struct {
	ID          string           `json:"id"`
	WalletID    string           `json:"wallet_id"`
	Intent      []byte           `json:"intent"` // canonical intent bytes
	PSBT        []byte           `json:"psbt"`
	Hash        []byte           `json:"hash"` // the request hash the id is bound to
	Status      WithdrawalStatus `json:"status"`
	Rule        string           `json:"rule,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	Coordinator string           `json:"coordinator,omitempty"`
	Committee   []string         `json:"committee,omitempty"`
	Label       string           `json:"label,omitempty"`
	FeeSat      int64            `json:"fee_sat,omitempty"`
	OutflowSat  int64            `json:"outflow_sat,omitempty"`
	TxID        string           `json:"txid,omitempty"`
	Signatures  [][]byte         `json:"signatures,omitempty"`
	SignedTx    []byte           `json:"signed_tx,omitempty"`
	PolicyHash  []byte           `json:"policy_hash,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`

	IntentSignature []byte `json:"intent_signature,omitempty"`
	PolicyVersion   int64  `json:"policy_version,omitempty"`
	Originator      string `json:"originator,omitempty"`
	// Tier is the approval the decision required; nil if none.
	Tier *Tier `json:"tier,omitempty"`
	// Approvals are every approval and rejection received, in order.
	Approvals []Approval `json:"approvals,omitempty"`
}

// Tier is an approval requirement: Approvals officers of Group.
type Tier struct {
	MinAmountSat int64  `json:"min_amount_sat"`
	Approvals    int    `json:"approvals"`
	Group        string `json:"group"`
}

// Approval is an officer's signed approval or rejection as received.
type Approval struct {
	Officer    string    `json:"officer"`
	Statement  []byte    `json:"statement"`
	Signature  []byte    `json:"signature"`
	ReceivedAt time.Time `json:"received_at"`
}

// Final reports whether the withdrawal can no longer change.
func (w *Withdrawal) Final() bool {
	return w.Status == WithdrawalSigned || w.Status == WithdrawalRefused || w.Status == WithdrawalFailed
}

// BindWithdrawal records w unless its id is already bound. It returns the
// record that holds the id: w if it was new (with events appended), or the
// existing one, untouched, for the caller to compare.
func (s *Store) BindWithdrawal(w *Withdrawal, events ...Event) (*Withdrawal, bool, error) {
	var existing *Withdrawal
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWithdraw)
		if v := b.Get([]byte(w.ID)); v != nil {
			existing = new(Withdrawal)
			return json.Unmarshal(v, existing)
		}
		if err := putJSON(b, w.ID, w); err != nil {
			return err
		}
		return s.appendAll(tx, events)
	})
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		return existing, false, nil
	}
	return w, true, nil
}

// UpdateWithdrawal changes a withdrawal with fn and appends the events fn
// returns, in one transaction.
func (s *Store) UpdateWithdrawal(id string, fn func(w *Withdrawal) ([]Event, error)) (*Withdrawal, error) {
	var out *Withdrawal
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWithdraw)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: withdrawal %s", ErrNotFound, id)
		}
		var w Withdrawal
		if err := json.Unmarshal(v, &w); err != nil {
			return err
		}
		events, err := fn(&w)
		if err != nil {
			return err
		}
		if err := putJSON(b, id, &w); err != nil {
			return err
		}
		out = &w
		return s.appendAll(tx, events)
	})
	return out, err
}

// Withdrawal returns one withdrawal.
func (s *Store) Withdrawal(id string) (*Withdrawal, error) {
	var w Withdrawal
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketWithdraw).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: withdrawal %s", ErrNotFound, id)
		}
		return json.Unmarshal(v, &w)
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// Withdrawals returns withdrawals (of one wallet, if walletID is set),
// newest first, at most limit.
func (s *Store) Withdrawals(walletID string, limit int) ([]*Withdrawal, error) {
	var out []*Withdrawal
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWithdraw).ForEach(func(_, v []byte) error {
			var w Withdrawal
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			if walletID == "" || w.WalletID == walletID {
				out = append(out, &w)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b *Withdrawal) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Outflow sums, in one pass, what withdrawals of a wallet that this node
// allowed since each of the given times take from it (amounts and fees),
// except the withdrawal exclude: one sum per time. Refused (or rejected)
// and failed withdrawals take nothing; one awaiting approval does.
func (s *Store) Outflow(walletID, exclude string, since ...time.Time) ([]int64, error) {
	sums := make([]int64, len(since))
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWithdraw).ForEach(func(k, v []byte) error {
			var w Withdrawal
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			if w.WalletID != walletID || string(k) == exclude ||
				(w.Status != WithdrawalAwaiting && w.Status != WithdrawalBound && w.Status != WithdrawalSigning && w.Status != WithdrawalSigned) {
				return nil
			}
			for i, t := range since {
				if !w.CreatedAt.Before(t) {
					sums[i] += w.OutflowSat
				}
			}
			return nil
		})
	})
	return sums, err
}
