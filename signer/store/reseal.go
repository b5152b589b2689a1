package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The buckets of sealed secrets, as Reseal names them to its function.
const (
	// ResealShares holds sealed shares; the key is the wallet id.
	ResealShares = "shares"
	// ResealPreParams holds sealed pre-parameters; the key is the pool
	// sequence number in decimal.
	ResealPreParams = "preparams"
)

// ErrInUse means another process holds the database: a running node.
var ErrInUse = errors.New("store: the database is in use")

// ResealFunc returns the new sealed form of one stored secret. bucket is
// ResealShares or ResealPreParams; key names the secret within it; sealed
// is its current sealed form, valid only during the call. Returning sealed
// itself keeps the secret as it is; returning an error aborts the whole
// re-seal and leaves the database untouched.
type ResealFunc func(bucket, key string, sealed []byte) ([]byte, error)

// Reseal replaces every sealed share and every sealed set of
// pre-parameters with what fn returns, in one transaction: afterwards all
// of them are re-sealed, or, if fn or the commit fails, none is. fn sees
// only sealed bytes; what it unseals stays in its own memory. A running
// node's sealer could not open what Reseal wrote under another key, so
// tools re-seal a stopped node's database through [OpenOffline].
func (s *Store) Reseal(fn ResealFunc) error {
	return s.update(func(tx *bolt.Tx) error { return resealTx(tx, fn) })
}

// Offline is a node's database opened by a tool while the node is stopped
// (signerd reseal). It appends nothing to the audit log.
type Offline struct {
	db *bolt.DB
}

// OpenOffline opens the existing database at path, holding bbolt's
// exclusive file lock until Close. It fails with [ErrInUse] if a node (or
// anything else) has the file open, and wraps fs.ErrNotExist if there is
// no database. A damaged file is refused as Open refuses it (without the
// audit log's signature, which needs the node's key).
func OpenOffline(path string) (*Offline, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	err := verify(path, nil, OpenOptions{})
	if err == nil {
		var db *bolt.DB
		db, err = openBolt(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err == nil {
			return &Offline{db: db}, nil
		}
	}
	if errors.Is(err, ErrInUse) || errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked by another process, most likely the running node: stop signerd first", ErrInUse, path)
	}
	if errors.Is(err, ErrDamaged) {
		return nil, err
	}
	return nil, fmt.Errorf("store: open %s: %w", path, err)
}

// Reseal is [Store.Reseal] on a stopped node's database.
func (o *Offline) Reseal(fn ResealFunc) error {
	return o.db.Update(func(tx *bolt.Tx) error { return resealTx(tx, fn) })
}

// Count is how many sealed shares and sealed sets of pre-parameters the
// database holds.
func (o *Offline) Count() (shares, preparams int, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketShares); b != nil {
			shares = b.Stats().KeyN
		}
		if b := tx.Bucket(bucketPreParams); b != nil {
			preparams = b.Stats().KeyN
		}
		return nil
	})
	return shares, preparams, err
}

// Close releases the database.
func (o *Offline) Close() error { return o.db.Close() }

func resealTx(tx *bolt.Tx, fn ResealFunc) error {
	for _, b := range []struct {
		name []byte
		key  func(k []byte) (string, error)
	}{
		{bucketShares, func(k []byte) (string, error) { return string(k), nil }},
		{bucketPreParams, func(k []byte) (string, error) {
			if len(k) != 8 {
				return "", fmt.Errorf("store: pre-parameters key of %d bytes", len(k))
			}
			return strconv.FormatUint(binary.BigEndian.Uint64(k), 10), nil
		}},
	} {
		bucket := tx.Bucket(b.name)
		if bucket == nil {
			continue // a database from before this bucket existed
		}
		// bbolt forbids changing a bucket while iterating it: read first.
		type item struct{ k, v []byte }
		var items []item
		err := bucket.ForEach(func(k, v []byte) error {
			if v == nil {
				return fmt.Errorf("store: %s holds a nested bucket %q", b.name, k)
			}
			items = append(items, item{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			key, err := b.key(it.k)
			if err != nil {
				return err
			}
			resealed, err := fn(string(b.name), key, it.v)
			if err != nil {
				return fmt.Errorf("store: re-seal %s %s: %w", b.name, key, err)
			}
			if len(resealed) == 0 {
				return fmt.Errorf("store: re-seal %s %s: empty result", b.name, key)
			}
			if bytes.Equal(resealed, it.v) {
				continue
			}
			if err := bucket.Put(it.k, resealed); err != nil {
				return err
			}
		}
	}
	return nil
}
