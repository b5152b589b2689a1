package bip32

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// TestAddBase checks the cases where BIP32 defines no child. HMAC-SHA512
// cannot be steered into them, so they are fed to addBase directly.
func TestAddBase(t *testing.T) {
	scalar := func(v uint32) [32]byte {
		var s btcec.ModNScalar
		s.SetInt(v)
		return s.Bytes()
	}
	var order, orderPlus1, orderMinus1, allOnes [32]byte
	btcec.S256().N.FillBytes(order[:])
	orderPlus1, orderMinus1 = order, order
	orderPlus1[31]++  // n ends in 0x41: no carry
	orderMinus1[31]-- // nor borrow
	for i := range allOnes {
		allOnes[i] = 0xff
	}

	var g, minusG, twoG, threeG btcec.JacobianPoint
	btcec.GeneratorJacobian(&g)
	minusG = g
	minusG.Y.Negate(1).Normalize()
	two, three := new(btcec.ModNScalar).SetInt(2), new(btcec.ModNScalar).SetInt(3)
	btcec.ScalarBaseMultNonConst(two, &twoG)
	btcec.ScalarBaseMultNonConst(three, &threeG)

	tests := []struct {
		name   string
		parent *btcec.JacobianPoint
		il     [32]byte
		want   *btcec.JacobianPoint // nil: no valid child
	}{
		{"IL zero", &g, [32]byte{}, nil},
		{"IL equals n", &g, order, nil},
		{"IL is n+1", &g, orderPlus1, nil},
		{"IL is 2^256-1", &g, allOnes, nil},
		{"child at infinity", &minusG, scalar(1), nil},
		{"child at infinity, IL n-1", &g, orderMinus1, nil},
		{"doubling", &g, scalar(1), &twoG},
		{"adding", &g, scalar(2), &threeG},
		{"IL n-1", &twoG, orderMinus1, &g},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var il btcec.ModNScalar
			var child btcec.JacobianPoint
			ok := addBase(tc.parent, &tc.il, &il, &child)
			if tc.want == nil {
				if ok {
					t.Fatalf("addBase accepted IL %x", tc.il)
				}
				return
			}
			if !ok {
				t.Fatalf("addBase refused IL %x", tc.il)
			}
			if il.Bytes() != tc.il {
				t.Fatalf("il = %x, want %x", il.Bytes(), tc.il)
			}
			want := *tc.want
			want.ToAffine()
			child.ToAffine()
			if !child.X.Equals(&want.X) || !child.Y.Equals(&want.Y) {
				t.Fatalf("child = (%v, %v), want (%v, %v)", child.X, child.Y, want.X, want.Y)
			}
		})
	}
}
