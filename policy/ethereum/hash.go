package ethereum

import (
	"encoding/hex"
	"math/big"

	"golang.org/x/crypto/sha3"

	"github.com/countersign/countersign/policy/chain"
)

// Hash is a Keccak-256 digest: a transaction's signing hash, its
// transaction hash, a SafeTx hash.
type Hash [32]byte

// String returns h as 64 lower-case hex digits, as [chain.Tx.ID] is
// written.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// keccak256 returns the Keccak-256 digest (Ethereum's, not SHA3-256) of
// the concatenation of parts.
func keccak256(parts ...[]byte) Hash {
	d := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		d.Write(p)
	}
	var h Hash
	d.Sum(h[:0])
	return h
}

// word is one 32-byte word of the ABI and of EIP-712's encodeData.
type word [32]byte

// amountWord returns a as a big-endian 32-byte word.
func amountWord(a chain.Amount) word {
	var w word
	a.Big().FillBytes(w[:]) // below 2^256: fits
	return w
}

// addressWord returns a left-padded with 12 zero bytes.
func addressWord(a Address) word {
	var w word
	copy(w[12:], a[:])
	return w
}

func bigFromBytes(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
