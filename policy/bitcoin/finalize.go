package bitcoin

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Finalize returns the signed transaction, serialized with witnesses:
// sigs[i] is the signature of Digests[i] by Inputs[i]'s key, as the 32-byte
// big-endian r followed by the 32-byte s. A high s is replaced by n-s, as
// BIP146 requires; the signature stays valid.
//
// Each input is then run through btcd's script engine with standard
// verification flags against the output it spends; errors wrap
// [ErrSignature] and name the first input that fails. w is not modified.
func (w *Withdrawal) Finalize(sigs [][64]byte) ([]byte, error) {
	if len(sigs) != len(w.Inputs) || len(w.Inputs) != len(w.Tx.TxIn) {
		return nil, fmt.Errorf("%w: %d signatures for %d inputs", ErrSignature, len(sigs), len(w.Tx.TxIn))
	}
	if w.Tx.TxHash() != w.TxID {
		return nil, fmt.Errorf("%w: the transaction is not %v", ErrSignature, w.TxID)
	}
	tx := w.Tx.Copy()
	for i, input := range w.Inputs {
		if tx.TxIn[i].PreviousOutPoint != input.Outpoint || !bytes.Equal(P2WPKHScript(input.PublicKey), input.PkScript) {
			return nil, fmt.Errorf("%w: input %d does not match the transaction", ErrSignature, i)
		}
		var r, s btcec.ModNScalar
		if r.SetByteSlice(sigs[i][:32]) || r.IsZero() || s.SetByteSlice(sigs[i][32:]) || s.IsZero() {
			return nil, fmt.Errorf("%w: input %d: r or s is zero or not below the curve order", ErrSignature, i)
		}
		der := ecdsa.NewSignature(&r, &s).Serialize() // low s
		tx.TxIn[i].Witness = wire.TxWitness{append(der, byte(txscript.SigHashAll)), bytes.Clone(input.PublicKey[:])}
	}

	fetcher := prevOutFetcher(w.Inputs)
	sigHashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, input := range w.Inputs {
		vm, err := txscript.NewEngine(input.PkScript, tx, i, txscript.StandardVerifyFlags, nil, sigHashes, input.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: %v", ErrSignature, i, err)
		}
	}
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	if err := tx.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("bitcoin: serialize signed transaction: %w", err)
	}
	return buf.Bytes(), nil
}
