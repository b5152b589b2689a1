package ethereum

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/countersign/countersign/policy/chain"
)

// The first bytes of the unsigned transactions Rederive is sent.
const (
	// TypeDynamicFee is EIP-1559's transaction type: the only type an
	// account of the wallet signs.
	TypeDynamicFee = 0x02
	// TypeSafeTx marks this package's envelope of a Safe transaction
	// ('S'); it is not an EIP-2718 type and is never broadcast.
	TypeSafeTx = 0x53

	typeAccessList = 0x01 // EIP-2930
	typeBlob       = 0x03 // EIP-4844
	typeSetCode    = 0x04 // EIP-7702
)

// The field counts of the RLP lists.
const (
	dynamicFeeFields       = 9
	signedDynamicFeeFields = 12
	safeTxFields           = 12
)

// DynamicFeeTx is an unsigned EIP-1559 (type 2) transaction:
//
//	0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas,
//	             gasLimit, to, value, data, accessList])
//
// Its signing hash is the Keccak-256 digest of exactly those bytes
// ([DynamicFeeTx.SigningHash]).
type DynamicFeeTx struct {
	ChainID              chain.Amount
	Nonce                uint64
	MaxPriorityFeePerGas chain.Amount
	MaxFeePerGas         chain.Amount
	GasLimit             uint64
	// To is nil for a contract creation, which Rederive refuses.
	To         *Address
	Value      chain.Amount
	Data       []byte
	AccessList []AccessTuple
}

// AccessTuple is one entry of an EIP-2930 access list, which Rederive
// refuses unless empty.
type AccessTuple struct {
	Address     Address
	StorageKeys [][32]byte
}

// Unsigned returns the transaction's unsigned encoding, the bytes its
// signing hash is the digest of.
func (tx *DynamicFeeTx) Unsigned() []byte {
	return RLPList(tx.fields()...).Append([]byte{TypeDynamicFee})
}

// SigningHash returns the digest the sender signs:
// keccak256(0x02 || rlp([...9 fields])).
func (tx *DynamicFeeTx) SigningHash() Hash { return keccak256(tx.Unsigned()) }

// WorstCaseFee returns maxFeePerGas × gasLimit, the most the transaction
// can pay for gas, and false if it is not below 2^256.
func (tx *DynamicFeeTx) WorstCaseFee() (chain.Amount, bool) {
	return tx.MaxFeePerGas.Mul(chain.AmountOf(tx.GasLimit))
}

// signed returns the signed EIP-1559 transaction: the 9 fields then
// yParity, r and s as integers.
func (tx *DynamicFeeTx) signed(yParity byte, r, s [32]byte) []byte {
	fields := append(tx.fields(),
		RLPUint(uint64(yParity)),
		RLPBytes(bytes.TrimLeft(r[:], "\x00")),
		RLPBytes(bytes.TrimLeft(s[:], "\x00")))
	return RLPList(fields...).Append([]byte{TypeDynamicFee})
}

func (tx *DynamicFeeTx) fields() []RLP {
	to := RLPBytes(nil)
	if tx.To != nil {
		to = RLPBytes(bytes.Clone(tx.To[:]))
	}
	access := make([]RLP, len(tx.AccessList))
	for i, t := range tx.AccessList {
		keys := make([]RLP, len(t.StorageKeys))
		for j := range t.StorageKeys {
			keys[j] = RLPBytes(t.StorageKeys[j][:])
		}
		access[i] = RLPList(RLPBytes(bytes.Clone(t.Address[:])), RLPList(keys...))
	}
	return []RLP{
		RLPAmount(tx.ChainID),
		RLPUint(tx.Nonce),
		RLPAmount(tx.MaxPriorityFeePerGas),
		RLPAmount(tx.MaxFeePerGas),
		RLPUint(tx.GasLimit),
		to,
		RLPAmount(tx.Value),
		RLPBytes(tx.Data),
		RLPList(access...),
	}
}

// ParseDynamicFeeTx decodes an unsigned EIP-1559 transaction as Rederive
// does, and refuses what Rederive refuses of its encoding: another type,
// signature fields, non-canonical RLP or integers, integers over 256
// bits, a nonce above [MaxNonce], a gas limit over 64 bits. It does not
// judge what the transaction does. Every error is a [*chain.Refusal].
func ParseDynamicFeeTx(raw []byte) (*DynamicFeeTx, error) {
	tx, r := parseDynamicFeeTx(raw, false)
	if r != nil {
		return nil, r
	}
	return tx, nil
}

