package bitcoin_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/policy/bitcoin"
)

// testWallet is a wallet whose root private key the tests know, so that
// they can sign for any child: childPriv = rootPriv + tweak (mod n).
type testWallet struct {
	priv *btcec.PrivateKey
	key  bitcoin.Key
}

func newTestWallet(t testing.TB) *testWallet {
	t.Helper()
	seed := sha256.Sum256([]byte("countersign withdrawal tests: root private key"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	w := &testWallet{priv: priv}
	w.key.PublicKey = [33]byte(priv.PubKey().SerializeCompressed())
	w.key.ChainCode = sha256.Sum256([]byte("countersign withdrawal tests: chain code"))
	return w
}

// child returns the wallet's child at path.
func (w *testWallet) child(t testing.TB, path bitcoin.Path) bitcoin.Child {
	t.Helper()
	c, err := w.key.Derive(path)
	if err != nil {
		t.Fatalf("Derive(%s): %v", path, err)
	}
	return c
}

// privateKey returns the private key of the child at path, and checks it
// against the public key Derive gives.
func (w *testWallet) privateKey(t testing.TB, path bitcoin.Path) *btcec.PrivateKey {
	t.Helper()
	c := w.child(t, path)
	var k, tweak btcec.ModNScalar
	k.Set(&w.priv.Key)
	tweak.SetBytes(&c.Tweak)
	k.Add(&tweak)
	b := k.Bytes()
	priv, _ := btcec.PrivKeyFromBytes(b[:])
	if !bytes.Equal(priv.PubKey().SerializeCompressed(), c.PublicKey[:]) {
		t.Fatalf("%s: rootPriv + tweak does not match the derived public key", path)
	}
	return priv
}

// script returns the P2WPKH script of the child at path.
func (w *testWallet) script(t testing.TB, path bitcoin.Path) []byte {
	t.Helper()
	return bitcoin.P2WPKHScript(w.child(t, path).PublicKey)
}

// sign signs every digest of wd with the input's child key, as r||s.
func (w *testWallet) sign(t testing.TB, wd *bitcoin.Withdrawal) [][64]byte {
	t.Helper()
	sigs := make([][64]byte, len(wd.Digests))
	for i, d := range wd.Digests {
		compact := ecdsa.SignCompact(w.privateKey(t, wd.Inputs[i].Path), d[:], true)
		sigs[i] = [64]byte(compact[1:])
	}
	return sigs
}

// strangerKey returns a public key that is not the wallet's.
func strangerKey(label string) [33]byte {
	seed := sha256.Sum256([]byte("countersign withdrawal tests: stranger " + label))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	return [33]byte(priv.PubKey().SerializeCompressed())
}

// fundingTx returns a transaction paying outs, spending a made-up coin.
// With witness, its input carries a witness, which its id does not cover.
func fundingTx(label string, witness bool, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	in := &wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Hash: chainhash.HashH([]byte(label)), Index: 3},
		Sequence:         bitcoin.SequenceFinal,
	}
	if witness {
		in.Witness = wire.TxWitness{[]byte("signature"), []byte("key")}
	} else {
		in.SignatureScript = []byte{0x51}
	}
	tx.AddTxIn(in)
	for _, out := range outs {
		tx.AddTxOut(out)
	}
	return tx
}

// coins is a set of funding transactions and the wallet's coins in them.
type coins struct {
	utxos []bitcoin.UTXO
	value map[wire.OutPoint]int64  // the true value of each coin
	out   map[wire.OutPoint][]byte // the true script of each coin
}

// fund returns one coin of the wallet per path, worth the value at the
// same position, each in a transaction of its own that also pays a
// stranger, at output index i%2.
func fund(t testing.TB, w *testWallet, paths []bitcoin.Path, values []int64) coins {
	t.Helper()
	c := coins{value: map[wire.OutPoint]int64{}, out: map[wire.OutPoint][]byte{}}
	for i, path := range paths {
		ours := wire.NewTxOut(values[i], w.script(t, path))
		theirs := wire.NewTxOut(77_777, bitcoin.P2WPKHScript(strangerKey("funding")))
		outs := []*wire.TxOut{ours, theirs}
		if i%2 == 1 {
			outs = []*wire.TxOut{theirs, ours}
		}
		tx := fundingTx(path.String()+string(rune('a'+i)), i%2 == 0, outs...)
		index := uint32(i % 2)
		c.utxos = append(c.utxos, bitcoin.UTXO{PrevTx: tx, Index: index, Path: path})
		op := wire.OutPoint{Hash: tx.TxHash(), Index: index}
		c.value[op] = values[i]
		c.out[op] = ours.PkScript
	}
	return c
}

