package bitcoin_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/policy/bitcoin"
)

func testRand() *rand.Rand {
	return rand.New(rand.NewChaCha8([32]byte([]byte("countersign policy/bitcoin tests"))))
}

// randomWallet returns a wallet root with a known private key.
func randomWallet(t testing.TB, rng *rand.Rand) (*btcec.PrivateKey, bitcoin.Key) {
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
		var k bitcoin.Key
		k.PublicKey = [33]byte(priv.PubKey().SerializeCompressed())
		for i := 0; i < len(k.ChainCode); i += 8 {
			binary.BigEndian.PutUint64(k.ChainCode[i:], rng.Uint64())
		}
		return priv, k
	}
}
