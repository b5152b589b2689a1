package bitcoin

import (
	"bytes"
	"encoding/binary"
	"github.com/countersign/countersign/policy/bip32"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Withdrawal is what an unsigned transaction does, re-derived by
// [Rederive] from the PSBT's authenticated data and the wallet's key. A
// node signs Digests and nothing else.
type Withdrawal struct {
	// Tx is the unsigned transaction, as decoded from the PSBT.
	Tx *wire.MsgTx
	// TxID is Tx's id, which signatures do not change.
	TxID chainhash.Hash
	// Inputs are Tx's inputs, in order.
	Inputs []Input
	// Digests are the BIP143 SIGHASH_ALL digests of Tx's inputs, in
	// order: Digests[i] is signed with Inputs[i]'s key.
	Digests [][32]byte
	// Destination is the output paying the intent's destination.
	Destination Output
	// Change are the outputs paying the wallet's change addresses, in
	// transaction order.
	Change []Output
	// Fee is what the inputs spend and the outputs do not pay, in
	// satoshis.
	Fee int64
	// VSize is an upper bound of the signed transaction's virtual size,
	// in virtual bytes, for showing the fee rate Fee/VSize.
	VSize int64
}

// Input is an input of a withdrawal: a P2WPKH output of the wallet.
type Input struct {
	Outpoint  wire.OutPoint
	Path      Path     // the key's path below the wallet's root
	PublicKey [33]byte // the key at Path, derived by Rederive
	Tweak     [32]byte // childPriv = rootPriv + Tweak (mod n); see [Child]
	Value     int64    // from the previous transaction, in satoshis
	PkScript  []byte   // the script spent: P2WPKH of PublicKey
}

// Output is an output of a withdrawal.
type Output struct {
	Index    int    // its index in the transaction
	PkScript []byte // the script paid
	Address  string // PkScript's address on the intent's network
	Value    int64  // in satoshis
	Path     Path   // change only: the change key's path, m/1/i
}

// Rederive decodes the unsigned transaction in psbtRaw, checks that it does
// exactly what in asks within lim, spending only wallet's P2WPKH coins and
// returning change only to wallet's change addresses, and returns what it
// does with the digests to sign.
//
// Nothing the PSBT claims is trusted: input values and scripts come from
// the full previous transactions (non_witness_utxo), whose ids must be the
// outpoints'; witness_utxo must agree with them; every key is derived here
// from wallet at the path the PSBT claims and must pay the script spent or
// paid. The same arguments give the same answer on every machine.
//
// Every error is a [*Refusal]; see [Rule] for the checks and their order.
func Rederive(in Intent, psbtRaw []byte, wallet Key, lim Limits) (*Withdrawal, error) {
	w, r := rederive(&in, psbtRaw, wallet, lim)
	if r != nil {
		return nil, r
	}
	return w, nil
}

func rederive(in *Intent, psbtRaw []byte, wallet Key, lim Limits) (*Withdrawal, *Refusal) {
	if r := lim.check(); r != nil {
		return nil, r
	}
	if _, err := btcec.ParsePubKey(wallet.PublicKey[:]); err != nil {
		return nil, refuse(RuleWalletKey, "the wallet's root key: %v", err)
	}
	dest, r := in.check()
	if r != nil {
		return nil, r
	}
	p, r := decodePSBT(psbtRaw)
	if r != nil {
		return nil, r
	}
	tx := p.UnsignedTx
	if r := checkTx(tx, lim); r != nil {
		return nil, r
	}

	w := &Withdrawal{
		Tx:      tx,
		TxID:    tx.TxHash(),
		Inputs:  make([]Input, len(tx.TxIn)),
		Digests: make([][32]byte, len(tx.TxIn)),
	}
	fingerprint := binary.LittleEndian.Uint32(fingerprintBytes(wallet))
	keys := bip32.NewDeriver(wallet)
	var inTotal int64
	for i := range tx.TxIn {
		input, r := checkInput(i, tx.TxIn[i], &p.Inputs[i], keys, fingerprint)
		if r != nil {
			return nil, r
		}
		w.Inputs[i] = input
		inTotal += input.Value // at most MaxInputs·MaxSatoshi: no overflow
		if inTotal > MaxSatoshi {
			return nil, refuseInput(RuleInputTotalRange, i, "inputs 0..%d spend %d sats, more than %d", i, inTotal, int64(MaxSatoshi))
		}
	}

	outTotal, r := checkOutputValues(tx)
	if r != nil {
		return nil, r
	}
	destIndex, r := findDestination(tx, in, dest.pkScript)
	if r != nil {
		return nil, r
	}
	w.Destination = Output{Index: destIndex, PkScript: dest.pkScript, Address: in.Destination, Value: in.Amount}
	for j, out := range tx.TxOut {
		if j == destIndex {
			continue
		}
		child, r := checkChange(j, out, &p.Outputs[j], keys, fingerprint, lim)
		if r != nil {
			return nil, r
		}
		addr, err := P2WPKHAddress(child.PublicKey, in.Network)
		if err != nil { // the network and the key are checked
			return nil, refuseOutput(RuleOutputChangeMismatch, j, "output %d: %v", j, err)
		}
		w.Change = append(w.Change, Output{Index: j, PkScript: bytes.Clone(out.PkScript), Address: addr, Value: out.Value, Path: child.Path})
	}

	w.Fee = inTotal - outTotal
	switch {
	case w.Fee < 0:
		return nil, refuse(RuleFeeNegative, "the outputs pay %d sats, the inputs spend %d", outTotal, inTotal)
	case w.Fee > in.FeeCap:
		return nil, refuse(RuleFeeOverIntent, "the fee is %d sats, the intent's cap %d", w.Fee, in.FeeCap)
	case w.Fee > lim.MaxFee:
		return nil, refuse(RuleFeeOverPolicy, "the fee is %d sats, the policy's cap %d", w.Fee, lim.MaxFee)
	}

	fetcher := prevOutFetcher(w.Inputs)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, input := range w.Inputs {
		digest, err := txscript.CalcWitnessSigHash(input.PkScript, sigHashes, txscript.SigHashAll, tx, i, input.Value)
		if err != nil || len(digest) != 32 {
			return nil, refuseInput(RuleTxSighash, i, "no BIP143 digest: %v", err)
		}
		w.Digests[i] = [32]byte(digest)
	}
	w.VSize = estimateVSize(tx)
	return w, nil
}

// decodePSBT decodes raw and checks that it holds only fields this package
// reads, and no signatures.
func decodePSBT(raw []byte) (p *psbt.Packet, r *Refusal) {
	if len(raw) > MaxPSBTSize {
		return nil, refuse(RulePSBTTooLarge, "the PSBT is %d bytes, at most %d", len(raw), MaxPSBTSize)
	}
	if err := scanPSBT(raw); err != nil {
		return nil, refuse(RulePSBTMalformed, "the PSBT does not decode: %v", err)
	}
	// psbt v1.1.8 panics on some malformed fields (an empty BIP32
	// derivation value, a taproot derivation with a huge hash count).
	defer func() {
		if v := recover(); v != nil {
			p, r = nil, refuse(RulePSBTMalformed, "the PSBT does not decode: %v", v)
		}
	}()
	rd := bytes.NewReader(raw)
	p, err := psbt.NewFromRawBytes(rd, false)
	if err != nil {
		return nil, refuse(RulePSBTMalformed, "the PSBT does not decode: %v", err)
	}
	if rd.Len() != 0 {
		return nil, refuse(RulePSBTMalformed, "%d bytes follow the PSBT", rd.Len())
	}
	if len(p.Inputs) != len(p.UnsignedTx.TxIn) || len(p.Outputs) != len(p.UnsignedTx.TxOut) {
		return nil, refuse(RulePSBTMalformed, "the PSBT has %d input and %d output maps for a transaction of %d inputs and %d outputs",
			len(p.Inputs), len(p.Outputs), len(p.UnsignedTx.TxIn), len(p.UnsignedTx.TxOut))
	}
	if len(p.Unknowns) != 0 {
		return nil, refuse(RulePSBTUnknown, "the global map has a field of type 0x%02x", p.Unknowns[0].Key[0])
	}
	for i := range p.Inputs {
		pi := &p.Inputs[i]
		switch {
		case len(pi.Unknowns) != 0:
			return nil, refuseInput(RulePSBTUnknown, i, "input %d has a field of type 0x%02x", i, pi.Unknowns[0].Key[0])
		case len(pi.PartialSigs) != 0 || pi.FinalScriptSig != nil || pi.FinalScriptWitness != nil ||
			pi.TaprootKeySpendSig != nil || len(pi.TaprootScriptSpendSig) != 0:
			return nil, refuseInput(RulePSBTSigned, i, "input %d carries a signature or a final script", i)
		case pi.RedeemScript != nil || pi.WitnessScript != nil:
			return nil, refuseInput(RulePSBTScriptField, i, "input %d carries a redeem or witness script; only P2WPKH is spent", i)
		case len(pi.TaprootLeafScript) != 0 || len(pi.TaprootBip32Derivation) != 0 ||
			pi.TaprootInternalKey != nil || pi.TaprootMerkleRoot != nil:
			return nil, refuseInput(RulePSBTTaproot, i, "input %d carries a taproot field", i)
		}
	}
	for j := range p.Outputs {
		po := &p.Outputs[j]
		switch {
		case len(po.Unknowns) != 0:
			return nil, refuseOutput(RulePSBTUnknown, j, "output %d has a field of type 0x%02x", j, po.Unknowns[0].Key[0])
		case po.RedeemScript != nil || po.WitnessScript != nil:
			return nil, refuseOutput(RulePSBTScriptField, j, "output %d carries a redeem or witness script", j)
		case po.TaprootInternalKey != nil || po.TaprootTapTree != nil || len(po.TaprootBip32Derivation) != 0:
			return nil, refuseOutput(RulePSBTTaproot, j, "output %d carries a taproot field", j)
		}
	}
	return p, nil
}

// checkTx checks the unsigned transaction's version, sizes, lock time,
// sequences and outpoints.
func checkTx(tx *wire.MsgTx, lim Limits) *Refusal {
	if tx.Version != 1 && tx.Version != 2 {
		return refuse(RuleTxVersion, "transaction version %d, want 1 or 2", tx.Version)
	}
	if n := len(tx.TxIn); n < 1 || n > lim.MaxInputs {
		return refuse(RuleTxInputCount, "%d inputs, want 1..%d", n, lim.MaxInputs)
	}
	if n := len(tx.TxOut); n < 1 || n > lim.MaxOutputs {
		return refuse(RuleTxOutputCount, "%d outputs, want 1..%d", n, lim.MaxOutputs)
	}
	if tx.LockTime >= LockTimeThreshold {
		return refuse(RuleTxLockTime, "lock time %d is a Unix time; only block heights are allowed", tx.LockTime)
	}
	if tx.LockTime > lim.MaxLockTime {
		return refuse(RuleTxLockTime, "lock time is block %d, at most %d", tx.LockTime, lim.MaxLockTime)
	}
	seen := make(map[wire.OutPoint]int, len(tx.TxIn))
	for i, txIn := range tx.TxIn {
		switch {
		case txIn.Sequence == SequenceFinal:
		case txIn.Sequence == SequenceRBF && lim.AllowRBF:
		case txIn.Sequence == SequenceRBF:
			return refuseInput(RuleTxSequence, i, "input %d signals replace-by-fee (sequence 0x%08x), which the policy does not allow", i, txIn.Sequence)
		default:
			return refuseInput(RuleTxSequence, i, "input %d has sequence 0x%08x, want 0x%08x", i, txIn.Sequence, uint32(SequenceFinal))
		}
		if first, ok := seen[txIn.PreviousOutPoint]; ok {
			return refuseInput(RuleTxDuplicateInput, i, "inputs %d and %d both spend %v", first, i, txIn.PreviousOutPoint)
		}
		seen[txIn.PreviousOutPoint] = i
	}
	return nil
}

// checkInput returns input i, re-derived from its previous transaction and
// the wallet's key.
func checkInput(i int, txIn *wire.TxIn, pi *psbt.PInput, keys *bip32.Deriver, fingerprint uint32) (Input, *Refusal) {
	op := txIn.PreviousOutPoint
	if pi.NonWitnessUtxo == nil {
		return Input{}, refuseInput(RuleInputPrevTxMissing, i, "input %d has no previous transaction (non_witness_utxo)", i)
	}
	if got := pi.NonWitnessUtxo.TxHash(); got != op.Hash {
		return Input{}, refuseInput(RuleInputPrevTxID, i, "input %d spends %v but its previous transaction is %v", i, op, got)
	}
	if op.Index >= uint32(len(pi.NonWitnessUtxo.TxOut)) {
		return Input{}, refuseInput(RuleInputPrevTxIndex, i, "input %d spends %v but that transaction has %d outputs", i, op, len(pi.NonWitnessUtxo.TxOut))
	}
	spent := pi.NonWitnessUtxo.TxOut[op.Index]
	if err := checkValue(spent.Value); err != nil {
		return Input{}, refuseInput(RuleInputValueRange, i, "input %d: the output spent is worth %v", i, err)
	}
	if pi.WitnessUtxo == nil {
		return Input{}, refuseInput(RuleInputWitnessUTXOMissing, i, "input %d has no witness_utxo", i)
	}
	if pi.WitnessUtxo.Value != spent.Value || !bytes.Equal(pi.WitnessUtxo.PkScript, spent.PkScript) {
		return Input{}, refuseInput(RuleInputWitnessUTXOMismatch, i, "input %d: witness_utxo says %d sats to %x, the previous transaction %d sats to %x",
			i, pi.WitnessUtxo.Value, pi.WitnessUtxo.PkScript, spent.Value, spent.PkScript)
	}
	if !isP2WPKH(spent.PkScript) {
		return Input{}, refuseInput(RuleInputScriptType, i, "input %d spends script %x, not P2WPKH", i, spent.PkScript)
	}
	if pi.SighashType != 0 && pi.SighashType != txscript.SigHashAll {
		return Input{}, refuseInput(RuleInputSighashType, i, "input %d asks for sighash type 0x%x, only SIGHASH_ALL is signed", i, uint32(pi.SighashType))
	}
	if len(pi.Bip32Derivation) != 1 {
		return Input{}, refuseInput(RuleInputDerivationCount, i, "input %d has %d BIP32 derivations, want 1", i, len(pi.Bip32Derivation))
	}
	d := pi.Bip32Derivation[0]
	if d.MasterKeyFingerprint != fingerprint {
		return Input{}, refuseInput(RuleInputDerivationFinger, i, "input %d's derivation has fingerprint %08x, the wallet's is %08x", i, d.MasterKeyFingerprint, fingerprint)
	}
	child, err := keys.Derive(Path(d.Bip32Path))
	if err != nil {
		return Input{}, refuseInput(RuleInputDerivationPath, i, "input %d: %v", i, err)
	}
	if !bytes.Equal(P2WPKHScript(child.PublicKey), spent.PkScript) {
		return Input{}, refuseInput(RuleInputDerivationMismatch, i, "input %d: the wallet's key at %s does not pay the script spent, %x", i, child.Path, spent.PkScript)
	}
	if !bytes.Equal(d.PubKey, child.PublicKey[:]) {
		return Input{}, refuseInput(RuleInputDerivationPublicKey, i, "input %d: the derivation names key %x, the wallet's key at %s is %x", i, d.PubKey, child.Path, child.PublicKey)
	}
	return Input{
		Outpoint:  op,
		Path:      child.Path,
		PublicKey: child.PublicKey,
		Tweak:     child.Tweak,
		Value:     spent.Value,
		PkScript:  bytes.Clone(spent.PkScript),
	}, nil
}

// checkOutputValues checks each output's value against the range and its
// dust limit, and returns their sum.
func checkOutputValues(tx *wire.MsgTx) (int64, *Refusal) {
	var total int64
	for j, out := range tx.TxOut {
		if err := checkValue(out.Value); err != nil {
			return 0, refuseOutput(RuleOutputValueRange, j, "output %d: %v", j, err)
		}
		total += out.Value // at most MaxOutputs·MaxSatoshi: no overflow
		if total > MaxSatoshi {
			return 0, refuseOutput(RuleOutputTotalRange, j, "outputs 0..%d pay %d sats, more than %d", j, total, int64(MaxSatoshi))
		}
	}
	for j, out := range tx.TxOut {
		if dust := DustLimit(out.PkScript); out.Value < dust {
			return 0, refuseOutput(RuleOutputDust, j, "output %d pays %d sats, less than its dust limit %d", j, out.Value, dust)
		}
	}
	return total, nil
}

// findDestination returns the index of the one output paying destScript,
// which must pay the intent's amount.
func findDestination(tx *wire.MsgTx, in *Intent, destScript []byte) (int, *Refusal) {
	index := -1
	for j, out := range tx.TxOut {
		if !bytes.Equal(out.PkScript, destScript) {
			continue
		}
		if index >= 0 {
			return -1, refuseOutput(RuleOutputDestinationDuplicate, j, "outputs %d and %d both pay the destination %s", index, j, in.Destination)
		}
		index = j
	}
	if index < 0 {
		return -1, refuse(RuleOutputDestinationMissing, "no output pays the destination %s", in.Destination)
	}
	if v := tx.TxOut[index].Value; v != in.Amount {
		return -1, refuseOutput(RuleOutputDestinationAmount, index, "output %d pays %d sats, the intent says %d", index, v, in.Amount)
	}
	return index, nil
}

// checkChange checks that output j pays the wallet's change key at the
// path its one BIP32 derivation claims, and returns that key.
func checkChange(j int, out *wire.TxOut, po *psbt.POutput, keys *bip32.Deriver, fingerprint uint32, lim Limits) (Child, *Refusal) {
	switch len(po.Bip32Derivation) {
	case 0:
		return Child{}, refuseOutput(RuleOutputUnexpected, j, "output %d pays %d sats to %x, neither the destination nor the wallet's change", j, out.Value, out.PkScript)
	case 1:
	default:
		return Child{}, refuseOutput(RuleOutputChangeCount, j, "output %d has %d BIP32 derivations, want 1", j, len(po.Bip32Derivation))
	}
	d := po.Bip32Derivation[0]
	if d.MasterKeyFingerprint != fingerprint {
		return Child{}, refuseOutput(RuleOutputChangeFingerprint, j, "output %d's derivation has fingerprint %08x, the wallet's is %08x", j, d.MasterKeyFingerprint, fingerprint)
	}
	path := Path(d.Bip32Path)
	if len(path) != 2 || path[0] != bip32.ChangeBranch || path[1] >= bip32.FirstHardened {
		return Child{}, refuseOutput(RuleOutputChangePath, j, "output %d's derivation path is %s, want m/1/i", j, path)
	}
	if path[1] > lim.ChangeIndexMax {
		return Child{}, refuseOutput(RuleOutputChangeIndex, j, "output %d's change index is %d, at most %d", j, path[1], lim.ChangeIndexMax)
	}
	child, err := keys.Derive(path)
	if err != nil {
		return Child{}, refuseOutput(RuleOutputChangePath, j, "output %d: %v", j, err)
	}
	if !bytes.Equal(P2WPKHScript(child.PublicKey), out.PkScript) {
		return Child{}, refuseOutput(RuleOutputChangeMismatch, j, "output %d: the wallet's change key at %s does not pay %x", j, child.Path, out.PkScript)
	}
	if !bytes.Equal(d.PubKey, child.PublicKey[:]) {
		return Child{}, refuseOutput(RuleOutputChangePublicKey, j, "output %d: the derivation names key %x, the wallet's key at %s is %x", j, d.PubKey, child.Path, child.PublicKey)
	}
	return child, nil
}

// isP2WPKH reports whether script is OP_0 <20 bytes>.
func isP2WPKH(script []byte) bool {
	return len(script) == 22 && script[0] == 0x00 && script[1] == 20
}

// fingerprintBytes returns the BIP32 fingerprint of wallet's root.
func fingerprintBytes(wallet Key) []byte {
	fp := Fingerprint(wallet.PublicKey)
	return fp[:]
}

// prevOutFetcher returns the outputs the inputs spend.
func prevOutFetcher(inputs []Input) *txscript.MultiPrevOutFetcher {
	m := make(map[wire.OutPoint]*wire.TxOut, len(inputs))
	for _, in := range inputs {
		m[in.Outpoint] = wire.NewTxOut(in.Value, in.PkScript)
	}
	return txscript.NewMultiPrevOutFetcher(m)
}

// p2wpkhWitnessSize is the greatest size of a P2WPKH input's witness: the
// item count, a DER signature of at most 71 bytes with its sighash byte,
// and a compressed public key, each item with its length.
const p2wpkhWitnessSize = 1 + 1 + 72 + 1 + 33

// estimateVSize returns an upper bound of tx's virtual size once every
// input carries a P2WPKH witness.
func estimateVSize(tx *wire.MsgTx) int64 {
	weight := int64(tx.SerializeSizeStripped())*4 + 2 + int64(len(tx.TxIn))*p2wpkhWitnessSize
	return (weight + 3) / 4
}