// testLimits are the limits of most tests.
func testLimits() bitcoin.Limits {
	return bitcoin.Limits{
		MaxFee:         200_000,
		MaxInputs:      64,
		MaxOutputs:     16,
		MaxLockTime:    900_000,
		ChangeIndexMax: 1000,
	}
}

// testIntent returns an intent paying amount to a stranger's P2WPKH
// address on mainnet.
func testIntent(t testing.TB, amount int64) bitcoin.Intent {
	t.Helper()
	dest, err := bitcoin.P2WPKHAddress(strangerKey("destination"), bitcoin.Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	return bitcoin.Intent{
		WithdrawalID: "wd-2024-05-31:00017",
		WalletID:     "w-00112233aabbccdd",
		Network:      bitcoin.Mainnet,
		Asset:        "BTC",
		Destination:  dest,
		Amount:       amount,
		FeeCap:       100_000,
	}
}

// verifySigned decodes a signed transaction and runs btcd's script engine
// on every input against the coins as the test funded them, independently
// of the Withdrawal.
func verifySigned(t testing.TB, signed []byte, c coins) *wire.MsgTx {
	t.Helper()
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(signed)); err != nil {
		t.Fatalf("signed transaction does not decode: %v", err)
	}
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(tx.TxIn))
	for _, in := range tx.TxIn {
		script, ok := c.out[in.PreviousOutPoint]
		if !ok {
			t.Fatalf("signed transaction spends %v, not a funded coin", in.PreviousOutPoint)
		}
		prevOuts[in.PreviousOutPoint] = wire.NewTxOut(c.value[in.PreviousOutPoint], script)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(&tx, fetcher)
	for i, in := range tx.TxIn {
		prev := prevOuts[in.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, &tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetcher)
		if err != nil {
			t.Fatalf("input %d: NewEngine: %v", i, err)
		}
		if err := vm.Execute(); err != nil {
			t.Fatalf("input %d: script fails: %v", i, err)
		}
	}
	return &tx
}

// signedVSize returns the virtual size of a signed transaction.
func signedVSize(tx *wire.MsgTx) int64 {
	weight := int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize())
	return (weight + 3) / 4
}

