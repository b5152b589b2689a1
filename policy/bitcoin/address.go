package bitcoin

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// P2WPKHAddress returns the bech32 pay-to-witness-public-key-hash address of
// pub on network n, such as "bc1q..." on mainnet. Errors wrap [ErrNetwork]
// for an unknown n and [ErrBadKey] if pub is not a point on the curve, so
// no address is made that no key can spend.
func P2WPKHAddress(pub [33]byte, n Network) (string, error) {
	params, err := ParamsFor(n)
	if err != nil {
		return "", err
	}
	if _, err := btcec.ParsePubKey(pub[:]); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub[:]), params)
	if err != nil {
		return "", fmt.Errorf("bitcoin: P2WPKH address: %w", err)
	}
	return addr.EncodeAddress(), nil
}

// P2WPKHScript returns the output script paying to pub:
// OP_0 <20-byte HASH160(pub)>. pub is hashed as given, not validated; pass
// a key from [Key.Derive] or one checked by [P2WPKHAddress].
func P2WPKHScript(pub [33]byte) []byte {
	script := make([]byte, 0, 22)
	script = append(script, 0x00, 20) // OP_0, push 20 bytes
	return append(script, btcutil.Hash160(pub[:])...)
}

// scriptOf returns the output script paying addr on params' network.
func scriptOf(addr string, params *chaincfg.Params) ([]byte, error) {
	a, err := btcutil.DecodeAddress(addr, params)
	if err != nil {
		return nil, err
	}
	if !a.IsForNet(params) {
		return nil, fmt.Errorf("%s is not an address of %s", addr, params.Name)
	}
	return txscript.PayToAddrScript(a)
}
