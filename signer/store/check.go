package store

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/signer/audit"
	bolt "go.etcd.io/bbolt"
)

// What Open checks before a node uses its file, in this order:
//
//  1. The file, read here without bbolt: both meta pages (magic, version,
//     checksum), the file's size against the high-water mark of the meta
//     page bbolt would use, and every page in use (pages.go). A file
//     shorter than that mark would be mapped past its end, and a page
//     with a wrong count or offset sends bbolt's reads past its pages:
//     either is a SIGBUS or SIGSEGV that no recover catches, so both are
//     refused before bbolt reads a page. When one meta page is damaged,
//     bbolt silently opens the database as of the other, which may be the
//     transaction before the last: refused unless
//     [OpenOptions.AcceptMetaFallback].
//  2. bbolt's own consistency check of every page (Tx.Check), read-only
//     and bounded by [OpenOptions.CheckTimeout]; bbolt's assertion panics
//     on a damaged page become errors naming the page.
//  3. Every record the node resumes from: each wallet, withdrawal and
//     policy bundle decodes and is stored under its own id, each live
//     wallet has its sealed share, and the last audit record decodes, is
//     stored under its own sequence number, follows the record before it
//     and is signed by the node's key.
//
// Any damage found refuses the open with a [*DamageError]. Nothing is
// written to a damaged file.

// DefaultCheckTimeout bounds Open's consistency check when
// OpenOptions.CheckTimeout is zero. All of Open takes about 0.5 s on a file
// of 100 MB on 2 cores (BenchmarkOpenCheck), most of it decoding records.
const DefaultCheckTimeout = 2 * time.Minute

// maxDamageListed is how many problems a DamageError lists by name.
const maxDamageListed = 8

// ErrDamaged is wrapped by every error that finds a database file damaged
// (a [*DamageError]).
var ErrDamaged = errors.New("store: database damaged")

// ErrCheckTimeout means Open's consistency check did not finish in time:
// the file was not opened, and nothing is known to be wrong with it.
var ErrCheckTimeout = errors.New("store: consistency check took too long")

// OpenOptions tune the checks Open makes before it uses a file.
type OpenOptions struct {
	// CheckTimeout bounds the whole check: the page walk, bbolt's
	// consistency check and the reading of every record; zero means
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
	// AcceptMetaFallback opens a file one of whose two meta pages is
	// damaged, as of the other: an operator's decision, since that may
	// be the state before the last committed transaction.
	AcceptMetaFallback bool
}

// A DamageError is a database file found damaged: it names what is
// damaged (a page, a bucket and key, a meta page, the file's size).
type DamageError struct {
	Path     string
	Problems []string
	// MetaFallback: the damage is one meta page, and the file would open
	// as of the other one (see OpenOptions.AcceptMetaFallback).
	MetaFallback bool
}

func (e *DamageError) Error() string {
	shown := e.Problems[:min(len(e.Problems), maxDamageListed)]
	s := fmt.Sprintf("store: %s is damaged: %s", e.Path, strings.Join(shown, "; "))
	if n := len(e.Problems) - len(shown); n > 0 {
		s += fmt.Sprintf("; and %d more problems", n)
	}
	return s
}

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

func damaged(path string, problems ...string) *DamageError {
	return &DamageError{Path: path, Problems: problems}
}

// The parts of bbolt's file format the header check reads (bbolt
// internal/common: page.go and meta.go). Meta pages are pages 0 and 1; a
// commit writes its meta to page txid%2, so the two alternate and bbolt
// uses the valid one with the higher txid.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16 // id uint64, flags uint16, count uint16, overflow uint32
	metaSize       = 64 // magic, version, page size, flags uint32; root, sequence, freelist, pgid, txid, checksum uint64
	noFreelist     = ^uint64(0)
)

// meta is one meta page as read from the file.
type meta struct {
	page     int
	problem  string // why it is not valid; empty if it is
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // the high-water mark: pages [0, hwm) are in use
	txid     uint64
}

