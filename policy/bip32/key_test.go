package bip32_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/countersign/countersign/policy/bip32"
)

// testRand returns a deterministic source, so that a failure reproduces.
func testRand() *rand.Rand {
	return rand.New(rand.NewChaCha8([32]byte([]byte("countersign policy/bitcoin tests"))))
}

// randomPrivateKey returns a private key drawn from rng.
func randomPrivateKey(t testing.TB, rng *rand.Rand) *btcec.PrivateKey {
	t.Helper()
	for {
		var b [32]byte
		for i := 0; i < len(b); i += 8 {
			binary.BigEndian.PutUint64(b[i:], rng.Uint64())
		}
		var s btcec.ModNScalar
		if overflow := s.SetBytes(&b); overflow == 0 && !s.IsZero() {
			return btcec.PrivKeyFromScalar(&s)
		}
	}
}

// randomWallet returns a wallet root with a known private key.
func randomWallet(t testing.TB, rng *rand.Rand) (*btcec.PrivateKey, bip32.Key) {
	t.Helper()
	priv := randomPrivateKey(t, rng)
	var k bip32.Key
	k.PublicKey = [33]byte(priv.PubKey().SerializeCompressed())
	for i := 0; i < len(k.ChainCode); i += 8 {
		binary.BigEndian.PutUint64(k.ChainCode[i:], rng.Uint64())
	}
	return priv, k
}

// hdPublic derives path from k with btcutil's hdkeychain.
func hdPublic(k bip32.Key, path bip32.Path) (*hdkeychain.ExtendedKey, error) {
	xk := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:],
		k.PublicKey[:], k.ChainCode[:], []byte{0, 0, 0, 0}, 0, 0, false)
	for _, index := range path {
		var err error
		if xk, err = xk.Derive(index); err != nil {
			return nil, err
		}
	}
	return xk, nil
}

// hdPrivate derives path from priv and k's chain code with btcutil's
// hdkeychain.
func hdPrivate(priv *btcec.PrivateKey, k bip32.Key, path bip32.Path) (*hdkeychain.ExtendedKey, error) {
	xk := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPrivateKeyID[:],
		priv.Serialize(), k.ChainCode[:], []byte{0, 0, 0, 0}, 0, 0, true)
	for _, index := range path {
		var err error
		if xk, err = xk.Derive(index); err != nil {
			return nil, err
		}
	}
	return xk, nil
}

// tweakedPublicKey returns root + tweak·G, compressed: the key that
// tss-lib signs for when given the tweak and shares of root.
func tweakedPublicKey(t testing.TB, root [33]byte, tweak [32]byte) [33]byte {
	t.Helper()
	pub, err := btcec.ParsePubKey(root[:])
	if err != nil {
		t.Fatalf("root key: %v", err)
	}
	var s btcec.ModNScalar
	if overflow := s.SetBytes(&tweak); overflow != 0 {
		t.Fatalf("tweak %x is not below the curve order", tweak)
	}
	var rootJ, tweakJ, sum btcec.JacobianPoint
	pub.AsJacobian(&rootJ)
	btcec.ScalarBaseMultNonConst(&s, &tweakJ)
	btcec.AddNonConst(&rootJ, &tweakJ, &sum)
	sum.ToAffine()
	return [33]byte(btcec.NewPublicKey(&sum.X, &sum.Y).SerializeCompressed())
}

