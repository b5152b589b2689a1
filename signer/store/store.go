// Package store is a signer node's one bbolt file: wallets, sealed key
// shares, the sealed pre-parameter pool, withdrawals, the policy bundles
// and the audit log. It is the only package that imports bbolt (the
// auditor reads node files and writes synthetic logs through it).
//
// Every change of state and its audit record are written in one bbolt
// transaction, so the log never misses or invents a change. Secrets arrive
// already sealed (package hsm); this package never sees plaintext.
//
// Buckets (all keys that order records are big-endian uint64):
//
//	wallets     wallet id     -> Wallet as JSON
//	shares      wallet id     -> sealed share
//	preparams   sequence      -> sealed pre-parameters
//	withdrawals withdrawal id -> Withdrawal as JSON: the request the id is
//	                             bound to, the decision's figures, the
//	                             account nonce it holds, its approvals and
//	                             signatures
//	policy      version       -> Policy as JSON (every accepted bundle)
//	audit       sequence      -> encoded audit.Record (format: package audit)
//
// Velocity (Outflow) and account nonces (Nonce) are read from the
// withdrawals themselves, so they can never disagree with them.
//
// A damaged file is refused, not served: Open, OpenOffline and
// OpenAuditLog check it first (check.go) and return a [*DamageError]
// naming what is damaged, and bbolt's panics on a damaged page become
// errors. Nothing writes to a file found damaged.
package store

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/signer/audit"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketWallets   = []byte("wallets")
	bucketShares    = []byte("shares")
	bucketPreParams = []byte("preparams")
	bucketAudit     = []byte("audit")
	bucketWithdraw  = []byte("withdrawals")
	bucketPolicy    = []byte("policy")
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrEmpty    = errors.New("store: pool is empty")
	ErrState    = errors.New("store: wrong state")
)

// WalletState is where a wallet is in its life.
type WalletState string

// States of a wallet. A pending wallet has a share but is not usable until
// the key generation's coordinator commits it on every node.
const (
	WalletPending   WalletState = "pending"
	WalletActive    WalletState = "active"
	WalletDiscarded WalletState = "discarded"
)

// Wallet is what a node knows of a wallet besides its share. Stored as JSON;
// fields are only ever added.
type Wallet struct {
	ID          string      `json:"id"`
	Label       string      `json:"label"`
	PublicKey   []byte      `json:"public_key"`
	ChainCode   []byte      `json:"chain_code"`
	Threshold   int         `json:"threshold"`
	Nodes       []string    `json:"nodes"`
	State       WalletState `json:"state"`
	SessionID   []byte      `json:"session_id"`
	Coordinator string      `json:"coordinator"`
	CreatedAt   time.Time   `json:"created_at"`
	// Scheme is the wallet's signature scheme; records written before it
	// existed are ECDSA secp256k1 (see SchemeOf).
	Scheme chain.Scheme `json:"scheme,omitempty"`
}

// SchemeOf returns the wallet's signature scheme, of new and old records.
func (w *Wallet) SchemeOf() chain.Scheme {
	if w.Scheme == "" {
		return chain.ECDSASecp256k1
	}
	return w.Scheme
}

// Event is an audit record to append with a change.
type Event struct {
	Kind audit.Kind
	Body any
}

// Store is an open node database.
type Store struct {
	db  *bolt.DB
	key crypto.Signer
	now func() time.Time

	mu   sync.Mutex // serializes audit appends with head
	head *audit.Record
}

// Open opens (creating if needed) the database at path, with the checks
// of OpenWith and its default options.
func Open(path string, key crypto.Signer, genesis audit.Genesis, now func() time.Time) (*Store, error) {
	return OpenWith(path, key, genesis, now, OpenOptions{})
}

// OpenWith opens (creating if needed) the database at path. key signs
// audit records; a new log starts with a genesis record naming the node
// and its certificate. An existing file is checked first (see check.go):
// a damaged one is refused with a [*DamageError] naming what is damaged,
// and is not written to.
func OpenWith(path string, key crypto.Signer, genesis audit.Genesis, now func() time.Time, opt OpenOptions) (*Store, error) {
	if err := verify(path, key.Public(), opt); err != nil {
		return nil, err
	}
	db, err := openBolt(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, key: key, now: now}
	err = db.Update(func(tx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = damaged(path, fmt.Sprint(r))
			}
		}()
		for _, b := range [][]byte{bucketWallets, bucketShares, bucketPreParams, bucketAudit, bucketWithdraw, bucketPolicy} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		k, v := tx.Bucket(bucketAudit).Cursor().Last()
		if k == nil {
			return s.appendTx(tx, Event{audit.KindGenesis, &genesis})
		}
		r, err := audit.Decode(v)
		if err != nil {
			return fmt.Errorf("store: last audit record: %w", err)
		}
		s.head = r
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// appendTx appends an audit record inside tx; the caller holds s.mu (see
// update), or is Open.
func (s *Store) appendTx(tx *bolt.Tx, e Event) error {
	body, err := audit.Body(e.Body)
	if err != nil {
		return err
	}
	r, err := audit.Next(s.head, e.Kind, body, s.now(), s.key)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketAudit).Put(seqKey(r.Seq), r.Encode()); err != nil {
		return err
	}
	s.head = r
	return nil
}

