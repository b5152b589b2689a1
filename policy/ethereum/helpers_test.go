package ethereum_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

func testRand() *rand.Rand {
	return rand.New(rand.NewChaCha8([32]byte([]byte("countersign policy/ethereum test"))))
}

// testWallet is a wallet root whose private key the tests know, as no
// threshold wallet's is known.
type testWallet struct {
	root *btcec.PrivateKey
	key  chain.Key
}

func newTestWallet(t testing.TB) *testWallet {
	t.Helper()
	return randomWallet(t, testRand())
}

func randomWallet(t testing.TB, rng *rand.Rand) *testWallet {
	t.Helper()
	for {
		var b [32]byte
		for i := 0; i < len(b); i += 8 {
			binary.BigEndian.PutUint64(b[i:], rng.Uint64())
		}
		var s btcec.ModNScalar
		if overflow := s.SetBytes(&b); overflow != 0 || s.IsZero() {
			continue
		}
		priv := btcec.PrivKeyFromScalar(&s)
		w := &testWallet{root: priv, key: chain.Key{Scheme: chain.ECDSASecp256k1, PublicKey: priv.PubKey().SerializeCompressed()}}
		for i := 0; i < len(w.key.ChainCode); i += 8 {
			binary.BigEndian.PutUint64(w.key.ChainCode[i:], rng.Uint64())
		}
		return w
	}
}

// childKey returns the private key of the wallet's child at path: the
// root's plus the derivation's tweak, mod n, as the signing nodes make it.
func (w *testWallet) childKey(t testing.TB, path bip32.Path) *btcec.PrivateKey {
	t.Helper()
	child, err := bip32.Key{PublicKey: [33]byte(w.key.PublicKey), ChainCode: w.key.ChainCode}.Derive(path)
	if err != nil {
		t.Fatal(err)
	}
	var tweak btcec.ModNScalar
	tweak.SetBytes(&child.Tweak)
	k := w.root.Key
	k.Add(&tweak)
	priv := btcec.PrivKeyFromScalar(&k)
	if [33]byte(priv.PubKey().SerializeCompressed()) != child.PublicKey {
		t.Fatalf("the child private key at %s does not match the derived public key", path)
	}
	return priv
}

// address returns the address of the wallet's key at path.
func (w *testWallet) address(t testing.TB, path bip32.Path) ethereum.Address {
	t.Helper()
	s, err := ethereum.Chain{}.Address(w.key, "sepolia", path)
	if err != nil {
		t.Fatal(err)
	}
	return mustAddress(t, s)
}

// sign returns the low-s signature r||s of digest by the wallet's key at
// path, and the same signature with s replaced by n-s.
func (w *testWallet) sign(t testing.TB, path bip32.Path, digest []byte) (low, high [64]byte) {
	t.Helper()
	compact := ecdsa.SignCompact(w.childKey(t, path), digest, true) // [v] r s
	copy(low[:], compact[1:])
	var s btcec.ModNScalar
	s.SetByteSlice(low[32:])
	if s.IsOverHalfOrder() {
		t.Fatal("SignCompact returned a high s")
	}
	s.Negate()
	high = low
	sb := s.Bytes()
	copy(high[32:], sb[:])
	return low, high
}

func mustAddress(t testing.TB, s string) ethereum.Address {
	t.Helper()
	a, err := ethereum.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// strangerAddress returns an address no test key controls.
func strangerAddress(name string) ethereum.Address {
	var a ethereum.Address
	copy(a[:], "stranger:"+name+"....................")
	return a
}

// refusalRule returns the rule of a *chain.Refusal, or "" for any other
// error.
func refusalRule(err error) chain.Rule {
	var r *chain.Refusal
	if errors.As(err, &r) {
		return r.Rule
	}
	return ""
}
