package bip32

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
)

// Key is the root of a threshold wallet: the group public key of a tss-lib
// ECDSA secp256k1 key generation and the chain code agreed with it.
type Key struct {
	PublicKey [33]byte // compressed (SEC 1) encoding
	ChainCode [32]byte
}

// Child is a key derived from a wallet's root.
type Child struct {
	PublicKey [33]byte // compressed (SEC 1) encoding
	ChainCode [32]byte

	// Tweak is the big-endian scalar t, below the curve order n, with
	// childPriv = rootPriv + t (mod n): the sum of BIP32's IL values along
	// Path. Signing nodes pass it to tss-lib to sign for the child with
	// shares of the root key.
	Tweak [32]byte

	// Path is the child's path below the root.
	Path Path
}

// Derive returns the child of k at path by BIP32 public derivation
// (CKDpub). The empty path gives k itself with a zero Tweak.
//
// Errors wrap [ErrBadKey] if k.PublicKey is not a point on the curve,
// [ErrHardened] or [ErrPathTooDeep] for an invalid path, and
// [ErrInvalidChild] if BIP32 defines no child at path; the caller then
// skips the index, as BIP32 prescribes.
func (k Key) Derive(path Path) (Child, error) {
	if err := path.check(); err != nil {
		return Child{}, err
	}
	root, err := btcec.ParsePubKey(k.PublicKey[:])
	if err != nil {
		return Child{}, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	n := node{pub: k.PublicKey, chain: k.ChainCode}
	root.AsJacobian(&n.point)
	var tweak btcec.ModNScalar
	for depth, index := range path {
		var il btcec.ModNScalar
		n, il, err = n.child(index)
		if err != nil {
			return Child{}, fmt.Errorf("%w: %s", err, path[:depth+1])
		}
		tweak.Add(&il)
	}
	return Child{
		PublicKey: n.pub,
		ChainCode: n.chain,
		Tweak:     tweak.Bytes(),
		Path:      slices.Clone(path),
	}, nil
}

// node is a public key with its chain code.
type node struct {
	point btcec.JacobianPoint // affine: Z is 1
	pub   [33]byte            // point, compressed
	chain [32]byte
}

// child returns n's child at the non-hardened index and the scalar IL
// with child = n + IL·G, per BIP32's CKDpub.
func (n *node) child(index uint32) (node, btcec.ModNScalar, error) {
	var data [33 + 4]byte
	copy(data[:33], n.pub[:])
	binary.BigEndian.PutUint32(data[33:], index)
	mac := hmac.New(sha512.New, n.chain[:])
	mac.Write(data[:])
	sum := mac.Sum(nil)

	var c node
	var il btcec.ModNScalar
	if !addBase(&n.point, (*[32]byte)(sum[:32]), &il, &c.point) {
		return node{}, il, ErrInvalidChild
	}
	c.point.ToAffine()
	c.pub = [33]byte(btcec.NewPublicKey(&c.point.X, &c.point.Y).SerializeCompressed())
	copy(c.chain[:], sum[32:])
	return c, il, nil
}

// addBase sets il to the big-endian scalar ilBytes and child to
// parent + il·G. It reports false, as BIP32 and btcutil's hdkeychain do,
// if ilBytes is not below the curve order, is zero, or the sum is the
// point at infinity.
func addBase(parent *btcec.JacobianPoint, ilBytes *[32]byte, il *btcec.ModNScalar, child *btcec.JacobianPoint) bool {
	if overflow := il.SetBytes(ilBytes); overflow != 0 || il.IsZero() {
		return false
	}
	var ilG btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(il, &ilG)
	btcec.AddNonConst(parent, &ilG, child)
	return !child.Z.IsZero() && !(child.X.IsZero() && child.Y.IsZero())
}

// Fingerprint returns the BIP32 fingerprint of a public key: the first 4
// bytes of its HASH160. pub is hashed as given, not validated.
func Fingerprint(pub [33]byte) [4]byte {
	return [4]byte(btcutil.Hash160(pub[:]))
}