// TestGoldenWithdrawals builds withdrawals from funded coins, re-derives
// them, signs every digest with the child keys, finalizes, and checks the
// signed transaction with btcd's script engine independently.
func TestGoldenWithdrawals(t *testing.T) {
	w := newTestWallet(t)
	const feeRate = 10

	p2tr := func(net bitcoin.Network) string {
		params, _ := bitcoin.ParamsFor(net)
		a, err := btcutil.NewAddressTaproot(bytes.Repeat([]byte{7}, 32), params)
		if err != nil {
			t.Fatal(err)
		}
		return a.EncodeAddress()
	}
	p2wsh := func(net bitcoin.Network) string {
		params, _ := bitcoin.ParamsFor(net)
		a, err := btcutil.NewAddressWitnessScriptHash(bytes.Repeat([]byte{8}, 32), params)
		if err != nil {
			t.Fatal(err)
		}
		return a.EncodeAddress()
	}
	p2pkh := func(net bitcoin.Network) string {
		params, _ := bitcoin.ParamsFor(net)
		k := strangerKey("p2pkh")
		a, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(k[:]), params)
		if err != nil {
			t.Fatal(err)
		}
		return a.EncodeAddress()
	}
	p2sh := func(net bitcoin.Network) string {
		params, _ := bitcoin.ParamsFor(net)
		a, err := btcutil.NewAddressScriptHashFromHash(bytes.Repeat([]byte{9}, 20), params)
		if err != nil {
			t.Fatal(err)
		}
		return a.EncodeAddress()
	}
	ownChange, err := bitcoin.P2WPKHAddress(w.child(t, bitcoin.ChangePath(9)).PublicKey, bitcoin.Mainnet)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		network     bitcoin.Network
		destination string // "" for the stranger's P2WPKH address
		paths       []bitcoin.Path
		values      []int64
		amount      int64
		changeIndex uint32
		wantChange  bool
	}{
		{
			name:   "one input, no change",
			paths:  []bitcoin.Path{bitcoin.ReceivePath(0)},
			values: []int64{100_000},
			amount: 98_700, // leaves less than the dust limit after the fee
		},
		{
			name:        "three inputs with change",
			paths:       []bitcoin.Path{bitcoin.ReceivePath(0), bitcoin.ReceivePath(1), bitcoin.ReceivePath(2)},
			values:      []int64{100_000, 250_000, 50_000},
			amount:      300_000,
			changeIndex: 4,
			wantChange:  true,
		},
		{
			name:        "inputs at several derivation indexes",
			paths:       []bitcoin.Path{bitcoin.ReceivePath(0), bitcoin.ReceivePath(7), bitcoin.ChangePath(3)},
			values:      []int64{10_000, 2_000_000, 123_456},
			amount:      1_500_000,
			changeIndex: 1000,
			wantChange:  true,
		},
		{
			name:        "destination is the wallet's own change address",
			destination: ownChange,
			paths:       []bitcoin.Path{bitcoin.ReceivePath(5)},
			values:      []int64{500_000},
			amount:      400_000,
			changeIndex: 10,
			wantChange:  true,
		},
		{name: "P2TR destination on testnet", network: bitcoin.Testnet, destination: p2tr(bitcoin.Testnet),
			paths: []bitcoin.Path{bitcoin.ReceivePath(3)}, values: []int64{90_000}, amount: 50_000, wantChange: true},
		{name: "P2WSH destination on signet", network: bitcoin.Signet, destination: p2wsh(bitcoin.Signet),
			paths: []bitcoin.Path{bitcoin.ReceivePath(3)}, values: []int64{90_000}, amount: 50_000, wantChange: true},
		{name: "P2PKH destination on regtest", network: bitcoin.Regtest, destination: p2pkh(bitcoin.Regtest),
			paths: []bitcoin.Path{bitcoin.ReceivePath(3)}, values: []int64{90_000}, amount: 50_000, wantChange: true},
		{name: "P2SH destination on mainnet", destination: p2sh(bitcoin.Mainnet),
			paths: []bitcoin.Path{bitcoin.ReceivePath(3)}, values: []int64{90_000}, amount: 50_000, wantChange: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := testIntent(t, tc.amount)
			if tc.network != "" {
				in.Network = tc.network
			}
			if tc.destination != "" {
				in.Destination = tc.destination
			}
			c := fund(t, w, tc.paths, tc.values)
			raw, err := bitcoin.BuildWithdrawal(in, w.key, c.utxos, tc.changeIndex, feeRate)
			if err != nil {
				t.Fatalf("BuildWithdrawal: %v", err)
			}
			wd, err := bitcoin.Rederive(in, raw, w.key, testLimits())
			if err != nil {
				t.Fatalf("Rederive: %v", err)
			}

			var total int64
			for i, input := range wd.Inputs {
				if !slices.Equal(input.Path, tc.paths[i]) {
					t.Errorf("input %d: path %s, want %s", i, input.Path, tc.paths[i])
				}
				if input.Value != tc.values[i] || input.Value != c.value[input.Outpoint] {
					t.Errorf("input %d: value %d, want %d", i, input.Value, tc.values[i])
				}
				if input.PublicKey != w.child(t, tc.paths[i]).PublicKey {
					t.Errorf("input %d: public key is not the child's at %s", i, tc.paths[i])
				}
				total += tc.values[i]
			}
			if wd.Destination.Index != 0 || wd.Destination.Value != tc.amount || wd.Destination.Address != in.Destination {
				t.Errorf("destination %+v, want index 0 paying %d to %s", wd.Destination, tc.amount, in.Destination)
			}
			var change int64
			switch {
			case tc.wantChange && len(wd.Change) == 1:
				ch := wd.Change[0]
				change = ch.Value
				if !slices.Equal(ch.Path, bitcoin.ChangePath(tc.changeIndex)) || !bytes.Equal(ch.PkScript, w.script(t, ch.Path)) {
					t.Errorf("change %+v, want the wallet's m/1/%d", ch, tc.changeIndex)
				}
				if want, _ := bitcoin.P2WPKHAddress(w.child(t, ch.Path).PublicKey, in.Network); ch.Address != want {
					t.Errorf("change address %s, want %s", ch.Address, want)
				}
			case tc.wantChange || len(wd.Change) != 0:
				t.Fatalf("%d change outputs, want change: %v", len(wd.Change), tc.wantChange)
			}
			if wd.Fee != total-tc.amount-change || wd.Fee <= 0 {
				t.Errorf("fee %d, want %d", wd.Fee, total-tc.amount-change)
			}
			if !tc.wantChange && wd.Fee < feeRate*wd.VSize {
				t.Errorf("fee %d is below %d sat/vB for %d vB", wd.Fee, feeRate, wd.VSize)
			}

			signed, err := wd.Finalize(w.sign(t, wd))
			if err != nil {
				t.Fatalf("Finalize: %v", err)
			}
			tx := verifySigned(t, signed, c)
			if tx.TxHash() != wd.TxID {
				t.Errorf("signed transaction is %v, the withdrawal %v", tx.TxHash(), wd.TxID)
			}
			if vsize := signedVSize(tx); vsize > wd.VSize || vsize < wd.VSize-int64(len(tx.TxIn)) {
				t.Errorf("signed vsize %d, estimated %d", vsize, wd.VSize)
			}
			if fee := total - tc.amount - change; wd.Fee != fee {
				t.Errorf("fee %d, want %d", wd.Fee, fee)
			}
		})
	}
}

