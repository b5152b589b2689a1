package bitcoin_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/countersign/countersign/policy/bitcoin"
)

// adversary is one hostile request: an intent, a PSBT and the node's
// limits, as a case edits them from a valid withdrawal.
type adversary struct {
	t      testing.TB
	w      *testWallet
	c      coins
	in     bitcoin.Intent
	lim    bitcoin.Limits
	wallet bitcoin.Key
	p      *psbt.Packet // the PSBT, encoded after the edit unless raw is set
	raw    []byte
}

// The valid withdrawal the adversarial cases start from: three coins at
// m/0/0, m/0/7 and m/1/3 worth 100,000, 250,000 and 50,000 sats pay
// 300,000 to the destination (output 0) and the rest less the fee to
// m/1/4 (output 1).
var (
	advPaths  = []bitcoin.Path{bitcoin.ReceivePath(0), bitcoin.ReceivePath(7), bitcoin.ChangePath(3)}
	advValues = []int64{100_000, 250_000, 50_000}
)

const advAmount = 300_000

func newAdversary(t testing.TB) *adversary {
	w := newTestWallet(t)
	in := testIntent(t, advAmount)
	c := fund(t, w, advPaths, advValues)
	raw := buildRaw(t, w, in, c)
	p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		t.Fatal(err)
	}
	return &adversary{t: t, w: w, c: c, in: in, lim: testLimits(), wallet: w.key, p: p}
}

// tx returns the unsigned transaction.
func (a *adversary) tx() *wire.MsgTx { return a.p.UnsignedTx }

// spent returns the output input i spends in its non_witness_utxo.
func (a *adversary) spent(i int) *wire.TxOut {
	return a.p.Inputs[i].NonWitnessUtxo.TxOut[a.tx().TxIn[i].PreviousOutPoint.Index]
}

// derivation returns a BIP32 derivation of the wallet's key at path.
func (a *adversary) derivation(path bitcoin.Path) *psbt.Bip32Derivation {
	return &psbt.Bip32Derivation{
		PubKey:               pubBytes(a.w.child(a.t, path).PublicKey),
		MasterKeyFingerprint: le32(bitcoin.Fingerprint(a.wallet.PublicKey)),
		Bip32Path:            path,
	}
}

// addOutput appends an output and its PSBT map.
func (a *adversary) addOutput(out *wire.TxOut, po psbt.POutput) {
	a.tx().AddTxOut(out)
	a.p.Outputs = append(a.p.Outputs, po)
}

// payChange replaces the change output's script and derivation.
func (a *adversary) payChange(script []byte, d *psbt.Bip32Derivation) {
	a.tx().TxOut[1].PkScript = script
	a.p.Outputs[1].Bip32Derivation = []*psbt.Bip32Derivation{d}
}

// encode returns the PSBT's bytes.
func (a *adversary) encode() []byte {
	if a.raw != nil {
		return a.raw
	}
	var buf bytes.Buffer
	if err := a.p.Serialize(&buf); err != nil {
		a.t.Fatalf("encode PSBT: %v", err)
	}
	return buf.Bytes()
}

// appendInputField appends a raw key-value pair to input i's map, which
// the psbt package cannot write itself for malformed values.
func (a *adversary) appendInputField(i int, key, value []byte) {
	a.p.Inputs[i].Unknowns = append(a.p.Inputs[i].Unknowns, &psbt.Unknown{Key: key, Value: value})
}