func parseMeta(page int, b []byte) meta {
	m := meta{page: page}
	if len(b) < pageHeaderSize+metaSize {
		m.problem = "cut short"
		return m
	}
	f := b[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.NativeEndian // bbolt writes its structs in memory order
	m.pageSize = le.Uint32(f[8:])
	m.root, m.freelist, m.hwm, m.txid = le.Uint64(f[16:]), le.Uint64(f[32:]), le.Uint64(f[40:]), le.Uint64(f[48:])
	h := fnv.New64a()
	h.Write(f[:56])
	switch {
	case le.Uint32(f[0:]) != boltMagic:
		m.problem = "not a bbolt meta page (wrong magic number)"
	case le.Uint32(f[4:]) != boltVersion:
		m.problem = fmt.Sprintf("format version %d, not %d", le.Uint32(f[4:]), boltVersion)
	case le.Uint64(f[56:]) != h.Sum64():
		m.problem = "checksum mismatch"
	case m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0:
		m.problem = fmt.Sprintf("page size %d", m.pageSize)
	case m.root < 2 || m.root >= m.hwm:
		m.problem = fmt.Sprintf("root page %d outside the pages in use (2 to %d)", m.root, m.hwm-1)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		m.problem = fmt.Sprintf("freelist page %d outside the pages in use (2 to %d)", m.freelist, m.hwm-1)
	}
	return m
}

// readMetas reads both meta pages of the file f of size bytes. The page
// size comes from meta page 0, or, if it is damaged, from the first valid
// meta page found where bbolt would look for page 1.
func readMetas(f *os.File, size int64) (m0, m1 meta) {
	read := func(off int64) []byte {
		b := make([]byte, pageHeaderSize+metaSize)
		n, _ := f.ReadAt(b, off)
		return b[:n]
	}
	m0 = parseMeta(0, read(0))
	if m0.problem == "" {
		return m0, parseMeta(1, read(int64(m0.pageSize)))
	}
	m1 = meta{page: 1, problem: "not found"}
	for ps := int64(1024); ps <= 16<<20 && ps < size-1024; ps <<= 1 {
		if m := parseMeta(1, read(ps)); m.problem == "" && int64(m.pageSize) == ps {
			return m0, m
		}
	}
	return m0, m1
}

// checkHeader is check 1: the meta pages and the file's size.
// With walk set, it then checks every page in use (walkPages) until
// deadline, if there is one.
func checkHeader(path string, acceptFallback, walk bool, deadline time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if st.Size() == 0 {
		return nil // a new file: bbolt initializes it
	}
	m0, m1 := readMetas(f, st.Size())
	if m0.problem == "" && st.Size() < 2*int64(m0.pageSize) {
		return damaged(path, fmt.Sprintf("the file is truncated: %d bytes, less than its two meta pages of %d bytes", st.Size(), m0.pageSize))
	}
	var use meta
	switch {
	case m0.problem != "" && m1.problem != "":
		return damaged(path, fmt.Sprintf("both meta pages are damaged (meta page 0: %s; meta page 1: %s): this is not a readable bbolt file", m0.problem, m1.problem))
	case m0.problem == "" && m1.problem == "":
		use = m0
		if m1.txid > m0.txid {
			use = m1
		}
	default:
		bad, good := m0, m1
		if m0.problem == "" {
			bad, good = m1, m0
		}
		use = good
		if !acceptFallback {
			e := damaged(path, metaFallback(bad, good))
			e.MetaFallback = true
			return e
		}
	}
	if need := int64(use.hwm) * int64(use.pageSize); st.Size() < need {
		return damaged(path, fmt.Sprintf("the file is truncated: %d bytes, but meta page %d (transaction %d) has %d pages of %d bytes in use (%d bytes); pages from %d on are missing",
			st.Size(), use.page, use.txid, use.hwm, use.pageSize, need, st.Size()/int64(use.pageSize)))
	}
	if !walk {
		return nil
	}
	return walkPages(f, path, use, deadline)
}

// metaFallback says what opening the file as of its valid meta page
// good, with bad damaged, would mean.
func metaFallback(bad, good meta) string {
	s := fmt.Sprintf("meta page %d is damaged (%s); bbolt would open the database as of meta page %d, transaction %d", bad.page, bad.problem, good.page, good.txid)
	// The damaged page's own transaction id is only a hint: it failed
	// its checksum.
	switch {
	case bad.txid == good.txid+1 && bad.txid%2 == uint64(bad.page):
		return s + fmt.Sprintf(", the older of the two: whatever transaction %d committed would be lost", bad.txid)
	case bad.txid+1 == good.txid && bad.txid%2 == uint64(bad.page):
		return s + ", the newer of the two (the damaged page held the transaction before it): nothing committed is lost, but the disk damaged the file"
	default:
		return s + ", which may be older than the last commit: the damaged page's transaction cannot be read"
	}
}

// openBolt opens path with bbolt, turning a panic of bbolt's (an assertion
// on a damaged page) into a DamageError.
func openBolt(path string, mode os.FileMode, opt *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, damaged(path, fmt.Sprint(r))
		}
	}()
	return bolt.Open(path, mode, opt)
}

