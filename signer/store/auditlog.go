package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// auditWriteBatch is how many records an AuditWriter commits at once.
const auditWriteBatch = 10_000

// ErrNoAuditLog means a file is a bbolt database without an audit log.
var ErrNoAuditLog = errors.New("store: no audit log in the database")

// AuditLog is the audit log of a node's database, opened read-only by a
// tool (the auditor): a node's own file, a copy of it, or a copy written
// by [CreateAuditLog]. Only the audit bucket is read. The file is opened
// without write access and is never changed.
type AuditLog struct {
	db   *bolt.DB
	path string
}

// OpenAuditLog opens the database at path read-only. It fails with
// [ErrInUse] if a running node holds the file (fetch the log from the node
// instead, or copy the file), wraps fs.ErrNotExist if there is no file,
// and is [ErrNoAuditLog] if the database holds no audit log.
//
// A damaged file is a [*DamageError] (errors.Is ErrDamaged), from here or
// from any later read, never a panic: the file header is checked as Open
// checks it (one damaged meta page included: the log would be read as of
// the transaction before), and bbolt's assertions on a damaged page are
// turned into errors naming the page.
func OpenAuditLog(path string) (*AuditLog, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := openReadOnly(path, time.Second, false, time.Time{})
	if errors.Is(err, ErrInUse) {
		return nil, fmt.Errorf("%w: %s is locked by another process, most likely the running node", ErrInUse, path)
	}
	if err != nil {
		return nil, err
	}
	err = viewChecked(db, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketAudit) == nil {
			return fmt.Errorf("%w: %s", ErrNoAuditLog, path)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &AuditLog{db: db, path: path}, nil
}

// Path is the file the log was opened from.
func (l *AuditLog) Path() string { return l.path }

// Records calls yield with every stored audit record's key and encoding,
// in key order, from one consistent view, until yield returns false. raw
// is valid only during the call. A key that is not 8 bytes is an error.
// It has the type of audit.Pairs.
func (l *AuditLog) Records(yield func(seq uint64, raw []byte) bool) error {
	return l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		// Only bbolt's own steps are guarded: a panic of yield's is not
		// damage to the file.
		var k, v []byte
		step := func(move func() ([]byte, []byte)) error {
			return l.guard(func() { k, v = move() })
		}
		for err := step(c.First); k != nil || err != nil; err = step(c.Next) {
			if err != nil {
				return err
			}
			if len(k) != 8 {
				return fmt.Errorf("store: audit key %x of %d bytes, want 8", k, len(k))
			}
			if v == nil {
				return fmt.Errorf("store: audit key %x holds a nested bucket", k)
			}
			if !yield(binary.BigEndian.Uint64(k), v) {
				return nil
			}
		}
		return nil
	})
}

// Record returns a copy of the record stored under seq, and false if there
// is none.
func (l *AuditLog) Record(seq uint64) ([]byte, bool, error) {
	var out []byte
	err := viewChecked(l.db, l.path, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketAudit).Get(seqKey(seq)); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out, out != nil, err
}

// Last returns the key of the last stored record, and false if the log is
// empty.
func (l *AuditLog) Last() (uint64, bool, error) {
	var seq uint64
	var ok bool
	err := viewChecked(l.db, l.path, func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketAudit).Cursor().Last()
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return fmt.Errorf("store: audit key %x of %d bytes, want 8", k, len(k))
		}
		seq, ok = binary.BigEndian.Uint64(k), true
		return nil
	})
	return seq, ok, err
}

// Wallets returns the wallets of a node's own database, public keys and
// chain codes (what an auditor's replay needs to re-derive withdrawals;
// no share is read), or none if the file is an audit log alone, as
// written by [CreateAuditLog].
func (l *AuditLog) Wallets() ([]Wallet, error) {
	var out []Wallet
	err := viewChecked(l.db, l.path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWallets)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var w Wallet
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("store: wallet %s: %w", k, err)
			}
			out = append(out, w)
			return nil
		})
	})
	return out, err
}

// Close releases the file.
func (l *AuditLog) Close() error { return l.db.Close() }

// guard calls fn, turning a panic of bbolt's on a damaged page into a
// DamageError naming the file.
func (l *AuditLog) guard(fn func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // a fault in the map, too
	defer func() {
		if r := recover(); r != nil {
			err = damaged(l.path, fmt.Sprint(r))
		}
	}()
	fn()
	return nil
}

// AuditWriter writes a new database that holds only an audit log: what the
// auditor fetches from a live node, and test and benchmark logs. Records
// are stored as given, under the given keys, not checked: verification is
// the reader's business.
type AuditWriter struct {
	db         *bolt.DB
	tmp, path  string
	pending    []pending
	lastKey    uint64
	wroteFirst bool
}

type pending struct {
	key   uint64
	value []byte
}

// CreateAuditLog starts writing a new audit-log database to path, which
// must not exist. The file appears at path only when Close succeeds; until
// then it is written beside it, and Abort removes it.
func CreateAuditLog(path string) (*AuditWriter, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial")
	os.Remove(tmp) // what an interrupted run left
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("store: create %s: %w", tmp, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketAudit); return err }); err != nil {
		db.Close()
		os.Remove(tmp)
		return nil, err
	}
	return &AuditWriter{db: db, tmp: tmp, path: path}, nil
}

// Put stores value under key. Keys must increase: a repeated or lower key
// is refused, so no stored record can be overwritten.
func (w *AuditWriter) Put(key uint64, value []byte) error {
	if w.wroteFirst && key <= w.lastKey {
		return fmt.Errorf("store: audit key %d after key %d: keys must increase", key, w.lastKey)
	}
	w.wroteFirst, w.lastKey = true, key
	w.pending = append(w.pending, pending{key, bytes.Clone(value)})
	if len(w.pending) >= auditWriteBatch {
		return w.flush()
	}
	return nil
}

func (w *AuditWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	err := w.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		b.FillPercent = 1 // keys only ever increase
		for _, p := range w.pending {
			if err := b.Put(seqKey(p.key), p.value); err != nil {
				return err
			}
		}
		return nil
	})
	w.pending = w.pending[:0]
	return err
}

// Close writes what is pending and moves the file to its path.
func (w *AuditWriter) Close() error {
	err := w.flush()
	if cerr := w.db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(w.tmp, w.path) // never replaces a file that appeared meanwhile
	}
	os.Remove(w.tmp)
	if err != nil {
		return fmt.Errorf("store: writing %s: %w", w.path, err)
	}
	return nil
}

// Abort discards what was written.
func (w *AuditWriter) Abort() {
	w.db.Close()
	os.Remove(w.tmp)
}
