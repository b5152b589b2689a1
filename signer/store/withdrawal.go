package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/policy/chain"
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
	ID       string `json:"id"`
	WalletID string `json:"wallet_id"`
	Intent   []byte `json:"intent"` // canonical intent bytes
	// PSBT is the unsigned transaction of records written before
	// UnsignedTx existed (Bitcoin only); read both with [Withdrawal.Tx].
	PSBT        []byte           `json:"psbt,omitempty"`
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

	// UnsignedTx is the unsigned transaction, on any chain; empty for a
	// request refused by its decision, which is kept by Hash alone.
	UnsignedTx []byte `json:"unsigned_tx,omitempty"`
	// Fee is the (worst-case) fee in base units of FeeAsset, and Outflow
	// what the withdrawal takes from the wallet per asset; records
	// written before them have FeeSat and OutflowSat (BTC).
	Fee      chain.Amount  `json:"fee,omitzero"`
	FeeAsset string        `json:"fee_asset,omitempty"`
	Outflow  chain.Amounts `json:"outflow,omitempty"`
	// Nonce is the account nonce the withdrawal holds (account chains).
	Nonce *Nonce `json:"nonce,omitempty"`
	// Replaces is the withdrawal whose nonce this one took over.
	Replaces string `json:"replaces,omitempty"`
}

// Nonce is an account nonce held by a withdrawal.
type Nonce struct {
	Account string `json:"account"`
	Nonce   uint64 `json:"nonce"`
}

// Tx returns the unsigned transaction, of new and old records.
func (w *Withdrawal) Tx() []byte {
	if len(w.UnsignedTx) > 0 {
		return w.UnsignedTx
	}
	return w.PSBT
}

// FeeOf returns the fee and its asset, of new and old records.
func (w *Withdrawal) FeeOf() (chain.Amount, string) {
	if w.FeeAsset != "" {
		return w.Fee, w.FeeAsset
	}
	return chain.AmountOf(uint64(max(w.FeeSat, 0))), "BTC"
}

// OutflowOf returns the outflow per asset, of new and old records.
func (w *Withdrawal) OutflowOf() chain.Amounts {
	if w.Outflow != nil {
		return w.Outflow
	}
	if w.OutflowSat > 0 {
		return chain.Amounts{"BTC": chain.AmountOf(uint64(w.OutflowSat))}
	}
	return nil
}

// holdsNonce reports whether w still holds its account nonce: from the
// decision that allowed it on, unless it was refused (an officer's
// rejection). A failed withdrawal keeps it: another node may have signed
// it, so its nonce is taken over only by a replacement.
func (w *Withdrawal) holdsNonce() bool {
	return w.Nonce != nil && w.Status != WithdrawalRefused
}

// Tier is an approval requirement: Approvals officers of Group.
type Tier struct {
	MinAmountSat int64  `json:"min_amount_sat"`
	Approvals    int    `json:"approvals"`
	Group        string `json:"group"`
	// Asset and MinAmount: the tier's threshold on any chain; records
	// written before them have MinAmountSat (BTC).
	Asset     string       `json:"asset,omitempty"`
	MinAmount chain.Amount `json:"min_amount,omitzero"`
}

// Threshold returns the tier's asset and amount, of new and old records.
func (t *Tier) Threshold() (string, chain.Amount) {
	if t.Asset != "" {
		return t.Asset, t.MinAmount
	}
	return "BTC", chain.AmountOf(uint64(max(t.MinAmountSat, 0)))
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
// allowed since each of the given times take from it per asset (amounts
// and fees), except the withdrawal exclude: one sum per time. Refused (or
// rejected) and failed withdrawals take nothing; one awaiting approval
// does.
func (s *Store) Outflow(walletID, exclude string, since ...time.Time) ([]chain.Amounts, error) {
	sums := make([]chain.Amounts, len(since))
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
			out := w.OutflowOf()
			for i, t := range since {
				if !w.CreatedAt.Before(t) {
					sum, ok := sums[i].Plus(out)
					if !ok {
						return fmt.Errorf("store: outflow of wallet %s overflows", walletID)
					}
					sums[i] = sum
				}
			}
			return nil
		})
	})
	return sums, err
}

// NonceState is what this node knows of one account's nonces: the next
// unsigned one (one above the highest held), and who holds nonce.
type NonceState struct {
	Known  bool
	Next   uint64
	Holder *Withdrawal // nil if no withdrawal holds nonce
}

// Nonce reads an account's nonces from the withdrawals that hold them,
// except the withdrawal exclude (the one being decided, which may hold its
// nonce already). When a replacement holds a nonce beside the withdrawal
// it replaced, the newer one is the holder.
func (s *Store) Nonce(account string, nonce uint64, exclude string) (NonceState, error) {
	var st NonceState
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWithdraw).ForEach(func(_, v []byte) error {
			var w Withdrawal
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			if !w.holdsNonce() || w.Nonce.Account != account || w.ID == exclude {
				return nil
			}
			if !st.Known || w.Nonce.Nonce+1 > st.Next {
				st.Known, st.Next = true, w.Nonce.Nonce+1
			}
			if w.Nonce.Nonce == nonce && (st.Holder == nil || w.CreatedAt.After(st.Holder.CreatedAt)) {
				st.Holder = &w
			}
			return nil
		})
	})
	return st, err
}