// TestDeriveMatchesHDKeychain checks Derive against btcutil's hdkeychain,
// public and private derivation, for random roots and paths of every depth,
// and checks that the tweak moves the root's private key to the child's.
func TestDeriveMatchesHDKeychain(t *testing.T) {
	rng := testRand()
	indexes := []uint32{0, 1, 7, 1<<31 - 1}
	const wallets = 64
	derived := 0
	for range wallets {
		priv, k := randomWallet(t, rng)
		var paths []bip32.Path
		for depth := 1; depth <= bip32.MaxPathDepth; depth++ {
			// Every listed index at every depth, then a random mix.
			for _, index := range indexes {
				paths = append(paths, slices.Repeat(bip32.Path{index}, depth))
			}
			p := make(bip32.Path, depth)
			for i := range p {
				if rng.IntN(2) == 0 {
					p[i] = indexes[rng.IntN(len(indexes))]
				} else {
					p[i] = rng.Uint32N(1 << 31)
				}
			}
			paths = append(paths, p)
		}
		for _, path := range paths {
			child, err := k.Derive(path)
			wantPub, hdErr := hdPublic(k, path)
			if hdErr != nil {
				if !errors.Is(hdErr, hdkeychain.ErrInvalidChild) || !errors.Is(err, bip32.ErrInvalidChild) {
					t.Fatalf("key %x chain %x path %s: Derive error %v, hdkeychain error %v", k.PublicKey, k.ChainCode, path, err, hdErr)
				}
				continue
			}
			if err != nil {
				t.Fatalf("key %x chain %x path %s: %v", k.PublicKey, k.ChainCode, path, err)
			}
			derived++

			pub, err := wantPub.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			if want := pub.SerializeCompressed(); !bytes.Equal(child.PublicKey[:], want) {
				t.Fatalf("key %x chain %x path %s: public key %x, hdkeychain %x", k.PublicKey, k.ChainCode, path, child.PublicKey, want)
			}
			if want := wantPub.ChainCode(); !bytes.Equal(child.ChainCode[:], want) {
				t.Fatalf("key %x chain %x path %s: chain code %x, hdkeychain %x", k.PublicKey, k.ChainCode, path, child.ChainCode, want)
			}
			if !slices.Equal(child.Path, path) {
				t.Fatalf("Path = %s, want %s", child.Path, path)
			}

			// childPriv = rootPriv + Tweak (mod n), checked three ways:
			// against hdkeychain's private derivation, by multiplying by
			// G, and by adding Tweak·G to the root public key.
			var tweak btcec.ModNScalar
			if overflow := tweak.SetBytes(&child.Tweak); overflow != 0 {
				t.Fatalf("path %s: tweak %x is not below the curve order", path, child.Tweak)
			}
			childPriv := btcec.PrivKeyFromScalar(new(btcec.ModNScalar).Set(&priv.Key).Add(&tweak))
			xpriv, err := hdPrivate(priv, k, path)
			if err != nil {
				t.Fatalf("hdkeychain private derivation of %s: %v", path, err)
			}
			wantPriv, err := xpriv.ECPrivKey()
			if err != nil {
				t.Fatal(err)
			}
			if !wantPriv.Key.Equals(&childPriv.Key) {
				t.Fatalf("path %s: root private key + tweak = %x, hdkeychain child private key %x", path, childPriv.Serialize(), wantPriv.Serialize())
			}
			if got := childPriv.PubKey().SerializeCompressed(); !bytes.Equal(got, child.PublicKey[:]) {
				t.Fatalf("path %s: (root private key + tweak)·G = %x, want %x", path, got, child.PublicKey)
			}
			if got := tweakedPublicKey(t, k.PublicKey, child.Tweak); got != child.PublicKey {
				t.Fatalf("path %s: root + tweak·G = %x, want %x", path, got, child.PublicKey)
			}
		}
	}
	if want := wallets * bip32.MaxPathDepth * (len(indexes) + 1); derived != want {
		t.Fatalf("derived %d children, want %d", derived, want)
	}
}

func TestDeriveRoot(t *testing.T) {
	_, k := randomWallet(t, testRand())
	for _, path := range []bip32.Path{nil, {}} {
		child, err := k.Derive(path)
		if err != nil {
			t.Fatal(err)
		}
		if child.PublicKey != k.PublicKey || child.ChainCode != k.ChainCode || child.Tweak != [32]byte{} || len(child.Path) != 0 {
			t.Fatalf("Derive(%s) = %+v, want the root with a zero tweak", path, child)
		}
	}
}

func TestDeriveCopiesPath(t *testing.T) {
	_, k := randomWallet(t, testRand())
	path := bip32.ReceivePath(7)
	child, err := k.Derive(path)
	if err != nil {
		t.Fatal(err)
	}
	path[1] = 8
	if got := child.Path.String(); got != "m/0/7" {
		t.Fatalf("after changing the caller's path, Child.Path = %s, want m/0/7", got)
	}
}