// viewChecked runs fn in a read transaction of db, turning a panic of
// bbolt's on a damaged page into a DamageError naming path.
func viewChecked(db *bolt.DB, path string, fn func(tx *bolt.Tx) error) (err error) {
	return db.View(func(tx *bolt.Tx) (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // a fault in the map, too
		defer func() {
			if r := recover(); r != nil {
				err = damaged(path, fmt.Sprint(r))
			}
		}()
		return fn(tx)
	})
}

// openReadOnly opens the existing file at path read-only, holding bbolt's
// shared lock, and makes check 1 (the header, then every page until
// deadline, if set) under that lock, so that no writer is halfway through
// a page. bbolt's read-only open reads only the two meta pages, within any
// file it accepts, so it cannot fault before check 1 has compared the
// file's size with the pages in use. A file another process writes to is
// ErrInUse.
func openReadOnly(path string, timeout time.Duration, acceptFallback bool, deadline time.Time) (*bolt.DB, error) {
	db, err := openBolt(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked by another process", ErrInUse, path)
	}
	if err == nil {
		err = checkHeader(path, acceptFallback, true, deadline)
		if err == nil {
			return db, nil
		}
		db.Close()
		return nil, err
	}
	if errors.Is(err, ErrDamaged) {
		return nil, err
	}
	if herr := checkHeader(path, acceptFallback, false, time.Time{}); herr != nil {
		return nil, herr // says more than bbolt
	}
	return nil, damaged(path, fmt.Sprintf("bbolt cannot open it: %v", err))
}

// verify makes checks 1 to 3 of the existing database at path, read-only;
// pub is the node's key, which signs its audit log. A new (missing or
// empty) file passes.
func verify(path string, pub crypto.PublicKey, opt OpenOptions) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && st.Size() == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	timeout := opt.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	deadline := time.Now().Add(timeout)
	db, err := openReadOnly(path, 2*time.Second, opt.AcceptMetaFallback, deadline)
	if errors.Is(err, ErrCheckTimeout) {
		return fmt.Errorf("%w: the check of %s did not finish within %s; allow it longer", ErrCheckTimeout, path, timeout)
	}
	if err != nil {
		return err
	}
	tx, err := db.Begin(false)
	if err != nil {
		db.Close()
		return fmt.Errorf("store: %s: %w", path, err)
	}
	problems, rest := checkPages(tx, deadline)
	if rest != nil {
		// bbolt's check cannot be stopped: the file closes when it ends.
		go func() {
			for range rest {
			}
			tx.Rollback()
			db.Close()
		}()
		return fmt.Errorf("%w: the check of %s did not finish within %s; allow it longer", ErrCheckTimeout, path, timeout)
	}
	tx.Rollback()
	defer db.Close()
	if len(problems) > 0 {
		return damaged(path, problems...)
	}
	var recordProblems []string
	err = viewChecked(db, path, func(tx *bolt.Tx) (err error) {
		recordProblems, err = checkRecords(tx, pub, deadline)
		return err
	})
	if errors.Is(err, ErrCheckTimeout) {
		return fmt.Errorf("%w: the check of %s did not finish within %s; allow it longer", ErrCheckTimeout, path, timeout)
	}
	if err != nil {
		return err
	}
	if len(recordProblems) > 0 {
		return damaged(path, recordProblems...)
	}
	return nil
}

// checkPages runs bbolt's consistency check of every page in tx until
// deadline and returns the problems it reported. If the deadline came
// first, rest is the check's channel, which must be drained.
func checkPages(tx *bolt.Tx, deadline time.Time) (problems []string, rest <-chan error) {
	ch := tx.Check()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case err, ok := <-ch:
			if !ok {
				return problems, nil
			}
			problems = append(problems, strings.TrimPrefix(err.Error(), "panic: "))
		case <-timer.C:
			return problems, ch
		}
	}
}

