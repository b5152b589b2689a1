package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/countersign/countersign/signer/audit"
	bolt "go.etcd.io/bbolt"
)

// TestAuditLogOfANode reads a node database's log read-only after the
// node closed it, and is refused while the node holds it.
func TestAuditLogOfANode(t *testing.T) {
	s, key, path := open(t)
	for range 5 {
		if err := s.Append(Event{audit.KindCallRefused, &audit.CallRefused{Caller: "x", Method: "/m", Reason: "no"}}); err != nil {
			t.Fatal(err)
		}
	}
	w := &Wallet{ID: "w-0000000000000001", PublicKey: bytes.Repeat([]byte{2}, 33), ChainCode: bytes.Repeat([]byte{7}, 32), State: WalletPending}
	if err := s.PutPendingWallet(w, []byte("sealed share")); err != nil {
		t.Fatal(err)
	}
	head := s.Head()
	if _, err := OpenAuditLog(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("open while the node holds the file: %v, want ErrInUse", err)
	}
	s.Close()
	if err := os.Chmod(path, 0o400); err != nil { // read-only access suffices
		t.Fatal(err)
	}
	l, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := 0
	for v, err := range audit.Stream(&key.PublicKey, l.Records, 2) {
		if err != nil {
			t.Fatal(err)
		}
		if v.Seq == head.Seq && v.Hash != head.Hash {
			t.Fatalf("record %d: hash differs from the store's head", v.Seq)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("%d records, want 6", n)
	}
	if last, ok, err := l.Last(); err != nil || !ok || last != 5 {
		t.Fatalf("Last: %d, %v, %v", last, ok, err)
	}
	if raw, ok, err := l.Record(3); err != nil || !ok || len(raw) == 0 {
		t.Fatalf("Record(3): %v, %v", ok, err)
	}
	if _, ok, err := l.Record(6); err != nil || ok {
		t.Fatalf("Record(6): %v, %v", ok, err)
	}
	ws, err := l.Wallets()
	if err != nil || len(ws) != 1 || ws[0].ID != w.ID || !bytes.Equal(ws[0].PublicKey, w.PublicKey) || !bytes.Equal(ws[0].ChainCode, w.ChainCode) {
		t.Fatalf("Wallets: %+v, %v", ws, err)
	}
}

func TestOpenAuditLogRejects(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenAuditLog(filepath.Join(dir, "none.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	notDB := filepath.Join(dir, "not.db")
	os.WriteFile(notDB, bytes.Repeat([]byte("x"), 8192), 0o600)
	if _, err := OpenAuditLog(notDB); err == nil {
		t.Error("a file that is not a database: no error")
	}
	empty := filepath.Join(dir, "empty.db")
	db, err := bolt.Open(empty, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenAuditLog(empty); !errors.Is(err, ErrNoAuditLog) {
		t.Errorf("a database without an audit log: %v", err)
	}
}

func TestAuditWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "copy.db")
	w, err := CreateAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(25_000) { // more than one batch
		if err := w.Put(i, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Put(24_999, []byte("again")); err == nil {
		t.Fatal("a repeated key was accepted")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the file appeared before Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateAuditLog(path); !errors.Is(err, ErrExists) {
		t.Fatalf("create over an existing file: %v", err)
	}
	l, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var n uint64
	err = l.Records(func(seq uint64, raw []byte) bool {
		if seq != n || !bytes.Equal(raw, []byte{byte(n)}) {
			t.Fatalf("record %d: key %d, %x", n, seq, raw)
		}
		n++
		return true
	})
	if err != nil || n != 25_000 {
		t.Fatalf("%d records, %v", n, err)
	}

	aborted := filepath.Join(t.TempDir(), "aborted.db")
	w, err = CreateAuditLog(aborted)
	if err != nil {
		t.Fatal(err)
	}
	w.Put(0, []byte("x"))
	w.Abort()
	if entries, _ := os.ReadDir(filepath.Dir(aborted)); len(entries) != 0 {
		t.Fatalf("Abort left %v", entries)
	}
}
