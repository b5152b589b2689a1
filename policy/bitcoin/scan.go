package bitcoin

import (
	"encoding/binary"
	"errors"
)

// scanPSBT walks the framing of a binary PSBT (BIP174) without decoding
// it: the magic, every key-value map, and the transactions inside (the
// global unsigned transaction and each input's non_witness_utxo). It
// refuses counts that the bytes left cannot hold and bytes left over.
//
// btcd's decoders allocate each count before reading what it counts, so a
// few bytes declaring a million inputs would cost hundreds of megabytes.
// After scanPSBT, what they allocate is bounded by a small multiple of the
// PSBT's length.
func scanPSBT(raw []byte) error {
	s := scanner{b: raw}
	if string(s.take(5)) != "psbt\xff" {
		return errors.New("no PSBT magic")
	}
	var nIn, nOut uint64
	haveTx := false
	err := s.walkMap(func(key, value []byte) error {
		if len(key) != 1 || key[0] != 0x00 { // PSBT_GLOBAL_UNSIGNED_TX
			return nil
		}
		if haveTx {
			return errors.New("two unsigned transactions")
		}
		haveTx = true
		var err error
		nIn, nOut, err = scanTx(value, false)
		return err
	})
	if err != nil {
		return err
	}
	if !haveTx {
		return errors.New("no unsigned transaction")
	}
	for range nIn {
		err := s.walkMap(func(key, value []byte) error {
			if len(key) == 1 && key[0] == 0x00 { // PSBT_IN_NON_WITNESS_UTXO
				_, _, err := scanTx(value, true)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for range nOut {
		if err := s.walkMap(func(key, value []byte) error { return nil }); err != nil {
			return err
		}
	}
	if s.failed {
		return errors.New("truncated")
	}
	if len(s.b) != 0 {
		return errors.New("bytes follow the PSBT")
	}
	return nil
}

// The least serialized sizes of a transaction's parts.
const (
	minTxInSize  = 32 + 4 + 1 + 4 // outpoint, empty script, sequence
	minTxOutSize = 8 + 1          // value, empty script
)

// scanTx walks a serialized transaction as btcd's MsgTx.Deserialize (with
// witness) or DeserializeNoWitness reads it, and returns its input and
// output counts. Bytes after the lock time are refused.
func scanTx(b []byte, witness bool) (nIn, nOut uint64, err error) {
	s := scanner{b: b}
	s.take(4) // version
	nIn = s.varint()
	segwit := false
	if witness && nIn == 0 && !s.failed {
		if flag := s.take(1); len(flag) == 1 && flag[0] != 0x01 {
			return 0, 0, errors.New("transaction: bad witness flag")
		}
		segwit = true
		nIn = s.varint()
	}
	if nIn > uint64(len(s.b))/minTxInSize {
		return 0, 0, errors.New("transaction: more inputs than bytes")
	}
	for range nIn {
		s.take(36)
		s.take(s.varint())
		s.take(4)
	}
	nOut = s.varint()
	if nOut > uint64(len(s.b))/minTxOutSize {
		return 0, 0, errors.New("transaction: more outputs than bytes")
	}
	for range nOut {
		s.take(8)
		s.take(s.varint())
	}
	if segwit {
		for range nIn {
			items := s.varint()
			if items > uint64(len(s.b)) {
				return 0, 0, errors.New("transaction: more witness items than bytes")
			}
			for range items {
				s.take(s.varint())
			}
		}
	}
	s.take(4) // lock time
	switch {
	case s.failed:
		return 0, 0, errors.New("transaction: truncated")
	case len(s.b) != 0:
		return 0, 0, errors.New("transaction: bytes follow it")
	}
	return nIn, nOut, nil
}

// scanner reads from b. Once a read runs past the end, failed is set and
// every later read returns nothing.
type scanner struct {
	b      []byte
	failed bool
}

// take returns the next n bytes.
func (s *scanner) take(n uint64) []byte {
	if s.failed || n > uint64(len(s.b)) {
		s.failed, s.b = true, nil
		return nil
	}
	out := s.b[:n]
	s.b = s.b[n:]
	return out
}

// varint returns the next CompactSize integer.
func (s *scanner) varint() uint64 {
	first := s.take(1)
	if len(first) == 0 {
		return 0
	}
	switch first[0] {
	case 0xfd:
		if b := s.take(2); len(b) == 2 {
			return uint64(binary.LittleEndian.Uint16(b))
		}
	case 0xfe:
		if b := s.take(4); len(b) == 4 {
			return uint64(binary.LittleEndian.Uint32(b))
		}
	case 0xff:
		if b := s.take(8); len(b) == 8 {
			return binary.LittleEndian.Uint64(b)
		}
	default:
		return uint64(first[0])
	}
	return 0
}

// walkMap calls f with each key-value pair of the next PSBT map, up to and
// including its 0x00 separator.
func (s *scanner) walkMap(f func(key, value []byte) error) error {
	for {
		keyLen := s.varint()
		if s.failed {
			return errors.New("truncated")
		}
		if keyLen == 0 {
			return nil
		}
		key := s.take(keyLen)
		value := s.take(s.varint())
		if s.failed {
			return errors.New("truncated")
		}
		if err := f(key, value); err != nil {
			return err
		}
	}
}
