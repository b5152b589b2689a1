package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/signer/audit"
)

func open(t *testing.T) (*Store, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-1"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node.db")
	s, err := Open(path, key, audit.Genesis{NodeID: "node-1", CertDER: der, Format: audit.Version}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if err := Check(path); err != nil {
			t.Error(err)
		}
	})
	return s, key, path
}

func TestWalletLifecycle(t *testing.T) {
	s, _, _ := open(t)
	w := &Wallet{ID: "w-1", State: WalletPending, Nodes: []string{"a", "b"}}
	if err := s.PutPendingWallet(w, []byte("sealed"), Event{audit.KindSessionEnded, &audit.SessionEnded{SessionID: "s"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPendingWallet(w, []byte("again")); !errors.Is(err, ErrExists) {
		t.Fatalf("second put: %v", err)
	}
	if err := s.SetWalletState("w-1", WalletActive, WalletDiscarded); !errors.Is(err, ErrState) {
		t.Fatalf("wrong from-state: %v", err)
	}
	if err := s.SetWalletState("w-1", WalletPending, WalletActive); err != nil {
		t.Fatal(err)
	}
	got, err := s.Wallet("w-1")
	if err != nil || got.State != WalletActive {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := s.Wallet("w-2"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.SetWalletState("w-1", WalletActive, WalletDiscarded); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SealedShare("w-1"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a discarded wallet keeps its share")
	}
}

func TestPreParamsPoolIsFIFO(t *testing.T) {
	s, _, _ := open(t)
	if _, err := s.PopPreParams(); !errors.Is(err, ErrEmpty) {
		t.Fatal(err)
	}
	for _, b := range []string{"one", "two", "three"} {
		if err := s.PushPreParams([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if s.CountPreParams() != 3 {
		t.Fatal(s.CountPreParams())
	}
	for _, want := range []string{"one", "two", "three"} {
		got, err := s.PopPreParams()
		if err != nil || string(got) != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
}

// TestAuditFollowsCommits checks that a failed transaction leaves neither
// its record nor a moved head behind, and that the log verifies across a
// reopen.
func TestAuditFollowsCommits(t *testing.T) {
	s, key, path := open(t)
	if err := s.Append(Event{audit.KindCallRefused, &audit.CallRefused{Caller: "x"}}); err != nil {
		t.Fatal(err)
	}
	head := s.Head()
	w := &Wallet{ID: "w-1", State: WalletPending}
	if err := s.PutPendingWallet(w, nil); err != nil {
		t.Fatal(err)
	}
	head = s.Head()
	// fails inside the transaction, after its audit record was built
	if err := s.PutPendingWallet(w, nil, Event{audit.KindWalletCreated, &audit.WalletCreated{WalletID: "w-1"}}); err == nil {
		t.Fatal("duplicate accepted")
	}
	if s.Head() != head {
		t.Fatal("the head moved for a transaction that did not commit")
	}
	if err := s.Append(Event{audit.KindCallRefused, &audit.CallRefused{Caller: "y"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, key, audit.Genesis{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	v := audit.NewVerifier(&key.PublicKey)
	if err := s2.ForEachAudit(v.Add); err != nil {
		t.Fatal(err)
	}
	h, err := v.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if h.Seq != 2 || h != s2.Head() {
		t.Fatalf("head %v, store says %v", h, s2.Head())
	}
}
