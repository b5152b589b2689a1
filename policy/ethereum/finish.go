package ethereum

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/countersign/countersign/policy/chain"
)

// ErrSignature reports signatures that do not make a valid result: not
// exactly one, r or s out of range, or not by the account's key.
var ErrSignature = errors.New("ethereum: signature does not verify")

// finishTransfer returns the Finish of an EIP-1559 withdrawal: it puts the
// one signature into the transaction, then decodes what it assembled,
// recovers the sender from the decoded transaction's own signing hash and
// requires it to be the account before returning it.
func finishTransfer(tx *DynamicFeeTx, hash Hash, acct *account) func([][64]byte) (*chain.Finished, error) {
	return func(sigs [][64]byte) (*chain.Finished, error) {
		if len(sigs) != 1 {
			return nil, fmt.Errorf("%w: %d signatures, want 1", ErrSignature, len(sigs))
		}
		r, s, parity, err := normalize(sigs[0], hash, acct.pub)
		if err != nil {
			return nil, err
		}
		raw := tx.signed(parity, r, s)

		back, sig, err := parseSignedDynamicFeeTx(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: the signed transaction does not decode: %v", ErrSignature, err)
		}
		if back.SigningHash() != hash {
			return nil, fmt.Errorf("%w: the signed transaction's signing hash is not %s", ErrSignature, hash)
		}
		parityBack, ok := sig.yParity.Uint64()
		if !ok || parityBack > 1 {
			return nil, fmt.Errorf("%w: yParity %s", ErrSignature, sig.yParity)
		}
		from, err := recoverAddress(back.SigningHash(), byte(parityBack), amountWord(sig.r), amountWord(sig.s))
		if err != nil {
			return nil, err
		}
		if from != acct.address {
			return nil, fmt.Errorf("%w: the signed transaction is from %s, the account is %s", ErrSignature, from, acct.address)
		}
		return &chain.Finished{Raw: raw, TxID: keccak256(raw).String()}, nil
	}
}

// SafeSignatureLen is the length of a Safe owner's ECDSA signature:
// r || s || v with v = 27 + the y-parity.
const SafeSignatureLen = 65

// finishSafe returns the Finish of a Safe withdrawal: the owner's
// signature of the SafeTx hash in Safe's format, checked to recover to
// the owner.
func finishSafe(hash Hash, acct *account) func([][64]byte) (*chain.Finished, error) {
	return func(sigs [][64]byte) (*chain.Finished, error) {
		if len(sigs) != 1 {
			return nil, fmt.Errorf("%w: %d signatures, want 1", ErrSignature, len(sigs))
		}
		r, s, parity, err := normalize(sigs[0], hash, acct.pub)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, SafeSignatureLen)
		out = append(append(append(out, r[:]...), s[:]...), 27+parity)

		owner, err := RecoverSafeSignature(hash, out)
		if err != nil {
			return nil, err
		}
		if owner != acct.address {
			return nil, fmt.Errorf("%w: the signature recovers to %s, the owner is %s", ErrSignature, owner, acct.address)
		}
		return &chain.Finished{Raw: out, TxID: hash.String()}, nil
	}
}

// RecoverSafeSignature returns the owner whose 65-byte ECDSA signature
// r || s || v (v 27 or 28, s at most n/2) sig is of hash, as Safe's
// checkSignatures reads one. Errors wrap [ErrSignature].
func RecoverSafeSignature(hash Hash, sig []byte) (Address, error) {
	if len(sig) != SafeSignatureLen || (sig[64] != 27 && sig[64] != 28) {
		return Address{}, fmt.Errorf("%w: want %d bytes ending in v 27 or 28", ErrSignature, SafeSignatureLen)
	}
	return recoverAddress(hash, sig[64]-27, [32]byte(sig[:32]), [32]byte(sig[32:64]))
}

// normalize returns the signature r||s of hash by pub with s at most n/2
// (EIP-2: a high s is replaced by n - s, which flips the y-parity) and the
// y-parity that recovers pub.
func normalize(sig [64]byte, hash Hash, pub *btcec.PublicKey) (r, s [32]byte, parity byte, err error) {
	var rs, ss btcec.ModNScalar
	if rs.SetByteSlice(sig[:32]) || rs.IsZero() || ss.SetByteSlice(sig[32:]) || ss.IsZero() {
		return r, s, 0, fmt.Errorf("%w: r or s is zero or not below the curve order", ErrSignature)
	}
	if ss.IsOverHalfOrder() {
		ss.Negate()
	}
	r, s = rs.Bytes(), ss.Bytes()
	for parity = 0; parity < 2; parity++ {
		k, err := recoverKey(hash, parity, r, s)
		if err == nil && k.IsEqual(pub) {
			return r, s, parity, nil
		}
	}
	return r, s, 0, fmt.Errorf("%w: not a signature of %s by the account's key", ErrSignature, hash)
}

// recoverAddress returns the address whose key signed hash with r, s and
// the y-parity, refusing a high s.
func recoverAddress(hash Hash, parity byte, r, s [32]byte) (Address, error) {
	k, err := recoverKey(hash, parity, r, s)
	if err != nil {
		return Address{}, err
	}
	return keyAddress(k), nil
}

// recoverKey returns the public key that signed hash with r, s and the
// y-parity. r and s must be in 1..n-1 and s at most n/2.
func recoverKey(hash Hash, parity byte, r, s [32]byte) (*btcec.PublicKey, error) {
	var rs, ss btcec.ModNScalar
	if parity > 1 || rs.SetBytes(&r) != 0 || rs.IsZero() || ss.SetBytes(&s) != 0 || ss.IsZero() {
		return nil, fmt.Errorf("%w: y-parity, r or s out of range", ErrSignature)
	}
	if ss.IsOverHalfOrder() {
		return nil, fmt.Errorf("%w: s is above n/2 (EIP-2)", ErrSignature)
	}
	var compact [65]byte
	compact[0] = 27 + 4 + parity // compressed key, recovery id parity
	copy(compact[1:33], r[:])
	copy(compact[33:], s[:])
	k, _, err := ecdsa.RecoverCompact(compact[:], hash[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return k, nil
}
