package bitcoin

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// UTXO is a coin of the wallet: output Index of PrevTx, paying the P2WPKH
// address of the wallet's key at Path.
type UTXO struct {
	PrevTx *wire.MsgTx
	Index  uint32
	Path   Path
}

// BuildWithdrawal returns an unsigned PSBT that spends all of utxos, pays
// in.Amount to in.Destination and returns the rest, less a fee of feeRate
// satoshis per virtual byte, to the wallet's change address m/1/changeIndex.
// Change below its dust limit is left to the fee instead. Every input
// carries its previous transaction, its witness_utxo, SIGHASH_ALL and the
// BIP32 derivation of its key; the change output carries its derivation.
//
// It is for operators and tests: nodes trust no PSBT, this one included,
// and check it with [Rederive]. Errors are a [*Refusal] for an intent that
// Rederive would refuse, or wrap [ErrUTXO] for a coin the wallet cannot
// spend or [ErrFunds] when the coins do not cover amount and fee or the fee
// is over the intent's cap.
func BuildWithdrawal(in Intent, wallet Key, utxos []UTXO, changeIndex uint32, feeRate int64) ([]byte, error) {
	dest, r := in.check()
	if r != nil {
		return nil, r
	}
	if _, err := btcec.ParsePubKey(wallet.PublicKey[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if len(utxos) < 1 || len(utxos) > MaxInputs {
		return nil, fmt.Errorf("%w: %d coins, want 1..%d", ErrUTXO, len(utxos), MaxInputs)
	}
	if feeRate < 1 || feeRate > MaxSatoshi/(MaxInputs*1000) {
		return nil, fmt.Errorf("bitcoin: fee rate %d sat/vB is out of range", feeRate)
	}
	fp := Fingerprint(wallet.PublicKey)
	fingerprint := binary.LittleEndian.Uint32(fp[:])

	tx := wire.NewMsgTx(2)
	inputs := make([]psbt.PInput, len(utxos))
	seen := make(map[wire.OutPoint]bool, len(utxos))
	var total int64
	for i, u := range utxos {
		if u.PrevTx == nil || u.Index >= uint32(len(u.PrevTx.TxOut)) {
			return nil, fmt.Errorf("%w: coin %d: no output %d in its previous transaction", ErrUTXO, i, u.Index)
		}
		op := wire.OutPoint{Hash: u.PrevTx.TxHash(), Index: u.Index}
		if seen[op] {
			return nil, fmt.Errorf("%w: coin %d: %v given twice", ErrUTXO, i, op)
		}
		seen[op] = true
		spent := u.PrevTx.TxOut[u.Index]
		child, err := wallet.Derive(u.Path)
		if err != nil {
			return nil, fmt.Errorf("%w: coin %d: %w", ErrUTXO, i, err)
		}
		if !bytes.Equal(spent.PkScript, P2WPKHScript(child.PublicKey)) {
			return nil, fmt.Errorf("%w: coin %d: %v does not pay the wallet's key at %s", ErrUTXO, i, op, u.Path)
		}
		if err := checkValue(spent.Value); err != nil {
			return nil, fmt.Errorf("%w: coin %d: %v", ErrUTXO, i, err)
		}
		total += spent.Value
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op, Sequence: SequenceFinal})
		inputs[i] = psbt.PInput{
			NonWitnessUtxo: u.PrevTx.Copy(),
			WitnessUtxo:    wire.NewTxOut(spent.Value, bytes.Clone(spent.PkScript)),
			SighashType:    txscript.SigHashAll,
			Bip32Derivation: []*psbt.Bip32Derivation{{
				PubKey:               bytes.Clone(child.PublicKey[:]),
				MasterKeyFingerprint: fingerprint,
				Bip32Path:            child.Path,
			}},
		}
	}
	if total > MaxSatoshi {
		return nil, fmt.Errorf("%w: the coins add up to %d sats", ErrUTXO, total)
	}
	tx.AddTxOut(wire.NewTxOut(in.Amount, dest.pkScript))

	change, err := wallet.Derive(ChangePath(changeIndex))
	if err != nil {
		return nil, fmt.Errorf("bitcoin: change address: %w", err)
	}
	changeScript := P2WPKHScript(change.PublicKey)
	tx.AddTxOut(wire.NewTxOut(0, changeScript))
	fee := feeRate * estimateVSize(tx)
	changeValue := total - in.Amount - fee
	if changeValue >= DustLimit(changeScript) {
		tx.TxOut[1].Value = changeValue
	} else {
		tx.TxOut = tx.TxOut[:1]
		fee = total - in.Amount
		if need := feeRate * estimateVSize(tx); fee < need {
			return nil, fmt.Errorf("%w: %d sats of coins for %d sats and a fee of %d", ErrFunds, total, in.Amount, need)
		}
	}
	if fee > in.FeeCap {
		return nil, fmt.Errorf("%w: the fee would be %d sats, the intent's cap is %d", ErrFunds, fee, in.FeeCap)
	}

	p, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: PSBT: %w", err)
	}
	p.Inputs = inputs
	if len(tx.TxOut) == 2 {
		p.Outputs[1].Bip32Derivation = []*psbt.Bip32Derivation{{
			PubKey:               bytes.Clone(change.PublicKey[:]),
			MasterKeyFingerprint: fingerprint,
			Bip32Path:            change.Path,
		}}
	}
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("bitcoin: PSBT: %w", err)
	}
	return buf.Bytes(), nil
}