// TestRBFAllowed checks that the replace-by-fee sequence is signed when,
// and only when, the limits allow it.
func TestRBFAllowed(t *testing.T) {
	w := newTestWallet(t)
	in := testIntent(t, 100_000)
	c := fund(t, w, []bitcoin.Path{bitcoin.ReceivePath(0), bitcoin.ReceivePath(1)}, []int64{80_000, 80_000})
	raw := mutatePSBT(t, buildRaw(t, w, in, c), func(p *psbt.Packet) {
		for _, txIn := range p.UnsignedTx.TxIn {
			txIn.Sequence = bitcoin.SequenceRBF
		}
		p.UnsignedTx.LockTime = 850_000
	})
	lim := testLimits()
	if _, err := bitcoin.Rederive(in, raw, w.key, lim); refusalRule(err) != bitcoin.RuleTxSequence {
		t.Fatalf("without AllowRBF: %v, want %s", err, bitcoin.RuleTxSequence)
	}
	lim.AllowRBF = true
	wd, err := bitcoin.Rederive(in, raw, w.key, lim)
	if err != nil {
		t.Fatalf("with AllowRBF: %v", err)
	}
	signed, err := wd.Finalize(w.sign(t, wd))
	if err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	verifySigned(t, signed, c)
}

// TestFinalizeRefuses checks that Finalize returns only transactions whose
// every signature verifies.
func TestFinalizeRefuses(t *testing.T) {
	w := newTestWallet(t)
	in := testIntent(t, 300_000)
	c := fund(t, w, []bitcoin.Path{bitcoin.ReceivePath(0), bitcoin.ReceivePath(7), bitcoin.ChangePath(3)}, []int64{100_000, 250_000, 50_000})
	wd, err := bitcoin.Rederive(in, buildRaw(t, w, in, c), w.key, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	good := w.sign(t, wd)

	var n [32]byte
	btcec.S256().N.FillBytes(n[:])
	tests := []struct {
		name string
		sigs func() [][64]byte
	}{
		{"too few signatures", func() [][64]byte { return good[:2] }},
		{"too many signatures", func() [][64]byte { return append(slices.Clone(good), good[0]) }},
		{"signatures swapped", func() [][64]byte {
			s := slices.Clone(good)
			s[0], s[1] = s[1], s[0]
			return s
		}},
		{"signature of another digest", func() [][64]byte {
			s := slices.Clone(good)
			other := sha256.Sum256([]byte("another transaction"))
			compact := ecdsa.SignCompact(w.privateKey(t, wd.Inputs[1].Path), other[:], true)
			s[1] = [64]byte(compact[1:])
			return s
		}},
		{"signed by the root key", func() [][64]byte {
			s := slices.Clone(good)
			compact := ecdsa.SignCompact(w.priv, wd.Digests[2][:], true)
			s[2] = [64]byte(compact[1:])
			return s
		}},
		{"zero r", func() [][64]byte {
			s := slices.Clone(good)
			clear(s[0][:32])
			return s
		}},
		{"s equal to the curve order", func() [][64]byte {
			s := slices.Clone(good)
			copy(s[0][32:], n[:])
			return s
		}},
		{"bit flipped in s", func() [][64]byte {
			s := slices.Clone(good)
			s[2][63] ^= 1
			return s
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signed, err := wd.Finalize(tc.sigs())
			if !errors.Is(err, bitcoin.ErrSignature) || signed != nil {
				t.Fatalf("Finalize = %d bytes, %v; want %v", len(signed), err, bitcoin.ErrSignature)
			}
		})
	}

	t.Run("high s is made low", func(t *testing.T) {
		s := slices.Clone(good)
		var sc btcec.ModNScalar
		sc.SetByteSlice(s[1][32:])
		sc.Negate()
		b := sc.Bytes()
		copy(s[1][32:], b[:])
		signed, err := wd.Finalize(s)
		if err != nil {
			t.Fatalf("Finalize: %v", err)
		}
		verifySigned(t, signed, c)
	})

	t.Run("transaction edited after Rederive", func(t *testing.T) {
		edited := *wd
		edited.Tx = wd.Tx.Copy()
		edited.Tx.TxOut[0].Value--
		if _, err := edited.Finalize(good); !errors.Is(err, bitcoin.ErrSignature) {
			t.Fatalf("Finalize: %v, want %v", err, bitcoin.ErrSignature)
		}
	})

	t.Run("withdrawal unchanged", func(t *testing.T) {
		for i, txIn := range wd.Tx.TxIn {
			if len(txIn.Witness) != 0 {
				t.Fatalf("Finalize wrote a witness into input %d of the withdrawal", i)
			}
		}
		if _, err := wd.Finalize(good); err != nil {
			t.Fatalf("Finalize after refusals: %v", err)
		}
	})
}

// TestBuildWithdrawalErrors checks that BuildWithdrawal refuses what it
// cannot build.
func TestBuildWithdrawalErrors(t *testing.T) {
	w := newTestWallet(t)
	c := fund(t, w, []bitcoin.Path{bitcoin.ReceivePath(0)}, []int64{100_000})
	stranger := fundingTx("stranger's coin", false, wire.NewTxOut(100_000, bitcoin.P2WPKHScript(strangerKey("coin"))))
	tests := []struct {
		name   string
		in     func() bitcoin.Intent
		utxos  []bitcoin.UTXO
		rate   int64
		wantIs error
	}{
		{"amount over the coins", func() bitcoin.Intent { return testIntent(t, 100_000) }, c.utxos, 1, bitcoin.ErrFunds},
		{"fee over the intent's cap", func() bitcoin.Intent {
			in := testIntent(t, 50_000)
			in.FeeCap = 500
			return in
		}, c.utxos, 10, bitcoin.ErrFunds},
		{"no coins", func() bitcoin.Intent { return testIntent(t, 1000) }, nil, 1, bitcoin.ErrUTXO},
		{"coin paid to a stranger", func() bitcoin.Intent { return testIntent(t, 1000) },
			[]bitcoin.UTXO{{PrevTx: stranger, Index: 0, Path: bitcoin.ReceivePath(0)}}, 1, bitcoin.ErrUTXO},
		{"coin at another path", func() bitcoin.Intent { return testIntent(t, 1000) },
			[]bitcoin.UTXO{{PrevTx: c.utxos[0].PrevTx, Index: c.utxos[0].Index, Path: bitcoin.ReceivePath(1)}}, 1, bitcoin.ErrUTXO},
		{"no such output", func() bitcoin.Intent { return testIntent(t, 1000) },
			[]bitcoin.UTXO{{PrevTx: c.utxos[0].PrevTx, Index: 5, Path: bitcoin.ReceivePath(0)}}, 1, bitcoin.ErrUTXO},
		{"coin twice", func() bitcoin.Intent { return testIntent(t, 1000) }, []bitcoin.UTXO{c.utxos[0], c.utxos[0]}, 1, bitcoin.ErrUTXO},
		{"bad intent", func() bitcoin.Intent {
			in := testIntent(t, 1000)
			in.Asset = "ETH"
			return in
		}, c.utxos, 1, bitcoin.ErrRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := bitcoin.BuildWithdrawal(tc.in(), w.key, tc.utxos, 0, tc.rate)
			if !errors.Is(err, tc.wantIs) || raw != nil {
				t.Fatalf("BuildWithdrawal = %d bytes, %v; want %v", len(raw), err, tc.wantIs)
			}
		})
	}
}

// buildRaw builds the PSBT of a withdrawal spending all of c, with change
// at m/1/4 and 10 sat/vB.
func buildRaw(t testing.TB, w *testWallet, in bitcoin.Intent, c coins) []byte {
	t.Helper()
	raw, err := bitcoin.BuildWithdrawal(in, w.key, c.utxos, 4, 10)
	if err != nil {
		t.Fatalf("BuildWithdrawal: %v", err)
	}
	return raw
}

// mutatePSBT decodes raw, applies edit and encodes the result.
func mutatePSBT(t testing.TB, raw []byte, edit func(p *psbt.Packet)) []byte {
	t.Helper()
	p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		t.Fatalf("decode PSBT: %v", err)
	}
	edit(p)
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		t.Fatalf("encode PSBT: %v", err)
	}
	return buf.Bytes()
}

// refusalRule returns the rule of a *Refusal, or "" for any other error.
func refusalRule(err error) bitcoin.Rule {
	var r *bitcoin.Refusal
	if errors.As(err, &r) {
		return r.Rule
	}
	return ""
}

// le32 returns v little-endian, as PSBT fingerprints are read.
func le32(b [4]byte) uint32 { return binary.LittleEndian.Uint32(b[:]) }