func TestDeriveErrors(t *testing.T) {
	_, good := randomWallet(t, testRand())
	mustHex := func(s string) [33]byte { return [33]byte(mustDecodeHex(t, s)) }
	tests := []struct {
		name string
		pub  [33]byte
		path bip32.Path
		want error
	}{
		{"zero key", [33]byte{}, bip32.ReceivePath(0), bip32.ErrBadKey},
		{"zero key, root", [33]byte{}, nil, bip32.ErrBadKey},
		{"uncompressed prefix", mustHex("0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"), bip32.ReceivePath(0), bip32.ErrBadKey},
		{"hybrid prefix", mustHex("0679be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"), bip32.ReceivePath(0), bip32.ErrBadKey},
		// x = 5 has no y on the curve: 5³ + 7 = 132 is not a square mod p.
		{"x not on curve", mustHex("020000000000000000000000000000000000000000000000000000000000000005"), bip32.ReceivePath(0), bip32.ErrBadKey},
		{"x equals p", mustHex("02fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"), bip32.ReceivePath(0), bip32.ErrBadKey},
		{"hardened", good.PublicKey, bip32.Path{1<<31 + 44}, bip32.ErrHardened},
		{"hardened receive index", good.PublicKey, bip32.ReceivePath(1 << 31), bip32.ErrHardened},
		{"hardened change index", good.PublicKey, bip32.ChangePath(1<<32 - 1), bip32.ErrHardened},
		{"too deep", good.PublicKey, bip32.Path{0, 0, 0, 0, 0}, bip32.ErrPathTooDeep},
		{"too deep and bad key", [33]byte{}, make(bip32.Path, 1000), bip32.ErrPathTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := bip32.Key{PublicKey: tc.pub, ChainCode: good.ChainCode}
			child, err := k.Derive(tc.path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Derive(%s) = %v; want error %v", tc.path, err, tc.want)
			}
			if child.PublicKey != [33]byte{} || child.Path != nil {
				t.Fatalf("Derive returned %+v with an error", child)
			}
		})
	}
}

func mustDecodeHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xpub writes a derived child as an extended public key, depth levels below
// the key whose fingerprint is parentFP.
func xpub(c bip32.Child, depth uint8, parentFP [4]byte) string {
	return hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], c.PublicKey[:], c.ChainCode[:],
		parentFP[:], depth, c.Path[len(c.Path)-1], false).String()
}

// keyFromXPub returns the public key and chain code of an extended key.
func keyFromXPub(t *testing.T, s string) bip32.Key {
	t.Helper()
	xk, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	pub, err := xk.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	return bip32.Key{PublicKey: [33]byte(pub.SerializeCompressed()), ChainCode: [32]byte(xk.ChainCode())}
}

