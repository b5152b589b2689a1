package ethereum

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/countersign/countersign/policy/chain"
)

// safeVersions are the Safe (formerly Gnosis Safe) versions a wallet's
// params may name. Below v1.3.0 the EIP-712 domain has no chain id.
var safeVersions = [...]string{"1.1.1", "1.2.0", "1.3.0", "1.4.1", "1.5.0"}

// SafeVersions returns the Safe versions a wallet's params may name.
func SafeVersions() []string { return slices.Clone(safeVersions[:]) }

// legacyDomain reports whether Safe version v hashes SafeTxs under the
// domain EIP712Domain(address verifyingContract), without a chain id: a
// signature for one chain is valid on every chain where a Safe of the same
// address exists.
func legacyDomain(v string) bool { return v == "1.1.1" || v == "1.2.0" }

// The EIP-712 type hashes of Safe's contracts (safe-global/
// safe-smart-account contracts/GnosisSafe.sol v1.1.1 to v1.3.0,
// contracts/Safe.sol from v1.4.0). The tests check each against the
// Keccak-256 digest of its type string.
var (
	// keccak256("SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"),
	// the same from v1.0.0 to v1.5.0.
	safeTxTypehash = mustHash("bb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8")
	// keccak256("EIP712Domain(address verifyingContract)"), v1.1.1 and v1.2.0.
	safeLegacyDomainTypehash = mustHash("035aff83d86937d35b32e04f0ddc6ff469290eef2f1b692d8a815c89404d4749")
	// keccak256("EIP712Domain(uint256 chainId,address verifyingContract)"), from v1.3.0.
	safeDomainTypehash = mustHash("47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218")
)

// SafeTx is a Safe transaction as execTransaction takes it, with the Safe
// and the chain it is for. The backend sends it to Rederive as
//
//	0x53 || rlp([safe, chainId, to, value, data, operation, safeTxGas,
//	             baseGas, gasPrice, gasToken, refundReceiver, nonce])
//
// in canonical RLP: addresses are 20-byte strings (the zero address is 20
// zero bytes), integers are big-endian without leading zeros, data is a
// string. The owner signs [SafeTx.Hash], which the node computes itself.
type SafeTx struct {
	Safe           Address
	ChainID        chain.Amount
	To             Address
	Value          chain.Amount
	Data           []byte
	Operation      chain.Amount // 0 CALL, 1 DELEGATECALL
	SafeTxGas      chain.Amount
	BaseGas        chain.Amount
	GasPrice       chain.Amount
	GasToken       Address
	RefundReceiver Address
	Nonce          chain.Amount
}

// Encode returns the SafeTx in the format Rederive reads.
func (s *SafeTx) Encode() []byte {
	addr := func(a Address) RLP { return RLPBytes(bytes.Clone(a[:])) }
	return RLPList(
		addr(s.Safe),
		RLPAmount(s.ChainID),
		addr(s.To),
		RLPAmount(s.Value),
		RLPBytes(s.Data),
		RLPAmount(s.Operation),
		RLPAmount(s.SafeTxGas),
		RLPAmount(s.BaseGas),
		RLPAmount(s.GasPrice),
		addr(s.GasToken),
		addr(s.RefundReceiver),
		RLPAmount(s.Nonce),
	).Append([]byte{TypeSafeTx})
}

// StructHash returns EIP-712's hashStruct of the SafeTx: the Keccak-256
// digest of the SafeTx type hash and the ten fields, each as a 32-byte word,
// data as its Keccak-256 digest.
func (s *SafeTx) StructHash() Hash {
	dataHash := keccak256(s.Data)
	words := []word{
		word(safeTxTypehash),
		addressWord(s.To),
		amountWord(s.Value),
		word(dataHash),
		amountWord(s.Operation),
		amountWord(s.SafeTxGas),
		amountWord(s.BaseGas),
		amountWord(s.GasPrice),
		addressWord(s.GasToken),
		addressWord(s.RefundReceiver),
		amountWord(s.Nonce),
	}
	return hashWords(words...)
}

// SafeDomainSeparator returns the EIP-712 domain separator of the Safe at
// safe, of the version given, on chain chainID (which versions below
// v1.3.0 leave out).
func SafeDomainSeparator(version string, chainID chain.Amount, safe Address) (Hash, error) {
	if !slices.Contains(safeVersions[:], version) {
		return Hash{}, fmt.Errorf("ethereum: Safe version %s, want one of %v", quote(version), safeVersions)
	}
	if legacyDomain(version) {
		return hashWords(word(safeLegacyDomainTypehash), addressWord(safe)), nil
	}
	return hashWords(word(safeDomainTypehash), amountWord(chainID), addressWord(safe)), nil
}

// Hash returns the SafeTx hash that owners sign for a Safe of the given
// version: keccak256(0x19 || 0x01 || domainSeparator || structHash).
func (s *SafeTx) Hash(version string) (Hash, error) {
	domain, err := SafeDomainSeparator(version, s.ChainID, s.Safe)
	if err != nil {
		return Hash{}, err
	}
	h := s.StructHash()
	return keccak256([]byte{0x19, 0x01}, domain[:], h[:]), nil
}

