package ethereum

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// AddressLen is the length of an Ethereum address in bytes.
const AddressLen = 20

// Address is an Ethereum account: the last 20 bytes of the Keccak-256
// digest of a secp256k1 public key's 64-byte uncompressed point, or a
// contract. Addresses compare on all 20 bytes, never on a spelling.
type Address [AddressLen]byte

// Errors of the address parser, always wrapped with detail.
var (
	// ErrAddress reports a string that is not "0x" and 40 hex digits.
	ErrAddress = errors.New("ethereum: not an address")
	// ErrAddressSpelling reports an address not spelled with its EIP-55
	// checksum; the error names the right spelling.
	ErrAddressSpelling = errors.New("ethereum: address not spelled in EIP-55")
)

// PublicKeyAddress returns the address of a compressed secp256k1 public
// key. The error wraps [ErrAddress] if pub is not a point on the curve.
func PublicKeyAddress(pub [33]byte) (Address, error) {
	k, err := btcec.ParsePubKey(pub[:])
	if err != nil {
		return Address{}, fmt.Errorf("%w: public key %x: %v", ErrAddress, pub, err)
	}
	return keyAddress(k), nil
}

// keyAddress returns the address of k.
func keyAddress(k *btcec.PublicKey) Address {
	u := k.SerializeUncompressed() // 0x04 || X || Y
	h := keccak256(u[1:])
	return Address(h[12:])
}

// ParseAddress reads an address spelled exactly as [Address.String] writes
// it: "0x" and 40 hex digits whose letters are cased by the EIP-55
// checksum. Errors wrap [ErrAddress] for anything that is not 20 bytes of
// hex after "0x", and [ErrAddressSpelling] for any other spelling of an
// address (all lower case, all upper case, a wrong checksum), naming the
// right one.
func ParseAddress(s string) (Address, error) {
	a, err := parseAddressHex(s)
	if err != nil {
		return Address{}, err
	}
	if want := a.String(); s != want {
		return Address{}, fmt.Errorf("%w: %s is spelled %s", ErrAddressSpelling, quote(s), want)
	}
	return a, nil
}

// parseAddressHex reads "0x" or "0X" and 40 hex digits of either case.
func parseAddressHex(s string) (Address, error) {
	if len(s) != 2+2*AddressLen || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return Address{}, fmt.Errorf("%w: %s is not \"0x\" and %d hex digits", ErrAddress, quote(s), 2*AddressLen)
	}
	var a Address
	if _, err := hex.Decode(a[:], []byte(s[2:])); err != nil {
		return Address{}, fmt.Errorf("%w: %s is not \"0x\" and %d hex digits", ErrAddress, quote(s), 2*AddressLen)
	}
	return a, nil
}

// parseAddressLoose reads an address spelled as EIP-55 allows: "0x" and
// 40 hex digits all in lower case, all in upper case, or cased by the
// checksum. A mixed-case spelling with a wrong checksum is refused: it is
// a mistyped address, not another spelling of one.
func parseAddressLoose(s string) (Address, bool) {
	if len(s) < 2 || s[1] != 'x' {
		return Address{}, false
	}
	a, err := parseAddressHex(s)
	if err != nil {
		return Address{}, false
	}
	digits := s[2:]
	lower, upper := true, true
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if 'a' <= c && c <= 'f' {
			upper = false
		}
		if 'A' <= c && c <= 'F' {
			lower = false
		}
	}
	if lower || upper || s == a.String() {
		return a, true
	}
	return Address{}, false
}

// String returns a as EIP-55 spells it: "0x" and 40 hex digits, a letter
// in upper case where the matching nibble of the Keccak-256 digest of the
// lower-case hex is 8 or more.
func (a Address) String() string {
	var buf [2 + 2*AddressLen]byte
	buf[0], buf[1] = '0', 'x'
	hex.Encode(buf[2:], a[:])
	digest := keccak256(buf[2:])
	for i := 2; i < len(buf); i++ {
		nibble := digest[(i-2)/2]
		if (i-2)%2 == 0 {
			nibble >>= 4
		}
		if buf[i] >= 'a' && nibble&0xf >= 8 {
			buf[i] -= 'a' - 'A'
		}
	}
	return string(buf[:])
}

// Lower returns a as "0x" and 40 lower-case hex digits, as nonce accounts
// name it.
func (a Address) Lower() string { return "0x" + hex.EncodeToString(a[:]) }

// IsZero reports whether a is the zero address, which no key controls.
func (a Address) IsZero() bool { return a == Address{} }