// adversarialCases are hostile requests, each refused by one rule.
var adversarialCases = []struct {
	name string
	edit func(a *adversary)
	want bitcoin.Rule
	// input and output are the Refusal's indexes; 0 in the table means
	// -1 unless set, so they are written as index+1.
	input1, output1 int
}{
	// The 2020 fee attack: BIP143 commits only to the amount of the input
	// signed, so the backend understates another input's witness_utxo and
	// takes the difference from the change: the fee the witness_utxo
	// amounts imply is unchanged, the real fee grows by 50,000 sats.
	{name: "fee attack: witness_utxo understates an input", want: bitcoin.RuleInputWitnessUTXOMismatch, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].WitnessUtxo.Value -= 50_000
		a.tx().TxOut[1].Value -= 50_000
	}},
	{name: "fee attack: non_witness_utxo edited to agree", want: bitcoin.RuleInputPrevTxID, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].WitnessUtxo.Value -= 50_000
		a.spent(1).Value -= 50_000
		a.tx().TxOut[1].Value -= 50_000
	}},
	{name: "fee attack: no non_witness_utxo", want: bitcoin.RuleInputPrevTxMissing, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].NonWitnessUtxo = nil
		a.p.Inputs[1].WitnessUtxo.Value -= 50_000
		a.tx().TxOut[1].Value -= 50_000
	}},
	{name: "witness_utxo pays another script", want: bitcoin.RuleInputWitnessUTXOMismatch, input1: 3, edit: func(a *adversary) {
		a.p.Inputs[2].WitnessUtxo.PkScript = a.w.script(a.t, bitcoin.ReceivePath(9))
	}},
	{name: "no witness_utxo", want: bitcoin.RuleInputWitnessUTXOMissing, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].WitnessUtxo = nil
	}},
	{name: "outpoint index beyond the previous transaction", want: bitcoin.RuleInputPrevTxIndex, input1: 1, edit: func(a *adversary) {
		a.tx().TxIn[0].PreviousOutPoint.Index = 2
	}},
	{name: "outpoint points at the stranger's output", want: bitcoin.RuleInputWitnessUTXOMismatch, input1: 1, edit: func(a *adversary) {
		a.tx().TxIn[0].PreviousOutPoint.Index = 1
	}},
	{name: "spends the stranger's output, all consistent", want: bitcoin.RuleInputDerivationMismatch, input1: 1, edit: func(a *adversary) {
		a.tx().TxIn[0].PreviousOutPoint.Index = 1
		a.p.Inputs[0].WitnessUtxo = wire.NewTxOut(a.spent(0).Value, a.spent(0).PkScript)
	}},

	// DMM Bitcoin: the software that built the withdrawal paid someone
	// else.
	{name: "destination swapped", want: bitcoin.RuleOutputDestinationMissing, edit: func(a *adversary) {
		a.tx().TxOut[0].PkScript = bitcoin.P2WPKHScript(strangerKey("attacker"))
	}},
	{name: "destination swapped, intent's destination paid as change", want: bitcoin.RuleOutputDestinationMissing, edit: func(a *adversary) {
		a.tx().TxOut[0].PkScript = a.w.script(a.t, bitcoin.ChangePath(5))
		a.p.Outputs[0].Bip32Derivation = []*psbt.Bip32Derivation{a.derivation(bitcoin.ChangePath(5))}
	}},
	{name: "amount one sat short", want: bitcoin.RuleOutputDestinationAmount, output1: 1, edit: func(a *adversary) {
		a.tx().TxOut[0].Value--
	}},
	{name: "amount one sat over", want: bitcoin.RuleOutputDestinationAmount, output1: 1, edit: func(a *adversary) {
		a.tx().TxOut[0].Value++
		a.tx().TxOut[1].Value--
	}},
	{name: "destination paid twice", want: bitcoin.RuleOutputDestinationDuplicate, output1: 3, edit: func(a *adversary) {
		a.tx().TxOut[1].Value -= 1000
		a.addOutput(wire.NewTxOut(1000, slices.Clone(a.tx().TxOut[0].PkScript)), psbt.POutput{})
	}},
	{name: "extra output to a stranger", want: bitcoin.RuleOutputUnexpected, output1: 3, edit: func(a *adversary) {
		a.tx().TxOut[1].Value -= 10_000
		a.addOutput(wire.NewTxOut(10_000, bitcoin.P2WPKHScript(strangerKey("attacker"))), psbt.POutput{})
	}},
	{name: "change to a stranger claiming the wallet's change path", want: bitcoin.RuleOutputChangeMismatch, output1: 2, edit: func(a *adversary) {
		a.payChange(bitcoin.P2WPKHScript(strangerKey("attacker")), a.derivation(bitcoin.ChangePath(4)))
	}},
	{name: "change path claim derives a different key", want: bitcoin.RuleOutputChangeMismatch, output1: 2, edit: func(a *adversary) {
		a.p.Outputs[1].Bip32Derivation = []*psbt.Bip32Derivation{a.derivation(bitcoin.ChangePath(5))}
	}},
	{name: "change on the receive branch", want: bitcoin.RuleOutputChangePath, output1: 2, edit: func(a *adversary) {
		a.payChange(a.w.script(a.t, bitcoin.ReceivePath(4)), a.derivation(bitcoin.ReceivePath(4)))
	}},
	{name: "change deeper than m/1/i", want: bitcoin.RuleOutputChangePath, output1: 2, edit: func(a *adversary) {
		path := bitcoin.Path{1, 4, 0}
		a.payChange(a.w.script(a.t, path), a.derivation(path))
	}},
	{name: "change to the root key", want: bitcoin.RuleOutputChangePath, output1: 2, edit: func(a *adversary) {
		a.payChange(bitcoin.P2WPKHScript(a.wallet.PublicKey), a.derivation(bitcoin.Path{}))
	}},
	{name: "change index over the limit", want: bitcoin.RuleOutputChangeIndex, output1: 2, edit: func(a *adversary) {
		a.payChange(a.w.script(a.t, bitcoin.ChangePath(1001)), a.derivation(bitcoin.ChangePath(1001)))
	}},
	{name: "change derivation with another fingerprint", want: bitcoin.RuleOutputChangeFingerprint, output1: 2, edit: func(a *adversary) {
		a.p.Outputs[1].Bip32Derivation[0].MasterKeyFingerprint++
	}},
	{name: "change derivation names another key", want: bitcoin.RuleOutputChangePublicKey, output1: 2, edit: func(a *adversary) {
		k := strangerKey("key")
		a.p.Outputs[1].Bip32Derivation[0].PubKey = k[:]
	}},
	{name: "change with two derivations", want: bitcoin.RuleOutputChangeCount, output1: 2, edit: func(a *adversary) {
		a.p.Outputs[1].Bip32Derivation = append(a.p.Outputs[1].Bip32Derivation, a.derivation(bitcoin.ChangePath(5)))
	}},
	{name: "dust change", want: bitcoin.RuleOutputDust, output1: 2, edit: func(a *adversary) {
		a.tx().TxOut[1].Value = 293
	}},
	{name: "dust to a stranger", want: bitcoin.RuleOutputDust, output1: 3, edit: func(a *adversary) {
		a.addOutput(wire.NewTxOut(545, bytes.Repeat([]byte{0x76}, 25)), psbt.POutput{})
	}},
	{name: "OP_RETURN output", want: bitcoin.RuleOutputUnexpected, output1: 3, edit: func(a *adversary) {
		a.tx().TxOut[1].Value -= 1000
		a.addOutput(wire.NewTxOut(1000, []byte{txscript.OP_RETURN, 4, 'd', 'a', 't', 'a'}), psbt.POutput{})
	}},
	{name: "negative output", want: bitcoin.RuleOutputValueRange, output1: 2, edit: func(a *adversary) {
		a.tx().TxOut[1].Value = -1
	}},
	{name: "output over 21 million BTC", want: bitcoin.RuleOutputValueRange, output1: 2, edit: func(a *adversary) {
		a.tx().TxOut[1].Value = bitcoin.MaxSatoshi + 1
	}},
	{name: "outputs together over 21 million BTC", want: bitcoin.RuleOutputTotalRange, output1: 2, edit: func(a *adversary) {
		a.tx().TxOut[1].Value = bitcoin.MaxSatoshi
		a.addOutput(wire.NewTxOut(bitcoin.MaxSatoshi, a.w.script(a.t, bitcoin.ChangePath(5))),
			psbt.POutput{Bip32Derivation: []*psbt.Bip32Derivation{a.derivation(bitcoin.ChangePath(5))}})
	}},

	// Inputs.
	{name: "input path claim wrong", want: bitcoin.RuleInputDerivationMismatch, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].Bip32Derivation = []*psbt.Bip32Derivation{a.derivation(bitcoin.ReceivePath(8))}
	}},
	{name: "input path claim right, key named wrong", want: bitcoin.RuleInputDerivationPublicKey, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].Bip32Derivation[0].PubKey = pubBytes(a.w.child(a.t, bitcoin.ReceivePath(8)).PublicKey)
	}},
	{name: "input derivation with another fingerprint", want: bitcoin.RuleInputDerivationFinger, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].Bip32Derivation[0].MasterKeyFingerprint ^= 0xff
	}},
	{name: "input derivation hardened", want: bitcoin.RuleInputDerivationPath, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].Bip32Derivation[0].Bip32Path = []uint32{0x80000000, 0}
	}},
	{name: "input derivation too deep", want: bitcoin.RuleInputDerivationPath, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].Bip32Derivation[0].Bip32Path = []uint32{0, 0, 0, 0, 0}
	}},
	{name: "input without derivation", want: bitcoin.RuleInputDerivationCount, input1: 3, edit: func(a *adversary) {
		a.p.Inputs[2].Bip32Derivation = nil
	}},
	{name: "input with two derivations", want: bitcoin.RuleInputDerivationCount, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].Bip32Derivation = append(a.p.Inputs[0].Bip32Derivation, a.derivation(bitcoin.ReceivePath(8)))
	}},
	{name: "input spends P2PKH of the wallet's key", want: bitcoin.RuleInputScriptType, input1: 1, edit: func(a *adversary) {
		k := a.w.child(a.t, bitcoin.ReceivePath(0)).PublicKey
		script := append(append([]byte{txscript.OP_DUP, txscript.OP_HASH160, 20}, btcutil.Hash160(k[:])...), txscript.OP_EQUALVERIFY, txscript.OP_CHECKSIG)
		prev := fundingTx("p2pkh", false, wire.NewTxOut(100_000, script))
		a.tx().TxIn[0].PreviousOutPoint = wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		a.p.Inputs[0].NonWitnessUtxo = prev
		a.p.Inputs[0].WitnessUtxo = wire.NewTxOut(100_000, script)
	}},
	{name: "input worth over 21 million BTC", want: bitcoin.RuleInputValueRange, input1: 1, edit: func(a *adversary) {
		script := a.w.script(a.t, bitcoin.ReceivePath(0))
		prev := fundingTx("too much", false, wire.NewTxOut(bitcoin.MaxSatoshi+1, script))
		a.tx().TxIn[0].PreviousOutPoint = wire.OutPoint{Hash: prev.TxHash(), Index: 0}
		a.p.Inputs[0].NonWitnessUtxo = prev
		a.p.Inputs[0].WitnessUtxo = wire.NewTxOut(bitcoin.MaxSatoshi+1, script)
	}},
	{name: "inputs together over 21 million BTC", want: bitcoin.RuleInputTotalRange, input1: 2, edit: func(a *adversary) {
		for i := range 2 {
			script := a.w.script(a.t, advPaths[i])
			prev := fundingTx("half of too much "+strconv.Itoa(i), false, wire.NewTxOut(bitcoin.MaxSatoshi/2+1, script))
			a.tx().TxIn[i].PreviousOutPoint = wire.OutPoint{Hash: prev.TxHash(), Index: 0}
			a.p.Inputs[i].NonWitnessUtxo = prev
			a.p.Inputs[i].WitnessUtxo = wire.NewTxOut(bitcoin.MaxSatoshi/2+1, script)
		}
	}},
	{name: "duplicate outpoint", want: bitcoin.RuleTxDuplicateInput, input1: 4, edit: func(a *adversary) {
		dup := *a.tx().TxIn[0]
		a.tx().AddTxIn(&dup)
		a.p.Inputs = append(a.p.Inputs, a.p.Inputs[0])
		a.tx().TxOut[1].Value += 100_000
	}},
	{name: "SIGHASH_NONE", want: bitcoin.RuleInputSighashType, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].SighashType = txscript.SigHashNone
	}},
	{name: "SIGHASH_SINGLE", want: bitcoin.RuleInputSighashType, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].SighashType = txscript.SigHashSingle
	}},
	{name: "SIGHASH_ALL|ANYONECANPAY", want: bitcoin.RuleInputSighashType, input1: 3, edit: func(a *adversary) {
		a.p.Inputs[2].SighashType = txscript.SigHashAll | txscript.SigHashAnyOneCanPay
	}},
	{name: "sighash type with high bits", want: bitcoin.RuleInputSighashType, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].SighashType = txscript.SigHashAll | 0x100
	}},

	// PSBT encoding.
	{name: "partial signature", want: bitcoin.RulePSBTSigned, input1: 1, edit: func(a *adversary) {
		sig := ecdsa.Sign(a.w.privateKey(a.t, advPaths[0]), make([]byte, 32)).Serialize()
		a.p.Inputs[0].PartialSigs = []*psbt.PartialSig{{
			PubKey:    pubBytes(a.w.child(a.t, advPaths[0]).PublicKey),
			Signature: append(sig, byte(txscript.SigHashAll)),
		}}
	}},
	{name: "final witness", want: bitcoin.RulePSBTSigned, input1: 2, edit: func(a *adversary) {
		a.p.Inputs[1].FinalScriptWitness = []byte{0}
	}},
	{name: "final scriptSig", want: bitcoin.RulePSBTSigned, input1: 3, edit: func(a *adversary) {
		a.p.Inputs[2].FinalScriptSig = []byte{0x51}
	}},
	{name: "unsigned transaction with a scriptSig", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		a.tx().TxIn[0].SignatureScript = []byte{0x51}
		a.raw = encodeUnchecked(a)
	}},
	{name: "unknown global field", want: bitcoin.RulePSBTUnknown, edit: func(a *adversary) {
		a.p.Unknowns = append(a.p.Unknowns, &psbt.Unknown{Key: []byte{0xfc, 'x'}, Value: []byte("y")})
	}},
	{name: "global xpub", want: bitcoin.RulePSBTUnknown, edit: func(a *adversary) {
		a.p.Unknowns = append(a.p.Unknowns, &psbt.Unknown{Key: append([]byte{0x01}, make([]byte, 78)...), Value: make([]byte, 4)})
	}},
	{name: "unknown input field", want: bitcoin.RulePSBTUnknown, input1: 2, edit: func(a *adversary) {
		a.appendInputField(1, []byte{0xfc, 'x'}, []byte("y"))
	}},
	{name: "unknown output field", want: bitcoin.RulePSBTUnknown, output1: 1, edit: func(a *adversary) {
		a.p.Outputs[0].Unknowns = []*psbt.Unknown{{Key: []byte{0xfc, 'x'}, Value: []byte("y")}}
	}},
	{name: "input redeem script", want: bitcoin.RulePSBTScriptField, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].RedeemScript = []byte{0x51}
	}},
	{name: "input witness script", want: bitcoin.RulePSBTScriptField, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].WitnessScript = []byte{0x51}
	}},
	{name: "output witness script", want: bitcoin.RulePSBTScriptField, output1: 2, edit: func(a *adversary) {
		a.p.Outputs[1].WitnessScript = []byte{0x51}
	}},
	{name: "input taproot internal key", want: bitcoin.RulePSBTTaproot, input1: 1, edit: func(a *adversary) {
		a.p.Inputs[0].TaprootInternalKey = bytes.Clone(a.wallet.PublicKey[1:])
	}},
	{name: "output taproot internal key", want: bitcoin.RulePSBTTaproot, output1: 2, edit: func(a *adversary) {
		a.p.Outputs[1].TaprootInternalKey = bytes.Clone(a.wallet.PublicKey[1:])
	}},
	{name: "empty BIP32 derivation value", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		a.appendInputField(0, append([]byte{0x06}, a.wallet.PublicKey[:]...), nil)
	}},
	{name: "taproot derivation with a huge hash count", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		a.appendInputField(0, append([]byte{0x16}, a.wallet.PublicKey[1:]...), []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0x80, 1, 2, 3, 4})
	}},
	{name: "trailing bytes", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		a.raw = append(a.encode(), 0)
	}},
	{name: "truncated", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		raw := a.encode()
		a.raw = raw[:len(raw)-1]
	}},
	{name: "garbage bytes", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		a.raw = []byte("this is not a PSBT at all")
	}},
	{name: "base64 instead of bytes", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		b64, err := a.p.B64Encode()
		if err != nil {
			a.t.Fatal(err)
		}
		a.raw = []byte(b64)
	}},
	{name: "empty", want: bitcoin.RulePSBTMalformed, edit: func(a *adversary) {
		a.raw = []byte{}
	}},
	{name: "oversize PSBT", want: bitcoin.RulePSBTTooLarge, edit: func(a *adversary) {
		a.raw = append(a.encode(), make([]byte, bitcoin.MaxPSBTSize)...)
	}},

	// The transaction.
	{name: "version 3", want: bitcoin.RuleTxVersion, edit: func(a *adversary) { a.tx().Version = 3 }},
	{name: "version 0", want: bitcoin.RuleTxVersion, edit: func(a *adversary) { a.tx().Version = 0 }},
	{name: "lock time a timestamp", want: bitcoin.RuleTxLockTime, edit: func(a *adversary) {
		a.tx().LockTime = 1_717_000_000
	}},
	{name: "lock time over the limit", want: bitcoin.RuleTxLockTime, edit: func(a *adversary) {
		a.tx().LockTime = 900_001
	}},
	{name: "sequence 0", want: bitcoin.RuleTxSequence, input1: 2, edit: func(a *adversary) {
		a.tx().TxIn[1].Sequence = 0
	}},
	{name: "sequence with a relative lock time", want: bitcoin.RuleTxSequence, input1: 3, edit: func(a *adversary) {
		a.tx().TxIn[2].Sequence = 144
	}},
	{name: "sequence 0xfffffffe", want: bitcoin.RuleTxSequence, input1: 1, edit: func(a *adversary) {
		a.tx().TxIn[0].Sequence = 0xfffffffe
	}},
	{name: "replace-by-fee not allowed", want: bitcoin.RuleTxSequence, input1: 1, edit: func(a *adversary) {
		a.tx().TxIn[0].Sequence = bitcoin.SequenceRBF
	}},
	{name: "more inputs than the limit", want: bitcoin.RuleTxInputCount, edit: func(a *adversary) {
		a.lim.MaxInputs = 2
	}},
	{name: "more outputs than the limit", want: bitcoin.RuleTxOutputCount, edit: func(a *adversary) {
		a.lim.MaxOutputs = 1
	}},
	{name: "no outputs", want: bitcoin.RuleTxOutputCount, edit: func(a *adversary) {
		a.tx().TxOut = nil
		a.p.Outputs = nil
	}},

	// The fee.
	{name: "fee over the intent's cap", want: bitcoin.RuleFeeOverIntent, edit: func(a *adversary) {
		a.in.FeeCap = 2000 // the fee is 2,770 sats
	}},
	{name: "fee over the policy's cap", want: bitcoin.RuleFeeOverPolicy, edit: func(a *adversary) {
		a.lim.MaxFee = 1000
	}},
	{name: "outputs pay more than the inputs", want: bitcoin.RuleFeeNegative, edit: func(a *adversary) {
		a.tx().TxOut[1].Value += 10_000
	}},

	// The intent.
	{name: "wrong-network destination", want: bitcoin.RuleIntentDestinationNetwork, edit: func(a *adversary) {
		a.in.Destination = mustAddress(a.t, strangerKey("destination"), bitcoin.Testnet)
	}},
	{name: "wrong-network P2PKH destination", want: bitcoin.RuleIntentDestinationNetwork, edit: func(a *adversary) {
		a.in.Destination = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn" // testnet
	}},
	{name: "invalid address", want: bitcoin.RuleIntentDestinationInvalid, edit: func(a *adversary) {
		d := []byte(a.in.Destination)
		d[len(d)-1] ^= 1 // breaks the checksum
		a.in.Destination = string(d)
	}},
	{name: "destination not an address", want: bitcoin.RuleIntentDestinationInvalid, edit: func(a *adversary) {
		a.in.Destination = "alice@example.com"
	}},
	{name: "destination a public key", want: bitcoin.RuleIntentDestinationType, edit: func(a *adversary) {
		k := strangerKey("destination")
		a.in.Destination = hex.EncodeToString(k[:])
	}},
	{name: "destination in upper case", want: bitcoin.RuleIntentDestinationSpelling, edit: func(a *adversary) {
		a.in.Destination = strings.ToUpper(a.in.Destination)
	}},
	{name: "destination with spaces", want: bitcoin.RuleIntentDestinationInvalid, edit: func(a *adversary) {
		a.in.Destination = " " + a.in.Destination
	}},
	{name: "amount zero", want: bitcoin.RuleIntentAmount, edit: func(a *adversary) { a.in.Amount = 0 }},
	{name: "amount negative", want: bitcoin.RuleIntentAmount, edit: func(a *adversary) { a.in.Amount = -300_000 }},
	{name: "amount over 21 million BTC", want: bitcoin.RuleIntentAmount, edit: func(a *adversary) { a.in.Amount = bitcoin.MaxSatoshi + 1 }},
	{name: "fee cap zero", want: bitcoin.RuleIntentFeeCap, edit: func(a *adversary) { a.in.FeeCap = 0 }},
	{name: "asset not BTC", want: bitcoin.RuleIntentAsset, edit: func(a *adversary) { a.in.Asset = "btc" }},
	{name: "unknown network", want: bitcoin.RuleIntentNetwork, edit: func(a *adversary) { a.in.Network = "testnet4" }},
	{name: "requested_by with a space", want: bitcoin.RuleIntentRequestedBy, edit: func(a *adversary) { a.in.RequestedBy = "alice smith" }},
	{name: "withdrawal id empty", want: bitcoin.RuleIntentWithdrawalID, edit: func(a *adversary) { a.in.WithdrawalID = "" }},
	{name: "withdrawal id with a slash", want: bitcoin.RuleIntentWithdrawalID, edit: func(a *adversary) { a.in.WithdrawalID = "wd/1" }},
	{name: "withdrawal id too long", want: bitcoin.RuleIntentWithdrawalID, edit: func(a *adversary) {
		a.in.WithdrawalID = strings.Repeat("a", bitcoin.MaxWithdrawalIDLen+1)
	}},
	{name: "wallet id with a space", want: bitcoin.RuleIntentWalletID, edit: func(a *adversary) { a.in.WalletID = "w 1" }},

	// The node's own configuration.
	{name: "limits without a fee cap", want: bitcoin.RuleLimitsInvalid, edit: func(a *adversary) { a.lim.MaxFee = 0 }},
	{name: "limits over the hard input maximum", want: bitcoin.RuleLimitsInvalid, edit: func(a *adversary) {
		a.lim.MaxInputs = bitcoin.MaxInputs + 1
	}},
	{name: "limits allowing a timestamp lock time", want: bitcoin.RuleLimitsInvalid, edit: func(a *adversary) {
		a.lim.MaxLockTime = bitcoin.LockTimeThreshold
	}},
	{name: "wallet key not on the curve", want: bitcoin.RuleWalletKey, edit: func(a *adversary) {
		a.wallet.PublicKey[0] = 0x05
	}},
	{name: "another wallet", want: bitcoin.RuleInputDerivationFinger, input1: 1, edit: func(a *adversary) {
		a.wallet.ChainCode[0] ^= 1
		a.wallet.PublicKey = strangerKey("other wallet")
	}},
	{name: "same root key, another chain code", want: bitcoin.RuleInputDerivationMismatch, input1: 1, edit: func(a *adversary) {
		a.wallet.ChainCode[0] ^= 1
	}},
}