// TestBIP32Vectors derives the non-hardened steps of BIP32's test vectors 1
// and 2 from the published extended public keys of their parents.
func TestBIP32Vectors(t *testing.T) {
	tests := []struct {
		name     string
		seed     string
		hardened bip32.Path // the chain from the seed to parent, derived here with hdkeychain
		parent   string     // published xpub of the chain above
		path     bip32.Path // derived from parent with Derive
		want     []string   // published xpub of each step of path
	}{
		{
			name:     "vector 1 m/0H/1",
			seed:     "000102030405060708090a0b0c0d0e0f",
			hardened: bip32.Path{hdkeychain.HardenedKeyStart},
			parent:   "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
			path:     bip32.Path{1},
			want: []string{
				"xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
			},
		},
		{
			name:     "vector 1 m/0H/1/2H/2/1000000000",
			seed:     "000102030405060708090a0b0c0d0e0f",
			hardened: bip32.Path{hdkeychain.HardenedKeyStart, 1, hdkeychain.HardenedKeyStart + 2},
			parent:   "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
			path:     bip32.Path{2, 1000000000},
			want: []string{
				"xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
				"xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
			},
		},
		{
			name:   "vector 2 m/0",
			seed:   "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542",
			parent: "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
			path:   bip32.Path{0},
			want: []string{
				"xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The published parent must be what the seed gives, or the
			// vector is mistyped.
			master, err := hdkeychain.NewMaster(mustDecodeHex(t, tc.seed), &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			for _, index := range tc.hardened {
				if master, err = master.Derive(index); err != nil {
					t.Fatal(err)
				}
			}
			neutered, err := master.Neuter()
			if err != nil {
				t.Fatal(err)
			}
			if got := neutered.String(); got != tc.parent {
				t.Fatalf("seed gives parent %s, vector says %s", got, tc.parent)
			}

			root := keyFromXPub(t, tc.parent)
			parentFP := bip32.Fingerprint(root.PublicKey)
			for i, want := range tc.want {
				child, err := root.Derive(tc.path[:i+1])
				if err != nil {
					t.Fatal(err)
				}
				depth := uint8(len(tc.hardened) + i + 1)
				if got := xpub(child, depth, parentFP); got != want {
					t.Fatalf("%s from parent: got %s, want %s", child.Path, got, want)
				}
				if got := keyFromXPub(t, want); got.PublicKey != child.PublicKey || got.ChainCode != child.ChainCode {
					t.Fatalf("%s: key and chain code differ from %s", child.Path, want)
				}
				parentFP = bip32.Fingerprint(child.PublicKey)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	// BIP32 test vector 1: the master key's fingerprint is 3442193e.
	master := keyFromXPub(t, "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8")
	if got, want := bip32.Fingerprint(master.PublicKey), [4]byte{0x34, 0x42, 0x19, 0x3e}; got != want {
		t.Fatalf("Fingerprint = %x, want %x", got, want)
	}
}

// FuzzDerive checks that Derive never panics on any key, chain code and
// path, fails only with the package's errors, and agrees with hdkeychain
// whenever it succeeds.
func FuzzDerive(f *testing.F) {
	rng := testRand()
	for i := range 4 {
		_, k := randomWallet(f, rng)
		f.Add(k.PublicKey[:], k.ChainCode[:], binary.BigEndian.AppendUint32(nil, uint32(i)))
		f.Add(k.PublicKey[:], k.ChainCode[:], []byte{0, 0, 0, 1, 0, 0, 0, 7})
	}
	f.Add(make([]byte, 33), make([]byte, 32), []byte{})
	f.Add([]byte{2}, []byte{}, []byte{0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, pub, chain, rawPath []byte) {
		var k bip32.Key
		copy(k.PublicKey[:], pub)
		copy(k.ChainCode[:], chain)
		path := make(bip32.Path, len(rawPath)/4)
		for i := range path {
			path[i] = binary.BigEndian.Uint32(rawPath[4*i:])
		}

		child, err := k.Derive(path)
		if err != nil {
			switch {
			case errors.Is(err, bip32.ErrBadKey):
				if _, perr := btcec.ParsePubKey(k.PublicKey[:]); perr == nil {
					t.Fatalf("Derive refused key %x, which btcec parses", k.PublicKey)
				}
			case errors.Is(err, bip32.ErrHardened), errors.Is(err, bip32.ErrPathTooDeep), errors.Is(err, bip32.ErrInvalidChild):
			default:
				t.Fatalf("Derive: unexpected error %v", err)
			}
			return
		}
		if len(path) > bip32.MaxPathDepth {
			t.Fatalf("Derive accepted a path of depth %d", len(path))
		}
		want, err := hdPublic(k, path)
		if err != nil {
			t.Fatalf("hdkeychain: %v", err)
		}
		wantPub, err := want.ECPubKey()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(child.PublicKey[:], wantPub.SerializeCompressed()) || !bytes.Equal(child.ChainCode[:], want.ChainCode()) {
			t.Fatalf("key %x chain %x path %s: Derive and hdkeychain differ", k.PublicKey, k.ChainCode, path)
		}
		if got := tweakedPublicKey(t, k.PublicKey, child.Tweak); got != child.PublicKey {
			t.Fatalf("root + tweak·G = %x, want %x", got, child.PublicKey)
		}
	})
}

func BenchmarkDerive(b *testing.B) {
	_, k := randomWallet(b, testRand())
	path := bip32.ReceivePath(7)
	for b.Loop() {
		if _, err := k.Derive(path); err != nil {
			b.Fatal(err)
		}
	}
}