func hashWords(words ...word) Hash {
	b := make([]byte, 0, 32*len(words))
	for _, w := range words {
		b = append(b, w[:]...)
	}
	return keccak256(b)
}

// ParseSafeTx decodes a SafeTx as Rederive does, and refuses what Rederive
// refuses of its encoding. It does not judge what the SafeTx does. Every
// error is a [*chain.Refusal].
func ParseSafeTx(raw []byte) (*SafeTx, error) {
	s, r := parseSafeTx(raw)
	if r != nil {
		return nil, r
	}
	return s, nil
}

func parseSafeTx(raw []byte) (*SafeTx, *chain.Refusal) {
	if r := checkEnvelope(raw, TypeSafeTx, true); r != nil {
		return nil, r
	}
	f, r := decodeFields(raw[1:])
	if r != nil {
		return nil, r
	}
	if len(f) != safeTxFields {
		return nil, refuse(RuleTxFieldCount, "the SafeTx's list has %d fields, want %d", len(f), safeTxFields)
	}
	s := &SafeTx{}
	var err error
	var data []byte
	fail := func(field string) (*SafeTx, *chain.Refusal) { return nil, rlpRefusal(field, err) }
	if s.Safe, err = f[0].address(); err != nil {
		return fail("safe")
	}
	if s.ChainID, err = f[1].amount(); err != nil {
		return fail("chainId")
	}
	if s.To, err = f[2].address(); err != nil {
		return fail("to")
	}
	if s.Value, err = f[3].amount(); err != nil {
		return fail("value")
	}
	if data, err = f[4].str(); err != nil {
		return fail("data")
	}
	s.Data = bytes.Clone(data)
	if s.Operation, err = f[5].amount(); err != nil {
		return fail("operation")
	}
	if s.SafeTxGas, err = f[6].amount(); err != nil {
		return fail("safeTxGas")
	}
	if s.BaseGas, err = f[7].amount(); err != nil {
		return fail("baseGas")
	}
	if s.GasPrice, err = f[8].amount(); err != nil {
		return fail("gasPrice")
	}
	if s.GasToken, err = f[9].address(); err != nil {
		return fail("gasToken")
	}
	if s.RefundReceiver, err = f[10].address(); err != nil {
		return fail("refundReceiver")
	}
	if s.Nonce, err = f[11].amount(); err != nil {
		return fail("nonce")
	}
	if _, err := nonceOf(s.Nonce); err != nil {
		return nil, refuse(RuleTxNonceRange, "Safe nonce %s is above %d", s.Nonce, uint64(MaxNonce))
	}
	if !bytes.Equal(s.Encode(), raw) {
		return nil, refuse(RuleTxNonCanonical, "the SafeTx does not re-encode to the bytes sent")
	}
	return s, nil
}

// MultiSend returns the name of the canonical deployment of Safe's
// MultiSend or MultiSendCallOnly contract at a, and false if there is
// none. Batching calls through them hides what a SafeTx does, so a
// withdrawal never calls them.
func MultiSend(a Address) (string, bool) {
	name, ok := multiSendDeployments[a]
	return name, ok
}

// multiSendDeployments are the canonical deployments of MultiSend and
// MultiSendCallOnly (safe-global/safe-deployments
// src/assets/v*/multi_send*.json).
var multiSendDeployments = map[Address]string{
	mustAddress("0xD4B7B161E4779629C2717385114Bf78D612aEa72"): "MultiSend v1.0.0",
	mustAddress("0x8D29bE29923b68abfDD21e541b9374737B49cdAD"): "MultiSend v1.1.1",
	mustAddress("0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761"): "MultiSend v1.3.0",
	mustAddress("0x998739BFdAAdde7C933B942a68053933098f9EDa"): "MultiSend v1.3.0 (eip155)",
	mustAddress("0x0dFcccB95225ffB03c6FBB2559B530C2B7C8A912"): "MultiSend v1.3.0 (zksync)",
	mustAddress("0x40A2aCCbd92BCA938b02010E17A5b8929b49130D"): "MultiSendCallOnly v1.3.0",
	mustAddress("0xA1dabEF33b3B82c7814B6D82A79e50F4AC44102B"): "MultiSendCallOnly v1.3.0 (eip155)",
	mustAddress("0xf220D3b4DFb23C4ade8C88E526C1353AbAcbC38F"): "MultiSendCallOnly v1.3.0 (zksync)",
	mustAddress("0x38869bf66a61cF6bDB996A6aE40D5853Fd43B526"): "MultiSend v1.4.1",
	mustAddress("0x9641d764fc13c8B624c04430C7356C1C7C8102e2"): "MultiSendCallOnly v1.4.1",
	mustAddress("0x218543288004CD07832472D464648173c77D7eB7"): "MultiSend v1.5.0",
	mustAddress("0xA83c336B20401Af773B6219BA5027174338D1836"): "MultiSendCallOnly v1.5.0",
}

// mustAddress is ParseAddress for constants: it panics unless s is
// spelled in EIP-55, so a constant mistyped by one letter fails at once.
func mustAddress(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

func mustHash(s string) Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		panic("ethereum: bad hash constant " + s)
	}
	return Hash(b)
}