// encodeUnchecked encodes a's PSBT with its unsigned transaction as it
// is, which the psbt package refuses to write when an input has a
// scriptSig.
func encodeUnchecked(a *adversary) []byte {
	var withSig, without bytes.Buffer
	if err := a.tx().SerializeNoWitness(&withSig); err != nil {
		a.t.Fatal(err)
	}
	a.tx().TxIn[0].SignatureScript = nil
	if err := a.tx().SerializeNoWitness(&without); err != nil {
		a.t.Fatal(err)
	}
	var rest bytes.Buffer
	if err := a.p.Serialize(&rest); err != nil {
		a.t.Fatal(err)
	}
	// magic, key {0x00}, the transaction's length and bytes, the maps.
	header := func(tx []byte) []byte {
		var b bytes.Buffer
		b.WriteString("psbt\xff\x01\x00")
		if err := wire.WriteVarInt(&b, 0, uint64(len(tx))); err != nil {
			a.t.Fatal(err)
		}
		return append(b.Bytes(), tx...)
	}
	maps := rest.Bytes()[len(header(without.Bytes())):]
	return append(header(withSig.Bytes()), maps...)
}

func mustAddress(t testing.TB, pub [33]byte, n bitcoin.Network) string {
	t.Helper()
	a, err := bitcoin.P2WPKHAddress(pub, n)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRederiveRefuses checks that each hostile request is refused, by the
// rule expected, naming the input or output concerned.
func TestRederiveRefuses(t *testing.T) {
	t.Run("the base withdrawal is valid", func(t *testing.T) {
		a := newAdversary(t)
		if _, err := bitcoin.Rederive(a.in, a.encode(), a.wallet, a.lim); err != nil {
			t.Fatalf("Rederive: %v", err)
		}
	})
	seen := map[bitcoin.Rule]bool{}
	for _, tc := range adversarialCases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdversary(t)
			tc.edit(a)
			w, err := bitcoin.Rederive(a.in, a.encode(), a.wallet, a.lim)
			if w != nil {
				t.Fatalf("Rederive returned a withdrawal with error %v", err)
			}
			var r *bitcoin.Refusal
			if !errors.As(err, &r) || !errors.Is(err, bitcoin.ErrRefused) {
				t.Fatalf("Rederive: %v (%T), want a *Refusal", err, err)
			}
			if r.Rule != tc.want {
				t.Fatalf("refused by %s (%s), want %s", r.Rule, r.Detail, tc.want)
			}
			if r.Input != tc.input1-1 || r.Output != tc.output1-1 {
				t.Errorf("refusal names input %d and output %d, want %d and %d", r.Input, r.Output, tc.input1-1, tc.output1-1)
			}
			if want := "bitcoin: refused (" + string(tc.want) + "): "; !strings.HasPrefix(err.Error(), want) || r.Detail == "" {
				t.Errorf("error %q, want %q and a detail", err, want)
			}
			seen[r.Rule] = true
		})
	}
	// Every rule has a case, except the digest computation, which only
	// fails on a transaction that earlier rules refuse.
	for _, rule := range bitcoin.Rules() {
		if !seen[rule] && rule != bitcoin.RuleTxSighash {
			t.Errorf("no case is refused by %s", rule)
		}
	}
}