// update runs fn in a write transaction and keeps the cached audit head in
// step with what was committed.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.head
	err := s.db.Update(fn)
	if err != nil {
		s.head = prev // nothing was written: the cached head goes back too
	}
	return err
}

// Append writes audit records on their own.
func (s *Store) Append(events ...Event) error {
	return s.update(func(tx *bolt.Tx) error {
		for _, e := range events {
			if err := s.appendTx(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Head is the newest audit record's sequence number and hash.
func (s *Store) Head() audit.Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head.Head()
}

// PutPendingWallet stores a wallet in the pending state with its sealed
// share. A wallet id is used once: an existing one is refused.
func (s *Store) PutPendingWallet(w *Wallet, sealedShare []byte, events ...Event) error {
	if w.State != WalletPending {
		return fmt.Errorf("%w: new wallet in state %s", ErrState, w.State)
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWallets)
		if b.Get([]byte(w.ID)) != nil {
			return fmt.Errorf("%w: wallet %s", ErrExists, w.ID)
		}
		if err := putJSON(b, w.ID, w); err != nil {
			return err
		}
		if err := tx.Bucket(bucketShares).Put([]byte(w.ID), sealedShare); err != nil {
			return err
		}
		return s.appendAll(tx, events)
	})
}

// SetWalletState moves a wallet from one state to another. Discarding
// deletes its share.
func (s *Store) SetWalletState(id string, from, to WalletState, events ...Event) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWallets)
		w, err := getWallet(b, id)
		if err != nil {
			return err
		}
		if w.State != from {
			return fmt.Errorf("%w: wallet %s is %s, not %s", ErrState, id, w.State, from)
		}
		w.State = to
		if to == WalletDiscarded {
			if err := tx.Bucket(bucketShares).Delete([]byte(id)); err != nil {
				return err
			}
		}
		if err := putJSON(b, id, w); err != nil {
			return err
		}
		return s.appendAll(tx, events)
	})
}

func (s *Store) appendAll(tx *bolt.Tx, events []Event) error {
	for _, e := range events {
		if err := s.appendTx(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// Wallet returns one wallet.
func (s *Store) Wallet(id string) (*Wallet, error) {
	var w *Wallet
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		w, err = getWallet(tx.Bucket(bucketWallets), id)
		return err
	})
	return w, err
}

// Wallets returns every wallet, ordered by id.
func (s *Store) Wallets() ([]*Wallet, error) {
	var out []*Wallet
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWallets).ForEach(func(k, v []byte) error {
			var w Wallet
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("store: wallet %s: %w", k, err)
			}
			out = append(out, &w)
			return nil
		})
	})
	return out, err
}

// SealedShare returns a wallet's sealed share.
func (s *Store) SealedShare(id string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketShares).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: share of wallet %s", ErrNotFound, id)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

func getWallet(b *bolt.Bucket, id string) (*Wallet, error) {
	v := b.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: wallet %s", ErrNotFound, id)
	}
	var w Wallet
	if err := json.Unmarshal(v, &w); err != nil {
		return nil, fmt.Errorf("store: wallet %s: %w", id, err)
	}
	return &w, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// PushPreParams adds sealed pre-parameters to the pool.
func (s *Store) PushPreParams(sealed []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPreParams)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(seqKey(n), sealed)
	})
}

// PopPreParams removes and returns the oldest sealed pre-parameters. Each
// set is used for one key generation only.
func (s *Store) PopPreParams() ([]byte, error) {
	var out []byte
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPreParams).Cursor()
		k, v := c.First()
		if k == nil {
			return ErrEmpty
		}
		out = bytes.Clone(v)
		return c.Delete()
	})
	return out, err
}

// CountPreParams is the pool's size.
func (s *Store) CountPreParams() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPreParams).Stats().KeyN
		return nil
	})
	return n
}

// ForEachAudit calls fn with every audit record's key and encoding, in
// order, from one consistent snapshot.
func (s *Store) ForEachAudit(fn func(seq uint64, raw []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("store: audit key of %d bytes", len(k))
			}
			return fn(binary.BigEndian.Uint64(k), v)
		})
	})
}

// Snapshot writes a consistent copy of the whole database to w, without
// stopping writers.
func (s *Store) Snapshot(w io.Writer) error {
	return s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
}

// Check verifies the database's internal consistency (bbolt's page
// checks); tests run it after every cluster test.
func Check(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}