// checkRecords is check 3, in tx.
func checkRecords(tx *bolt.Tx, pub crypto.PublicKey, deadline time.Time) ([]string, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	n := 0
	// each calls fn with every key and value of the bucket name, if it
	// exists; a nested bucket where a record belongs is damage.
	each := func(name []byte, fn func(k, v []byte)) error {
		b := tx.Bucket(name)
		if b == nil {
			return nil // made by Open
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%1024 == 0 && time.Now().After(deadline) {
				return ErrCheckTimeout
			}
			if v == nil && b.Bucket(k) != nil {
				bad("bucket %s, key %q: a nested bucket where a record belongs", name, k)
				continue
			}
			fn(k, v)
		}
		return nil
	}
	if time.Now().After(deadline) {
		return nil, fmt.Errorf("%w: nothing left for the records", ErrCheckTimeout)
	}

	shares := map[string]bool{}
	err := each(bucketShares, func(k, _ []byte) { shares[string(k)] = true })
	if err == nil {
		err = each(bucketWallets, func(k, v []byte) {
			var w Wallet
			switch err := json.Unmarshal(v, &w); {
			case err != nil:
				bad("bucket wallets, key %q: %v", k, err)
			case w.ID != string(k):
				bad("bucket wallets, key %q: holds wallet %q", k, w.ID)
			case !slices.Contains([]WalletState{WalletPending, WalletActive, WalletDiscarded}, w.State):
				bad("bucket wallets, key %q: unknown state %q", k, w.State)
			case w.State != WalletDiscarded && !shares[w.ID]:
				bad("bucket shares: no sealed share of %s wallet %q", w.State, k)
			}
		})
	}
	if err == nil {
		err = each(bucketPreParams, func(k, v []byte) {
			if len(k) != 8 {
				bad("bucket preparams, key %x: %d bytes, not 8", k, len(k))
			}
		})
	}
	statuses := []WithdrawalStatus{WithdrawalRefused, WithdrawalAwaiting, WithdrawalBound, WithdrawalSigning, WithdrawalSigned, WithdrawalFailed}
	if err == nil {
		err = each(bucketWithdraw, func(k, v []byte) {
			var w Withdrawal
			switch err := json.Unmarshal(v, &w); {
			case err != nil:
				bad("bucket withdrawals, key %q: %v", k, err)
			case w.ID != string(k):
				bad("bucket withdrawals, key %q: holds withdrawal %q", k, w.ID)
			case !slices.Contains(statuses, w.Status):
				bad("bucket withdrawals, key %q: unknown status %q", k, w.Status)
			case len(w.Hash) != 32:
				bad("bucket withdrawals, key %q: a request hash of %d bytes, not 32", k, len(w.Hash))
			}
		})
	}
	if err == nil {
		err = each(bucketPolicy, func(k, v []byte) {
			var p Policy
			switch err := json.Unmarshal(v, &p); {
			case len(k) != 8:
				bad("bucket policy, key %x: %d bytes, not 8", k, len(k))
			case err != nil:
				bad("bucket policy, key %d: %v", bytesToUint(k), err)
			case p.Version < 0 || uint64(p.Version) != bytesToUint(k):
				bad("bucket policy, key %d: holds version %d", bytesToUint(k), p.Version)
			case len(p.Hash) != 32 || len(p.Bundle) == 0:
				bad("bucket policy, key %d: no bundle or no hash", bytesToUint(k))
			}
		})
	}
	if err != nil {
		return nil, err
	}
	problems = append(problems, checkAuditHead(tx, pub)...)
	return problems, nil
}

// checkAuditHead checks the last audit record: what a node appends to.
func checkAuditHead(tx *bolt.Tx, pub crypto.PublicKey) []string {
	b := tx.Bucket(bucketAudit)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	k, v := c.Last()
	if k == nil {
		return nil // an empty log: Open writes the genesis record
	}
	if len(k) != 8 || v == nil {
		return []string{fmt.Sprintf("bucket audit, last key %x: not a record under an 8-byte sequence number", k)}
	}
	seq := binary.BigEndian.Uint64(k)
	r, err := audit.Decode(v)
	switch {
	case err != nil:
		return []string{fmt.Sprintf("bucket audit, key %d (the last record): %v", seq, err)}
	case r.Seq != seq:
		return []string{fmt.Sprintf("bucket audit, key %d (the last record): holds record %d", seq, r.Seq)}
	}
	var problems []string
	if seq > 0 {
		pk, pv := c.Prev()
		switch {
		case pk == nil || !bytes.Equal(pk, seqKey(seq-1)) || pv == nil:
			problems = append(problems, fmt.Sprintf("bucket audit: record %d is missing before the last record %d", seq-1, seq))
		default:
			prev, err := audit.Decode(pv)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("bucket audit, key %d: %v", seq-1, err))
			case prev.Hash() != r.Prev:
				problems = append(problems, fmt.Sprintf("bucket audit, key %d (the last record): does not follow record %d (hash chain broken)", seq, seq-1))
			}
		}
	}
	if pub != nil {
		if err := audit.VerifySignature(r, pub); err != nil {
			problems = append(problems, fmt.Sprintf("bucket audit, key %d (the last record): not signed by this node's key: %v", seq, err))
		}
	}
	return problems
}