// TestRefusalError checks the format of refusals.
func TestRefusalError(t *testing.T) {
	a := newAdversary(t)
	a.tx().TxOut[0].Value = 299_000
	_, err := bitcoin.Rederive(a.in, a.encode(), a.wallet, a.lim)
	want := "bitcoin: refused (output.destination_amount): output 0 pays 299000 sats, the intent says 300000"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// TestRefusalDeterministic checks that a request failing several rules is
// refused by the same one every time.
func TestRefusalDeterministic(t *testing.T) {
	a := newAdversary(t)
	a.tx().TxOut[0].PkScript = bitcoin.P2WPKHScript(strangerKey("attacker"))
	a.tx().TxIn[2].Sequence = 0
	a.p.Inputs[1].SighashType = txscript.SigHashNone
	a.p.Inputs[0].WitnessUtxo.Value--
	raw := a.encode()
	for range 20 {
		_, err := bitcoin.Rederive(a.in, raw, a.wallet, a.lim)
		if got := refusalRule(err); got != bitcoin.RuleTxSequence {
			t.Fatalf("refused by %q (%v), want %s", got, err, bitcoin.RuleTxSequence)
		}
	}
}

// frozenRules are the rule codes as first published. Codes are written in
// audit logs: one may be added, never renamed or removed.
var frozenRules = []bitcoin.Rule{
	"limits.invalid", "wallet.invalid_key",
	"intent.withdrawal_id", "intent.wallet_id", "intent.network", "intent.asset",
	"intent.amount", "intent.fee_cap", "intent.destination_invalid",
	"intent.destination_network", "intent.destination_type", "intent.destination_noncanonical",
	"psbt.too_large", "psbt.malformed", "psbt.unknown_field", "psbt.signed",
	"psbt.script_field", "psbt.taproot_field",
	"tx.version", "tx.input_count", "tx.output_count", "tx.lock_time",
	"tx.sequence", "tx.duplicate_input",
	"input.non_witness_utxo_missing", "input.non_witness_utxo_txid", "input.non_witness_utxo_index",
	"input.value_range", "input.witness_utxo_missing", "input.witness_utxo_mismatch",
	"input.script_type", "input.sighash_type", "input.derivation_count",
	"input.derivation_fingerprint", "input.derivation_path", "input.derivation_mismatch",
	"input.derivation_pubkey", "input.total_range",
	"output.value_range", "output.total_range", "output.dust",
	"output.destination_duplicate", "output.destination_missing", "output.destination_amount",
	"output.unexpected", "output.change_derivation_count", "output.change_fingerprint",
	"output.change_path", "output.change_index", "output.change_mismatch", "output.change_pubkey",
	"fee.negative", "fee.over_intent_cap", "fee.over_policy_cap",
	"tx.sighash",
}

// TestRulesStable checks that no rule code was renamed or removed, that
// codes are unique and well formed, and that the table in Rule's
// documentation lists each exactly once.
func TestRulesStable(t *testing.T) {
	rules := bitcoin.Rules()
	for _, r := range frozenRules {
		if !slices.Contains(rules, r) {
			t.Errorf("rule %s was renamed or removed", r)
		}
	}
	code := regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)
	seen := map[bitcoin.Rule]bool{}
	for _, r := range rules {
		if !code.MatchString(string(r)) {
			t.Errorf("rule %q is not written area.name", r)
		}
		if seen[r] {
			t.Errorf("rule %s listed twice", r)
		}
		seen[r] = true
	}

	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "rules.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	for _, decl := range f.Decls {
		if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.TYPE && g.Specs[0].(*ast.TypeSpec).Name.Name == "Rule" {
			doc = g.Doc.Text()
		}
	}
	var table []bitcoin.Rule
	for _, line := range strings.Split(doc, "\n") {
		if fields := strings.Fields(line); len(fields) > 1 && code.MatchString(fields[0]) && strings.HasPrefix(line, "\t") {
			table = append(table, bitcoin.Rule(fields[0]))
		}
	}
	if !slices.Equal(table, rules) {
		t.Errorf("the table in Rule's documentation lists\n%v\nRules returns\n%v", table, rules)
	}
}

