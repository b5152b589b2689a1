package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/signer/audit"
)

// resealFixture fills a store with two wallets' shares and two sets of
// pre-parameters, sealed by from.
func resealFixture(t *testing.T, s *Store, from hsm.Sealer) {
	t.Helper()
	for _, id := range []string{"w-1", "w-2"} {
		sealed, err := from.Seal("share/"+id, []byte("share of "+id))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutPendingWallet(&Wallet{ID: id, State: WalletPending}, sealed); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		sealed, err := from.Seal("preparams", fmt.Appendf(nil, "preparams %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PushPreParams(sealed); err != nil {
			t.Fatal(err)
		}
	}
}

func label(bucket, key string) string {
	if bucket == ResealShares {
		return "share/" + key
	}
	return "preparams"
}

// moveTo re-seals from one sealer to another, recording what it saw.
func moveTo(from, to hsm.Sealer, seen *[]string) ResealFunc {
	return func(bucket, key string, sealed []byte) ([]byte, error) {
		*seen = append(*seen, bucket+" "+key)
		plain, err := from.Unseal(label(bucket, key), sealed)
		if err != nil {
			return nil, err
		}
		defer clear(plain)
		return to.Seal(label(bucket, key), plain)
	}
}

// checkSealedBy checks every secret in s opens with sealer, and pops the
// pre-parameters to do so.
func checkSealedBy(t *testing.T, s *Store, sealer hsm.Sealer) {
	t.Helper()
	for _, id := range []string{"w-1", "w-2"} {
		sealed, err := s.SealedShare(id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := sealer.Unseal("share/"+id, sealed); err != nil || string(got) != "share of "+id {
			t.Fatalf("share %s: %q, %v", id, got, err)
		}
	}
	for i := range 2 {
		sealed, err := s.PopPreParams()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := sealer.Unseal("preparams", sealed); err != nil || string(got) != fmt.Sprintf("preparams %d", i) {
			t.Fatalf("preparams %d: %q, %v", i, got, err)
		}
	}
}

func TestReseal(t *testing.T) {
	a, b := hsm.NewMemory(), hsm.NewMemory()

	t.Run("every secret, with its bucket and key", func(t *testing.T) {
		s, _, _ := open(t)
		resealFixture(t, s, a)
		head := s.Head()
		var seen []string
		if err := s.Reseal(moveTo(a, b, &seen)); err != nil {
			t.Fatal(err)
		}
		if want := []string{"shares w-1", "shares w-2", "preparams 1", "preparams 2"}; !slices.Equal(seen, want) {
			t.Fatalf("fn saw %q, want %q", seen, want)
		}
		if s.Head() != head {
			t.Error("Reseal appended to the audit log")
		}
		checkSealedBy(t, s, b)
	})

	t.Run("a failure leaves everything as it was", func(t *testing.T) {
		s, _, _ := open(t)
		resealFixture(t, s, a)
		boom := errors.New("boom")
		n := 0
		err := s.Reseal(func(bucket, key string, sealed []byte) ([]byte, error) {
			if n++; n == 3 {
				return nil, boom
			}
			return moveTo(a, b, new([]string))(bucket, key, sealed)
		})
		if !errors.Is(err, boom) || err.Error() != "store: re-seal preparams 1: boom" {
			t.Fatalf("Reseal: %v", err)
		}
		checkSealedBy(t, s, a)
	})

	t.Run("an empty result is refused", func(t *testing.T) {
		s, _, _ := open(t)
		resealFixture(t, s, a)
		err := s.Reseal(func(string, string, []byte) ([]byte, error) { return nil, nil })
		if err == nil {
			t.Fatal("Reseal accepted an empty sealed secret")
		}
		checkSealedBy(t, s, a)
	})

	t.Run("returning the blob keeps it", func(t *testing.T) {
		s, _, _ := open(t)
		resealFixture(t, s, a)
		if err := s.Reseal(func(_, _ string, sealed []byte) ([]byte, error) { return sealed, nil }); err != nil {
			t.Fatal(err)
		}
		checkSealedBy(t, s, a)
	})

	t.Run("empty store", func(t *testing.T) {
		s, _, _ := open(t)
		if err := s.Reseal(func(string, string, []byte) ([]byte, error) { panic("called") }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOpenOffline(t *testing.T) {
	a, b := hsm.NewMemory(), hsm.NewMemory()
	if _, err := OpenOffline(filepath.Join(t.TempDir(), "node.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing database: %v", err)
	}

	s, key, path := open(t)
	resealFixture(t, s, a)
	if _, err := OpenOffline(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("database of a running node: %v, want ErrInUse", err)
	}
	s.Close()

	o, err := OpenOffline(path)
	if err != nil {
		t.Fatal(err)
	}
	if shares, preparams, err := o.Count(); err != nil || shares != 2 || preparams != 2 {
		t.Fatalf("Count = %d, %d, %v", shares, preparams, err)
	}
	var seen []string
	if err := o.Reseal(moveTo(a, b, &seen)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4 {
		t.Fatalf("fn saw %q", seen)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, key, audit.Genesis{}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	checkSealedBy(t, s2, b)
}
