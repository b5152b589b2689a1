package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/signer/audit"
	bolt "go.etcd.io/bbolt"
)

// testDB is a node database written by the store and closed, for tests
// that damage the file.
type testDB struct {
	path     string
	key      *ecdsa.PrivateKey
	pageSize int64
	txid     uint64 // of the last commit, which wrote withdrawal "wd-last"
}

// writeTestDB writes a database with an active wallet and its share, a
// policy bundle, n withdrawals (spanning many pages) and an audit record
// of each, and then withdrawal "wd-last" in one more commit, whose meta
// page is page 0 if meta0 is set and page 1 otherwise.
func writeTestDB(t testing.TB, n int, meta0 bool) *testDB {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-1"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	db := &testDB{path: filepath.Join(t.TempDir(), "node.db"), key: key}
	s, err := Open(db.path, key, audit.Genesis{NodeID: "node-1", CertDER: der, Format: audit.Version}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutPendingWallet(&Wallet{ID: "w-1", State: WalletPending, Nodes: []string{"node-1", "node-2"}}, []byte("sealed share")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWalletState("w-1", WalletPending, WalletActive); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPolicy(&Policy{Version: 1, Hash: make([]byte, 32), Bundle: []byte(`{"version":1}`), Signatures: []byte(`[]`)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		err := s.update(func(tx *bolt.Tx) error {
			for j := i; j < min(i+500, n); j++ {
				if err := putJSON(tx.Bucket(bucketWithdraw), testWithdrawal(j).ID, testWithdrawal(j)); err != nil {
					return err
				}
				if err := s.appendTx(tx, Event{audit.KindCallRefused, &audit.CallRefused{Caller: testWithdrawal(j).ID, Reason: strings.Repeat("r", 300)}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if db.lastTxid(t)%2 == 0 == meta0 { // the next commit goes to the other page
		if err := s.Append(Event{audit.KindCallRefused, &audit.CallRefused{Caller: "padding"}}); err != nil {
			t.Fatal(err)
		}
	}
	last := testWithdrawal(0)
	last.ID = "wd-last"
	if _, _, err := s.BindWithdrawal(last, Event{audit.KindCallRefused, &audit.CallRefused{Caller: "wd-last"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db.txid = db.lastTxid(t)
	if got := db.txid % 2; (got == 0) != meta0 {
		t.Fatalf("the last commit, transaction %d, went to meta page %d", db.txid, got)
	}
	return db
}

func testWithdrawal(i int) *Withdrawal {
	return &Withdrawal{
		ID: fmt.Sprintf("wd-%04d", i), WalletID: "w-1", Status: WithdrawalSigned, Hash: make([]byte, 32),
		Intent:     fmt.Appendf(nil, `{"v":2,"withdrawal_id":"wd-%04d","wallet_id":"w-1","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080","amount":"25000000","fee_cap":"10000"}`, i),
		UnsignedTx: bytes.Repeat([]byte{0x70, 0x73, 0x62, 0x74}, 150), CreatedAt: time.Unix(1_700_000_000+int64(i), 0).UTC(),
	}
}

// lastTxid reads the file's newest valid meta page and the page size.
func (db *testDB) lastTxid(t testing.TB) uint64 {
	t.Helper()
	m := db.metas(t)
	db.pageSize = int64(m[0].pageSize)
	return max(m[0].txid, m[1].txid)
}

func (db *testDB) metas(t testing.TB) [2]meta {
	t.Helper()
	f, err := os.Open(db.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m0, m1 := readMetas(f, st.Size())
	return [2]meta{m0, m1}
}

// edit changes the file's bytes with fn.
func (db *testDB) edit(t testing.TB, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(db.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db.path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipMeta flips a byte of meta page i's root page id: its checksum no
// longer matches.
func (db *testDB) flipMeta(t testing.TB, i int) {
	db.edit(t, func(b []byte) []byte {
		b[int64(i)*db.pageSize+pageHeaderSize+20] ^= 0xff
		return b
	})
}

// rootPage is the page holding the root of bucket name.
func (db *testDB) rootPage(t testing.TB, name []byte) int64 {
	t.Helper()
	bdb, err := bolt.Open(db.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var root int64
	_ = bdb.View(func(tx *bolt.Tx) error {
		root = int64(tx.Bucket(name).RootPage())
		return nil
	})
	if root == 0 {
		t.Fatalf("bucket %s is inline: write more records", name)
	}
	return root
}

// replaceAll replaces every copy of old in the file (the live record and
// stale copies on free pages) with new, of the same length.
func (db *testDB) replaceAll(t testing.TB, old, new []byte) {
	t.Helper()
	db.edit(t, func(b []byte) []byte {
		if !bytes.Contains(b, old) {
			t.Fatalf("%q is not in the file", old)
		}
		return bytes.ReplaceAll(b, old, new)
	})
}

func (db *testDB) open(opt OpenOptions) (*Store, error) {
	return OpenWith(db.path, db.key, audit.Genesis{}, time.Now, opt)
}

// TestOpenRefusesDamage damages real database files as disks and crashes
// do, and checks that Open refuses each, naming what is damaged, without
// a panic or a SIGBUS.
func TestOpenRefusesDamage(t *testing.T) {
	tests := []struct {
		name   string
		meta0  bool // the last commit's meta is page 0
		damage func(t *testing.T, db *testDB) []string
	}{
		{"truncated into used pages", true, func(t *testing.T, db *testDB) []string {
			hwm := int64(db.metas(t)[0].hwm)
			if err := os.Truncate(db.path, (hwm-3)*db.pageSize); err != nil {
				t.Fatal(err)
			}
			return []string{"the file is truncated", fmt.Sprintf("has %d pages of %d bytes in use", hwm, db.pageSize), fmt.Sprintf("pages from %d on are missing", hwm-3)}
		}},
		{"truncated to its first page", true, func(t *testing.T, db *testDB) []string {
			if err := os.Truncate(db.path, db.pageSize); err != nil {
				t.Fatal(err)
			}
			return []string{fmt.Sprintf("the file is truncated: %d bytes, less than its two meta pages", db.pageSize)}
		}},
		{"a page of no known type", true, func(t *testing.T, db *testDB) []string {
			root := db.rootPage(t, bucketWithdraw)
			db.edit(t, func(b []byte) []byte {
				binary.LittleEndian.PutUint16(b[root*db.pageSize+8:], 0x40)
				return b
			})
			return []string{fmt.Sprintf(`page %d (bucket "withdrawals" in leaf page `, root), "a page of no known type (flags 0x40) where a branch or leaf page belongs"}
		}},
		{"a byte flipped in a withdrawal record", true, func(t *testing.T, db *testDB) []string {
			db.replaceAll(t, []byte(`{"id":"wd-0150"`), []byte(`["id":"wd-0150"`))
			return []string{`bucket withdrawals, key "wd-0150": `}
		}},
		{"a byte flipped in a withdrawal's key", true, func(t *testing.T, db *testDB) []string {
			db.replaceAll(t, []byte(`"id":"wd-0151"`), []byte(`"id":"wd-0I51"`))
			return []string{`bucket withdrawals, key "wd-0151": holds withdrawal "wd-0I51"`}
		}},
		{"the newer meta page 0 flipped", true, func(t *testing.T, db *testDB) []string {
			db.flipMeta(t, 0)
			return []string{"meta page 0 is damaged (checksum mismatch)", fmt.Sprintf("as of meta page 1, transaction %d, the older of the two", db.txid-1),
				fmt.Sprintf("whatever transaction %d committed would be lost", db.txid)}
		}},
		{"the older meta page 1 flipped", true, func(t *testing.T, db *testDB) []string {
			db.flipMeta(t, 1)
			return []string{"meta page 1 is damaged (checksum mismatch)", fmt.Sprintf("as of meta page 0, transaction %d, the newer", db.txid), "nothing committed is lost"}
		}},
		{"both meta pages flipped", false, func(t *testing.T, db *testDB) []string {
			db.flipMeta(t, 0)
			db.flipMeta(t, 1)
			return []string{"both meta pages are damaged (meta page 0: checksum mismatch; meta page 1: not found)"}
		}},
		{"the last audit record's signature", true, func(t *testing.T, db *testDB) []string {
			l, err := OpenAuditLog(db.path)
			if err != nil {
				t.Fatal(err)
			}
			seq, _, _ := l.Last()
			raw, _, _ := l.Record(seq)
			l.Close()
			flipped := bytes.Clone(raw)
			flipped[len(flipped)-1] ^= 0x01
			db.replaceAll(t, raw, flipped)
			return []string{fmt.Sprintf("bucket audit, key %d (the last record): not signed by this node's key", seq)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := writeTestDB(t, 1500, tt.meta0)
			want := tt.damage(t, db)
			before, _ := os.ReadFile(db.path)
			s, err := db.open(OpenOptions{})
			if err == nil {
				s.Close()
				t.Fatal("a damaged database opened")
			}
			for _, w := range append(want, db.path+" is damaged: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the refusal does not say %q:\n%v", w, err)
				}
			}
			if !isDamage(err) {
				t.Errorf("%v is not an ErrDamaged", err)
			}
			if after, _ := os.ReadFile(db.path); !bytes.Equal(before, after) {
				t.Error("opening the damaged file changed it")
			}
		})
	}
}

func isDamage(err error) bool { return errors.Is(err, ErrDamaged) }

// TestOpenAcceptsMetaFallback: with the operator's acceptance, a file whose
// newer meta page is damaged opens as of the older one, without the last
// commit, and the next commit makes it whole.
func TestOpenAcceptsMetaFallback(t *testing.T) {
	db := writeTestDB(t, 10, true)
	db.flipMeta(t, 0)
	s, err := db.open(OpenOptions{AcceptMetaFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Withdrawal("wd-last"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the last commit's withdrawal: %v; want it gone with its meta page", err)
	}
	if _, err := s.Withdrawal("wd-0009"); err != nil {
		t.Errorf("a withdrawal of an earlier commit: %v", err)
	}
	s.Close() // Open committed: meta page 0 is written again
	s, err = db.open(OpenOptions{})
	if err != nil {
		t.Fatalf("after the fallback was accepted: %v", err)
	}
	s.Close()
	if err := Check(db.path); err != nil {
		t.Error(err)
	}
}

// TestOpenCheckTimeout: a check that does not finish in time refuses the
// file without calling it damaged, and leaves it to be opened later.
func TestOpenCheckTimeout(t *testing.T) {
	db := writeTestDB(t, 10, true)
	_, err := db.open(OpenOptions{CheckTimeout: time.Nanosecond})
	if !errors.Is(err, ErrCheckTimeout) || isDamage(err) || !strings.Contains(err.Error(), "did not finish within 1ns") {
		t.Fatalf("open with a check timeout of 1ns: %v", err)
	}
	var s *Store
	for range 50 { // the abandoned check still holds its read-only view
		if s, err = db.open(OpenOptions{}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// BenchmarkOpenCheck measures Open's checks on a file of about 100 MB
// (26,000 withdrawals and their audit records): what a node's start takes
// on top of bbolt's own open.
func BenchmarkOpenCheck(b *testing.B) {
	db := writeTestDB(b, 26_000, true)
	st, err := os.Stat(db.path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := db.open(OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(st.Size())/1e6, "MB")
}

// FuzzOpenDamaged flips bytes of a real database file anywhere (meta
// pages, branch and leaf pages, free pages): Open refuses the file or
// opens it, and reads from what it opened work; it never panics or
// faults. Before pages were walked, one such flip in about twenty killed
// the process with a SIGSEGV inside bbolt's own check.
func FuzzOpenDamaged(f *testing.F) {
	src := writeTestDB(f, 400, true)
	f.Add(uint16(7), uint16(10), byte(0xff), uint16(0), uint16(0), byte(0))    // a page's element count
	f.Add(uint16(12), uint16(20), byte(0x80), uint16(13), uint16(36), byte(7)) // element offsets
	f.Add(uint16(0), uint16(36), byte(1), uint16(1), uint16(36), byte(1))      // both meta pages
	f.Fuzz(func(t *testing.T, page1, off1 uint16, x1 byte, page2, off2 uint16, x2 byte) {
		b, err := os.ReadFile(src.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []struct {
			page, off uint16
			x         byte
		}{{page1, off1, x1}, {page2, off2, x2}} {
			if i := int64(d.page)*src.pageSize + int64(d.off)%src.pageSize; i < int64(len(b)) {
				b[i] ^= d.x
			}
		}
		db := &testDB{path: filepath.Join(t.TempDir(), "node.db"), key: src.key, pageSize: src.pageSize}
		if err := os.WriteFile(db.path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := db.open(OpenOptions{})
		if err != nil {
			return
		}
		defer s.Close()
		if _, err := s.Withdrawals("", 1<<30); err != nil {
			t.Errorf("opened, then: %v", err)
		}
		if _, err := s.Wallets(); err != nil {
			t.Errorf("opened, then: %v", err)
		}
	})
}