// TestDustLimit checks DustLimit against Bitcoin Core's values.
func TestDustLimit(t *testing.T) {
	hash20, hash32 := make([]byte, 20), make([]byte, 32)
	tests := []struct {
		name   string
		script []byte
		want   int64
	}{
		{"P2WPKH", append([]byte{0x00, 20}, hash20...), 294},
		{"P2WSH", append([]byte{0x00, 32}, hash32...), 330},
		{"P2TR", append([]byte{0x51, 32}, hash32...), 330},
		{"P2SH", append(append([]byte{0xa9, 20}, hash20...), 0x87), 540},
		{"P2PKH", append(append([]byte{0x76, 0xa9, 20}, hash20...), 0x88, 0xac), 546},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bitcoin.DustLimit(tc.script); got != tc.want {
				t.Fatalf("DustLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestIntentCheck checks that Check agrees with Rederive on intents.
func TestIntentCheck(t *testing.T) {
	in := testIntent(t, 1000)
	if err := in.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	in.Asset = "ETH"
	if got := refusalRule(in.Check()); got != bitcoin.RuleIntentAsset {
		t.Fatalf("Check refused by %q, want %s", got, bitcoin.RuleIntentAsset)
	}
}

// FuzzRederive mutates valid PSBTs. Rederive must never panic, and must
// sign nothing but the golden withdrawal's payment: if it accepts, the
// destination is paid exactly the intent's amount, every other output pays
// the wallet's change key at the path given, every input spends a funded
// coin at its true value, and the fee is within both caps.
func FuzzRederive(f *testing.F) {
	w := newTestWallet(f)
	in := testIntent(f, advAmount)
	lim := testLimits()
	lim.AllowRBF = true
	all := fund(f, w, advPaths, advValues)
	u := all.utxos
	for _, utxos := range [][]bitcoin.UTXO{u, u[:2], {u[2], u[1], u[0]}} {
		f.Add(buildRaw(f, w, in, coins{utxos: utxos}))
	}
	f.Add(mutatePSBT(f, buildRaw(f, w, in, all), func(p *psbt.Packet) {
		p.UnsignedTx.TxIn[0].Sequence = bitcoin.SequenceRBF
		p.UnsignedTx.LockTime = 850_000
	}))
	destScript := bitcoin.P2WPKHScript(strangerKey("destination"))

	f.Fuzz(func(t *testing.T, raw []byte) {
		wd, err := bitcoin.Rederive(in, raw, w.key, lim)
		if err != nil {
			if refusalRule(err) == "" {
				t.Fatalf("Rederive: %v is not a *Refusal", err)
			}
			return
		}
		tx := wd.Tx
		var inTotal, outTotal int64
		for i, txIn := range tx.TxIn {
			v, ok := all.value[txIn.PreviousOutPoint]
			if !ok || wd.Inputs[i].Value != v || wd.Inputs[i].Outpoint != txIn.PreviousOutPoint {
				t.Fatalf("input %d spends %v valued %d, not a funded coin", i, txIn.PreviousOutPoint, wd.Inputs[i].Value)
			}
			if !bytes.Equal(wd.Inputs[i].PkScript, all.out[txIn.PreviousOutPoint]) {
				t.Fatalf("input %d: script is not the coin's", i)
			}
			inTotal += v
		}
		dest := 0
		for j, out := range tx.TxOut {
			outTotal += out.Value
			if bytes.Equal(out.PkScript, destScript) {
				dest++
				if out.Value != in.Amount || wd.Destination.Index != j {
					t.Fatalf("output %d pays the destination %d sats", j, out.Value)
				}
				continue
			}
			k := slices.IndexFunc(wd.Change, func(o bitcoin.Output) bool { return o.Index == j })
			if k < 0 {
				t.Fatalf("output %d is neither destination nor change", j)
			}
			ch := wd.Change[k]
			if len(ch.Path) != 2 || ch.Path[0] != 1 || ch.Path[1] > lim.ChangeIndexMax ||
				!bytes.Equal(out.PkScript, w.script(t, ch.Path)) || ch.Value != out.Value {
				t.Fatalf("output %d pays %x, not the wallet's change at %s", j, out.PkScript, ch.Path)
			}
		}
		if dest != 1 {
			t.Fatalf("%d outputs pay the destination", dest)
		}
		if wd.Fee != inTotal-outTotal || wd.Fee < 0 || wd.Fee > in.FeeCap || wd.Fee > lim.MaxFee {
			t.Fatalf("fee %d: inputs %d, outputs %d", wd.Fee, inTotal, outTotal)
		}
		for i, input := range wd.Inputs {
			if input.PkScript == nil || !bytes.Equal(input.PkScript, w.script(t, input.Path)) {
				t.Fatalf("input %d: key at %s does not pay the script spent", i, input.Path)
			}
		}
	})
}

// FuzzIntent checks that an intent Check accepts is well formed: ids in
// the alphabet, amounts in range, and a destination of the intent's
// network spelled canonically.
func FuzzIntent(f *testing.F) {
	in := testIntent(f, 1000)
	f.Add(in.WithdrawalID, in.WalletID, string(in.Network), in.Asset, in.Destination, in.Amount, in.FeeCap)
	f.Add("a", "b", "testnet", "BTC", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", int64(1), int64(1))
	f.Add("a", "b", "regtest", "BTC", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", int64(1), int64(1))
	f.Add("x", "y", "mainnet", "BTC", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", int64(5), int64(5))
	f.Fuzz(func(t *testing.T, id, wallet, network, asset, dest string, amount, feeCap int64) {
		in := bitcoin.Intent{WithdrawalID: id, WalletID: wallet, Network: bitcoin.Network(network),
			Asset: asset, Destination: dest, Amount: amount, FeeCap: feeCap}
		err := in.Check()
		if err != nil {
			if refusalRule(err) == "" {
				t.Fatalf("Check: %v is not a *Refusal", err)
			}
			return
		}
		idPattern := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
		if !idPattern.MatchString(id) || !idPattern.MatchString(wallet) || asset != "BTC" ||
			amount < 1 || amount > bitcoin.MaxSatoshi || feeCap < 1 || feeCap > bitcoin.MaxSatoshi {
			t.Fatalf("Check accepted %+v", in)
		}
		params, err := bitcoin.ParamsFor(in.Network)
		if err != nil {
			t.Fatalf("Check accepted network %q", network)
		}
		a, err := btcutil.DecodeAddress(dest, params)
		if err != nil || !a.IsForNet(params) || a.EncodeAddress() != dest {
			t.Fatalf("Check accepted destination %q on %s", dest, network)
		}
	})
}

// BenchmarkRederive10Inputs re-derives a withdrawal of ten inputs with
// change.
func BenchmarkRederive10Inputs(b *testing.B) {
	w := newTestWallet(b)
	in := testIntent(b, 1_000_000)
	paths := make([]bitcoin.Path, 10)
	values := make([]int64, 10)
	for i := range paths {
		paths[i] = bitcoin.ReceivePath(uint32(i))
		values[i] = 150_000
	}
	raw := buildRaw(b, w, in, fund(b, w, paths, values))
	lim := testLimits()
	if _, err := bitcoin.Rederive(in, raw, w.key, lim); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bitcoin.Rederive(in, raw, w.key, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// pubBytes returns a copy of a public key as a slice.
func pubBytes(k [33]byte) []byte { return k[:] }

// TestRederiveBoundsMemory checks that a few bytes declaring huge counts
// are refused without the allocations btcd's decoders would make for them.
func TestRederiveBoundsMemory(t *testing.T) {
	a := newAdversary(t)
	psbtWith := func(unsignedTx []byte, inputMap []byte) []byte {
		var b bytes.Buffer
		b.WriteString("psbt\xff\x01\x00")
		wire.WriteVarInt(&b, 0, uint64(len(unsignedTx)))
		b.Write(unsignedTx)
		b.WriteByte(0)
		if inputMap != nil {
			b.Write(inputMap)
			b.WriteByte(0) // an empty output map
		}
		return b.Bytes()
	}
	var oneInOneOut bytes.Buffer
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	tx.SerializeNoWitness(&oneInOneOut)
	prevTx := func(body []byte) []byte {
		var b bytes.Buffer
		b.Write([]byte{0x01, 0x00}) // key {0x00}: non_witness_utxo
		wire.WriteVarInt(&b, 0, uint64(len(body)))
		b.Write(body)
		return append(b.Bytes(), 0)
	}
	version := []byte{2, 0, 0, 0}
	// Counts just below the greatest btcd accepts.
	manyIns := []byte{0xfe, 0x00, 0x35, 0x0c, 0x00}   // 800,000
	manyOuts := []byte{0xfe, 0x20, 0x75, 0x38, 0x00}  // 3,700,000
	manyItems := []byte{0xfe, 0x00, 0x00, 0x3d, 0x00} // 3,997,696
	input := append(make([]byte, 36), 0, 0xff, 0xff, 0xff, 0xff)

	tests := []struct {
		name string
		raw  []byte
	}{
		{"unsigned transaction with 800,000 inputs", psbtWith(append(version, manyIns...), nil)},
		{"unsigned transaction with millions of outputs", psbtWith(append(append(append(version, 1), input...), manyOuts...), nil)},
		{"previous transaction with 800,000 inputs", psbtWith(oneInOneOut.Bytes(), prevTx(append(version, manyIns...)))},
		{"previous transaction with millions of outputs", psbtWith(oneInOneOut.Bytes(),
			prevTx(append(append(append(version, 1), input...), manyOuts...)))},
		{"previous transaction with millions of witness items", psbtWith(oneInOneOut.Bytes(),
			prevTx(append(append(append(append(version, 0, 1, 1), input...), 0), manyItems...)))},
		{"unsigned transaction with bytes after it", psbtWith(append(oneInOneOut.Bytes(), 0), nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := bitcoin.Rederive(a.in, tc.raw, a.wallet, a.lim)
			runtime.ReadMemStats(&after)
			if got := refusalRule(err); got != bitcoin.RulePSBTMalformed {
				t.Fatalf("refused by %q (%v), want %s", got, err, bitcoin.RulePSBTMalformed)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Fatalf("Rederive allocated %d bytes for a %d-byte PSBT", n, len(tc.raw))
			}
		})
	}
}
