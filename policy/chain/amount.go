package chain

import (
	"encoding/json"
	"fmt"
	"math/big"
)

// Amount is a non-negative integer of an asset's base units (satoshi, wei,
// a token's smallest unit), below 2^256. The zero value is 0. Amounts are
// immutable: every operation returns a new one.
//
// In JSON an Amount is a decimal string without sign, spaces or leading
// zeros ("0", "1500000000000000000"): one spelling per value.
type Amount struct {
	v *big.Int // nil means 0; never negative, never modified
}

// maxAmount is 2^256 - 1.
var maxAmount = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// AmountOf returns v as an Amount.
func AmountOf(v uint64) Amount { return Amount{new(big.Int).SetUint64(v)} }

// AmountFromBig returns a copy of b as an Amount, or false if b is
// negative or not below 2^256.
func AmountFromBig(b *big.Int) (Amount, bool) {
	if b == nil || b.Sign() < 0 || b.Cmp(maxAmount) > 0 {
		return Amount{}, false
	}
	return Amount{new(big.Int).Set(b)}, true
}

// ParseAmount reads a decimal Amount as [Amount.String] writes it.
func ParseAmount(s string) (Amount, error) {
	if s == "" || len(s) > MaxAmountDigits {
		return Amount{}, fmt.Errorf("%w: amount %s: want 1 to %d decimal digits", ErrIntent, Quote(s), MaxAmountDigits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return Amount{}, fmt.Errorf("%w: amount %s: want decimal digits only", ErrIntent, Quote(s))
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return Amount{}, fmt.Errorf("%w: amount %s: leading zero", ErrIntent, Quote(s))
	}
	b, _ := new(big.Int).SetString(s, 10)
	a, ok := AmountFromBig(b)
	if !ok {
		return Amount{}, fmt.Errorf("%w: amount %s: not below 2^256", ErrIntent, Quote(s))
	}
	return a, nil
}

// MustAmount is ParseAmount for constants; it panics on a bad spelling.
func MustAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(err)
	}
	return a
}

func (a Amount) big() *big.Int {
	if a.v == nil {
		return new(big.Int)
	}
	return a.v
}

// Big returns a copy of a as a big.Int.
func (a Amount) Big() *big.Int { return new(big.Int).Set(a.big()) }

// String returns a in decimal.
func (a Amount) String() string { return a.big().String() }

// Sign returns 0 for zero and 1 otherwise.
func (a Amount) Sign() int { return a.big().Sign() }

// IsZero reports whether a is 0.
func (a Amount) IsZero() bool { return a.Sign() == 0 }

// Cmp compares a and b: -1, 0 or +1.
func (a Amount) Cmp(b Amount) int { return a.big().Cmp(b.big()) }

// Equal reports whether a and b are the same amount.
func (a Amount) Equal(b Amount) bool { return a.Cmp(b) == 0 }

// Add returns a+b, or false if the sum is not below 2^256.
func (a Amount) Add(b Amount) (Amount, bool) {
	return AmountFromBig(new(big.Int).Add(a.big(), b.big()))
}

// Sub returns a-b, or false if b is greater than a.
func (a Amount) Sub(b Amount) (Amount, bool) {
	return AmountFromBig(new(big.Int).Sub(a.big(), b.big()))
}

// Mul returns a*b, or false if the product is not below 2^256.
func (a Amount) Mul(b Amount) (Amount, bool) {
	return AmountFromBig(new(big.Int).Mul(a.big(), b.big()))
}

// Int64 returns a as an int64, and false if it does not fit.
func (a Amount) Int64() (int64, bool) {
	b := a.big()
	if !b.IsInt64() {
		return 0, false
	}
	return b.Int64(), true
}

// Uint64 returns a as a uint64, and false if it does not fit.
func (a Amount) Uint64() (uint64, bool) {
	b := a.big()
	if !b.IsUint64() {
		return 0, false
	}
	return b.Uint64(), true
}

// Decimal writes a in units of 10^decimals base units: "1.5" for
// 1500000000000000000 wei with 18 decimals, trailing zeros dropped.
func (a Amount) Decimal(decimals int) string {
	s := a.String()
	if decimals <= 0 {
		return s
	}
	for len(s) <= decimals {
		s = "0" + s
	}
	whole, frac := s[:len(s)-decimals], s[len(s)-decimals:]
	for frac != "" && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// MarshalJSON writes a as a decimal string.
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON reads a decimal string as ParseAmount does.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("amount: want a decimal string: %v", err)
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Amounts is an amount per asset, as outflows and velocity are counted.
// A missing asset is 0.
type Amounts map[string]Amount

// Plus returns a new Amounts with b added to a, and false if a sum
// overflows.
func (a Amounts) Plus(b Amounts) (Amounts, bool) {
	out := make(Amounts, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		s, ok := out[k].Add(v)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}
