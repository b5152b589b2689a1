package ethereum_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/ethereum"
)

// TestFinishTransfer signs each account withdrawal with the child key the
// nodes' shares add up to, with a low and a high s, and checks the signed
// transaction: the unsigned fields unchanged, a low s, a y-parity that
// recovers the account, and the transaction hash.
func TestFinishTransfer(t *testing.T) {
	for _, base := range []string{baseETH, baseToken} {
		t.Run(base, func(t *testing.T) {
			a := newAdversary(t, base)
			unsigned := a.encode()
			tx, err := a.rederive()
			if err != nil {
				t.Fatal(err)
			}
			from := a.w.address(t, bip32.ReceivePath(0))
			low, high := a.w.sign(t, bip32.ReceivePath(0), tx.Sign[0].Message)
			var first []byte
			for name, sig := range map[string][64]byte{"low s": low, "high s": high} {
				fin, err := tx.Finish([][64]byte{sig})
				if err != nil {
					t.Fatalf("%s: Finish: %v", name, err)
				}
				if fin.TxID != keccakHex(fin.Raw) {
					t.Errorf("%s: TxID %s is not the digest of the signed transaction", name, fin.TxID)
				}
				if first != nil && !bytes.Equal(first, fin.Raw) {
					t.Errorf("%s: the signed transaction differs from the other s's", name)
				}
				first = fin.Raw
				if fin.Raw[0] != ethereum.TypeDynamicFee {
					t.Fatalf("%s: type %x", name, fin.Raw[0])
				}
				v, err := ethereum.DecodeRLP(fin.Raw[1:])
				if err != nil || len(v.List) != 12 {
					t.Fatalf("%s: signed transaction %x: %v", name, fin.Raw, err)
				}
				if got := ethereum.RLPList(v.List[:9]...).Append([]byte{ethereum.TypeDynamicFee}); !bytes.Equal(got, unsigned) {
					t.Fatalf("%s: the signed transaction's fields are not the unsigned ones", name)
				}
				parity, r, s := v.List[9].Bytes, v.List[10].Bytes, v.List[11].Bytes
				if len(parity) > 1 || (len(parity) == 1 && parity[0] != 1) || len(r) > 32 || len(s) > 32 {
					t.Fatalf("%s: yParity %x, r %x, s %x", name, parity, r, s)
				}
				var ss btcec.ModNScalar
				ss.SetByteSlice(s)
				if ss.IsOverHalfOrder() {
					t.Errorf("%s: s is above n/2", name)
				}
				compact := make([]byte, 65)
				compact[0] = 27 + 4
				if len(parity) == 1 {
					compact[0]++
				}
				copy(compact[33-len(r):33], r)
				copy(compact[65-len(s):], s)
				k, _, err := ecdsa.RecoverCompact(compact, tx.Sign[0].Message)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := ethereum.PublicKeyAddress([33]byte(k.SerializeCompressed()))
				if got != from {
					t.Errorf("%s: the signed transaction is from %s, want %s", name, got, from)
				}
			}
		})
	}
}

// TestFinishSafe checks the owner signature a Safe withdrawal returns.
func TestFinishSafe(t *testing.T) {
	for _, base := range []string{baseSafeETH, baseSafeToken} {
		t.Run(base, func(t *testing.T) {
			a := newAdversary(t, base)
			tx, err := a.rederive()
			if err != nil {
				t.Fatal(err)
			}
			owner := a.w.address(t, bip32.ReceivePath(0))
			low, high := a.w.sign(t, bip32.ReceivePath(0), tx.Sign[0].Message)
			for name, sig := range map[string][64]byte{"low s": low, "high s": high} {
				fin, err := tx.Finish([][64]byte{sig})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(fin.Raw) != 65 || (fin.Raw[64] != 27 && fin.Raw[64] != 28) || !bytes.Equal(fin.Raw[:32], low[:32]) ||
					!bytes.Equal(fin.Raw[32:64], low[32:]) {
					t.Fatalf("%s: signature %x, want r||low s||v", name, fin.Raw)
				}
				got, err := ethereum.RecoverSafeSignature(ethereum.Hash(tx.Sign[0].Message), fin.Raw)
				if err != nil || got != owner {
					t.Fatalf("%s: recovers to %s (%v), want %s", name, got, err, owner)
				}
				if fin.TxID != tx.ID {
					t.Errorf("%s: TxID %s, want the SafeTx hash %s", name, fin.TxID, tx.ID)
				}
			}
			// A high s is not what Safe's owners' tools check; the node never
			// returns one, and RecoverSafeSignature refuses it.
			bad := append(bytes.Clone(high[:]), 27)
			if _, err := ethereum.RecoverSafeSignature(ethereum.Hash(tx.Sign[0].Message), bad); !errors.Is(err, ethereum.ErrSignature) {
				t.Errorf("high s recovered: %v", err)
			}
		})
	}
}

// TestFinishRefuses checks that Finish returns nothing for signatures
// that are not one valid signature by the account's key.
func TestFinishRefuses(t *testing.T) {
	for _, base := range bases {
		a := newAdversary(t, base)
		tx, err := a.rederive()
		if err != nil {
			t.Fatal(err)
		}
		good, _ := a.w.sign(t, bip32.ReceivePath(0), tx.Sign[0].Message)
		otherKey, _ := a.w.sign(t, bip32.ReceivePath(1), tx.Sign[0].Message)
		otherDigest, _ := a.w.sign(t, bip32.ReceivePath(0), make([]byte, 32))
		var overN [64]byte
		copy(overN[:], bytes.Repeat([]byte{0xff}, 32))
		copy(overN[32:], good[32:])
		tests := map[string][][64]byte{
			"none":             nil,
			"two":              {good, good},
			"another key":      {otherKey},
			"another digest":   {otherDigest},
			"zero":             {{}},
			"r over the order": {overN},
			"r zero":           {[64]byte(append(make([]byte, 32), good[32:]...))},
		}
		for name, sigs := range tests {
			fin, err := tx.Finish(sigs)
			if fin != nil || !errors.Is(err, ethereum.ErrSignature) {
				t.Errorf("%s, %s: Finish = %v, %v; want ErrSignature", base, name, fin, err)
			}
		}
	}
}