func parseDynamicFeeTx(raw []byte, safeWallet bool) (*DynamicFeeTx, *chain.Refusal) {
	if r := checkEnvelope(raw, TypeDynamicFee, safeWallet); r != nil {
		return nil, r
	}
	fields, r := decodeFields(raw[1:])
	if r != nil {
		return nil, r
	}
	switch len(fields) {
	case dynamicFeeFields:
	case signedDynamicFeeFields:
		return nil, refuse(RuleTxSigned, "the transaction carries signature fields (12 fields); only unsigned transactions are signed")
	default:
		return nil, refuse(RuleTxFieldCount, "the transaction's list has %d fields, want %d", len(fields), dynamicFeeFields)
	}
	tx, r := dynamicFeeFromFields(fields)
	if r != nil {
		return nil, r
	}
	if !bytes.Equal(tx.Unsigned(), raw) {
		return nil, refuse(RuleTxNonCanonical, "the transaction does not re-encode to the bytes sent")
	}
	return tx, nil
}

// signature is the signature fields of a signed EIP-1559 transaction.
type signature struct {
	yParity chain.Amount
	r, s    chain.Amount
}

// parseSignedDynamicFeeTx decodes a signed EIP-1559 transaction, for
// Finish to check what it assembled.
func parseSignedDynamicFeeTx(raw []byte) (*DynamicFeeTx, signature, error) {
	if len(raw) == 0 || raw[0] != TypeDynamicFee {
		return nil, signature{}, errors.New("not a type 2 transaction")
	}
	fields, r := decodeFields(raw[1:])
	if r != nil {
		return nil, signature{}, r
	}
	if len(fields) != signedDynamicFeeFields {
		return nil, signature{}, errors.New("not 12 fields")
	}
	tx, r := dynamicFeeFromFields(fields[:dynamicFeeFields])
	if r != nil {
		return nil, signature{}, r
	}
	var sig signature
	for i, dst := range []*chain.Amount{&sig.yParity, &sig.r, &sig.s} {
		a, err := fields[dynamicFeeFields+i].amount()
		if err != nil {
			return nil, signature{}, err
		}
		*dst = a
	}
	return tx, sig, nil
}

// checkEnvelope refuses an unsigned transaction that is too long, empty,
// or not of the type want.
func checkEnvelope(raw []byte, want byte, safeWallet bool) *chain.Refusal {
	if len(raw) > MaxTxSize {
		return refuse(RuleTxTooLarge, "the unsigned transaction is %d bytes, at most %d", len(raw), MaxTxSize)
	}
	if len(raw) == 0 {
		return refuse(RuleTxMalformed, "the unsigned transaction is empty")
	}
	switch t := raw[0]; {
	case t >= 0xc0:
		return refuse(RuleTxLegacy, "a legacy transaction (first byte 0x%02x): only EIP-1559 transactions (type 0x02) are signed", t)
	case t == typeAccessList:
		return refuse(RuleTxAccessListType, "an EIP-2930 transaction (type 0x01): only EIP-1559 transactions (type 0x02) are signed")
	case t == typeBlob:
		return refuse(RuleTxBlob, "an EIP-4844 blob transaction (type 0x03): only EIP-1559 transactions (type 0x02) are signed")
	case t == typeSetCode:
		return refuse(RuleTxSetCode, "an EIP-7702 set-code transaction (type 0x04), which would replace the account's code: never signed")
	case t != TypeDynamicFee && t != TypeSafeTx:
		return refuse(RuleTxTypeUnknown, "transaction type 0x%02x, want 0x%02x (EIP-1559) or 0x%02x (SafeTx)", t, TypeDynamicFee, TypeSafeTx)
	case t == TypeSafeTx && !safeWallet:
		return refuse(RuleSafeNone, "a SafeTx (0x53) for a wallet whose params name no Safe")
	case t == TypeDynamicFee && safeWallet:
		return refuse(RuleSafeExpected, "a transaction of type 0x02 for a wallet whose funds are in a Safe: want a SafeTx (0x53)")
	case t != want:
		return refuse(RuleTxTypeUnknown, "transaction type 0x%02x, want 0x%02x", t, want)
	}
	return nil
}

