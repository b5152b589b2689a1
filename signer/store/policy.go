package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Policy is a policy bundle the node accepted, kept forever: decisions name
// the bundle they used by its hash, and approvals are checked against it.
// Stored as JSON under its version (8 bytes, big-endian); fields are only
// ever added.
type Policy struct {
	Version    int64           `json:"version"`
	Hash       []byte          `json:"hash"`
	Bundle     []byte          `json:"bundle"`     // the exact bytes officers signed
	Signatures json.RawMessage `json:"signatures"` // as accepted (package policy's Signature list)
	AcceptedAt time.Time       `json:"accepted_at"`
}

// PutPolicy records an accepted bundle and its events in one transaction.
// Its version must be above every version recorded (ErrState otherwise):
// a node never goes back.
func (s *Store) PutPolicy(p *Policy, events ...Event) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPolicy)
		if k, _ := b.Cursor().Last(); k != nil {
			if last := int64(bytesToUint(k)); p.Version <= last {
				return fmt.Errorf("%w: policy version %d is not above %d", ErrState, p.Version, last)
			}
		}
		v, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(uint64(p.Version)), v); err != nil {
			return err
		}
		return s.appendAll(tx, events)
	})
}

// CurrentPolicy returns the bundle with the highest version: the one in
// force. ErrNotFound if there is none.
func (s *Store) CurrentPolicy() (*Policy, error) {
	return s.findPolicy(func(c *bolt.Cursor) ([]byte, []byte) { return c.Last() }, "no policy bundle")
}

// PolicyVersion returns the bundle of one version.
func (s *Store) PolicyVersion(version int64) (*Policy, error) {
	return s.findPolicy(func(c *bolt.Cursor) ([]byte, []byte) {
		k, v := c.Seek(seqKey(uint64(version)))
		if k == nil || int64(bytesToUint(k)) != version {
			return nil, nil
		}
		return k, v
	}, fmt.Sprintf("policy version %d", version))
}

// PolicyByHash returns the bundle whose hash is hash.
func (s *Store) PolicyByHash(hash []byte) (*Policy, error) {
	var out *Policy
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPolicy).ForEach(func(_, v []byte) error {
			var p Policy
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			if bytes.Equal(p.Hash, hash) {
				out = &p
			}
			return nil
		})
	})
	if err == nil && out == nil {
		err = fmt.Errorf("%w: policy %x", ErrNotFound, hash)
	}
	return out, err
}

func (s *Store) findPolicy(find func(*bolt.Cursor) ([]byte, []byte), what string) (*Policy, error) {
	var p Policy
	err := s.db.View(func(tx *bolt.Tx) error {
		k, v := find(tx.Bucket(bucketPolicy).Cursor())
		if k == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, what)
		}
		return json.Unmarshal(v, &p)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func bytesToUint(k []byte) uint64 {
	var n uint64
	for _, c := range k {
		n = n<<8 | uint64(c)
	}
	return n
}
