package chain

import (
	"crypto/ed25519"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Verify checks a signature (64 bytes) over what a sign item signs, with
// the item's child key: for ECDSA over secp256k1, r||s over the 32-byte
// digest with the 33-byte compressed key (Bitcoin: the input's key;
// Ethereum: the sender's); for EdDSA, R||S over the message with the
// 32-byte ed25519 key. The words "input" and "the input's key" in its
// errors name a sign item, an input on Bitcoin.
func Verify(scheme Scheme, item SignItem, sig []byte) error {
	if len(sig) != 64 {
		return fmt.Errorf("not 64 bytes")
	}
	switch scheme {
	case ECDSASecp256k1:
		if len(item.Message) != 32 {
			return fmt.Errorf("the re-derived message is %d bytes, not a 32-byte digest", len(item.Message))
		}
		var rs, ss btcec.ModNScalar
		if rs.SetByteSlice(sig[:32]) || rs.IsZero() || ss.SetByteSlice(sig[32:]) || ss.IsZero() {
			return fmt.Errorf("r or s out of range")
		}
		key, err := btcec.ParsePubKey(item.PublicKey)
		if err != nil {
			return err
		}
		if !btcecdsa.NewSignature(&rs, &ss).Verify(item.Message, key) {
			return fmt.Errorf("not by the input's key (%x) over the re-derived digest %x", item.PublicKey, item.Message)
		}
	case EdDSAEd25519:
		if len(item.PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("the re-derived key is %d bytes, not an ed25519 key", len(item.PublicKey))
		}
		if !ed25519.Verify(ed25519.PublicKey(item.PublicKey), item.Message, sig) {
			return fmt.Errorf("not by the input's key (%x) over the re-derived message", item.PublicKey)
		}
	default:
		return fmt.Errorf("signature scheme %q: want %s or %s", scheme, ECDSASecp256k1, EdDSAEd25519)
	}
	return nil
}