// decodeFields decodes body, which must be one RLP list.
func decodeFields(body []byte) ([]RLP, *chain.Refusal) {
	v, err := DecodeRLP(body)
	if err != nil {
		return nil, rlpRefusal("the transaction", err)
	}
	if !v.IsList {
		return nil, refuse(RuleTxMalformed, "the transaction is an RLP string, not a list")
	}
	return v.List, nil
}

// rlpRefusal maps a decoding error to its rule.
func rlpRefusal(what string, err error) *chain.Refusal {
	switch {
	case errors.Is(err, ErrRLPNonCanonical):
		return refuse(RuleTxNonCanonical, "%s: %v", what, err)
	case errors.Is(err, ErrIntRange):
		return refuse(RuleTxIntRange, "%s: %v", what, err)
	}
	return refuse(RuleTxMalformed, "%s: %v", what, err)
}

// dynamicFeeFromFields reads the 9 fields of an EIP-1559 transaction.
func dynamicFeeFromFields(f []RLP) (*DynamicFeeTx, *chain.Refusal) {
	tx := &DynamicFeeTx{}
	var err error
	if tx.ChainID, err = f[0].amount(); err != nil {
		return nil, rlpRefusal("chainId", err)
	}
	nonce, err := f[1].amount()
	if err != nil {
		return nil, rlpRefusal("nonce", err)
	}
	if tx.Nonce, err = nonceOf(nonce); err != nil {
		return nil, refuse(RuleTxNonceRange, "nonce %s is above %d", nonce, uint64(MaxNonce))
	}
	if tx.MaxPriorityFeePerGas, err = f[2].amount(); err != nil {
		return nil, rlpRefusal("maxPriorityFeePerGas", err)
	}
	if tx.MaxFeePerGas, err = f[3].amount(); err != nil {
		return nil, rlpRefusal("maxFeePerGas", err)
	}
	gas, err := f[4].amount()
	if err != nil {
		return nil, rlpRefusal("gasLimit", err)
	}
	var ok bool
	if tx.GasLimit, ok = gas.Uint64(); !ok {
		return nil, refuse(RuleTxGasLimit, "gas limit %s does not fit 64 bits", gas)
	}
	to, err := f[5].str()
	if err != nil {
		return nil, rlpRefusal("to", err)
	}
	switch len(to) {
	case 0:
	case AddressLen:
		a := Address(to)
		tx.To = &a
	default:
		return nil, refuse(RuleTxMalformed, "to is %d bytes, want %d (or none)", len(to), AddressLen)
	}
	if tx.Value, err = f[6].amount(); err != nil {
		return nil, rlpRefusal("value", err)
	}
	data, err := f[7].str()
	if err != nil {
		return nil, rlpRefusal("data", err)
	}
	tx.Data = bytes.Clone(data)
	if tx.AccessList, err = accessList(f[8]); err != nil {
		return nil, rlpRefusal("accessList", err)
	}
	return tx, nil
}

// nonceOf returns a as a nonce, or an error above MaxNonce.
func nonceOf(a chain.Amount) (uint64, error) {
	n, ok := a.Uint64()
	if !ok || n > MaxNonce {
		return 0, ErrIntRange
	}
	return n, nil
}

// accessList reads an EIP-2930 access list: a list of [address,
// [storageKey, ...]] tuples.
func accessList(v RLP) ([]AccessTuple, error) {
	if !v.IsList {
		return nil, fmt.Errorf("%w: the access list is a string", ErrRLPMalformed)
	}
	list := make([]AccessTuple, 0, len(v.List))
	for _, t := range v.List {
		if !t.IsList || len(t.List) != 2 || !t.List[1].IsList {
			return nil, fmt.Errorf("%w: an access tuple is not [address, [keys]]", ErrRLPMalformed)
		}
		a, err := t.List[0].address()
		if err != nil {
			return nil, err
		}
		tuple := AccessTuple{Address: a, StorageKeys: make([][32]byte, 0, len(t.List[1].List))}
		for _, k := range t.List[1].List {
			if k.IsList || len(k.Bytes) != 32 {
				return nil, fmt.Errorf("%w: a storage key is not 32 bytes", ErrRLPMalformed)
			}
			tuple.StorageKeys = append(tuple.StorageKeys, [32]byte(k.Bytes))
		}
		list = append(list, tuple)
	}
	return list, nil
}
