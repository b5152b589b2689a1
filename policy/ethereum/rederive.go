package ethereum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
)

// Chain is Ethereum's [chain.Chain], for package chains' registry. It
// has no state: the zero value is ready.
type Chain struct{}

var _ chain.Chain = Chain{}

// Name returns "ethereum".
func (Chain) Name() string { return Name }

// Scheme returns [chain.ECDSASecp256k1].
func (Chain) Scheme() chain.Scheme { return chain.ECDSASecp256k1 }

// ParseParams is the package's [ParseParams].
func (Chain) ParseParams(network string, raw json.RawMessage) (chain.Params, error) {
	p, r := parseParams(network, raw)
	if r != nil {
		return nil, r
	}
	return p, nil
}

// CheckIntent is the package's [CheckIntent]; p must come from
// ParseParams.
func (Chain) CheckIntent(in chain.Intent, p chain.Params) error {
	if p == nil {
		if r := checkShape(in); r != nil {
			return r
		}
		return nil
	}
	pp, r := params(p)
	if r != nil {
		return r
	}
	if _, r := checkIntent(in, pp); r != nil {
		return r
	}
	return nil
}

// Rederive decodes the unsigned transaction of a withdrawal, checks that
// it does exactly what the intent asks within p and lim, from the
// wallet's account at the params' account_path (or, for a Safe, as that
// key's owner signature), and returns what it does and the one digest to
// sign. Nothing the request claims about itself is trusted: the node
// derives the account, computes the digest, and compares the call, its
// calldata and its fees field by field with the intent.
//
// Every error is a [*chain.Refusal]; see [Rule] for the checks and their
// order.
func (Chain) Rederive(in chain.Intent, unsignedTx []byte, wallet chain.Key, p chain.Params, lim chain.Limits) (*chain.Tx, error) {
	tx, r := rederive(in, unsignedTx, wallet, p, lim)
	if r != nil {
		return nil, r
	}
	return tx, nil
}

// Address returns the EIP-55 address of the wallet's key at path.
func (Chain) Address(wallet chain.Key, network string, path bip32.Path) (string, error) {
	if _, ok := networkChainIDs[network]; !ok && network != DevNetwork {
		return "", fmt.Errorf("ethereum: network %s, want mainnet, sepolia, holesky or dev", quote(network))
	}
	acct, r := deriveAccount(wallet, path)
	if r != nil {
		return "", r
	}
	return acct.address.String(), nil
}

// AddressKey returns the 20 bytes of an address on network, spelled as
// EIP-55 allows (all lower case, all upper case, or the checksum's casing,
// after "0x"): allowlists match by all 20 bytes, so a look-alike that
// shares the first and last digits never matches. A mixed-case spelling
// with a wrong checksum, or an unknown network, is an error.
func (Chain) AddressKey(network, address string) (string, error) {
	if _, ok := networkChainIDs[network]; !ok && network != DevNetwork {
		return "", fmt.Errorf("ethereum: network %s, want mainnet, sepolia, holesky or dev", quote(network))
	}
	a, ok := parseAddressLoose(address)
	if !ok {
		return "", fmt.Errorf("%w: %s is not an Ethereum address in EIP-55, lower or upper case", ErrAddress, quote(address))
	}
	return string(a[:]), nil
}

func params(p chain.Params) (*Params, *chain.Refusal) {
	pp, ok := p.(*Params)
	if !ok || !pp.valid() {
		return nil, refuse(RuleParamsInvalid, "the params (%T) were not made by ethereum.ParseParams", p)
	}
	return pp, nil
}

// account is the wallet's key that signs: the sending account, or a
// Safe's owner.
type account struct {
	child   bip32.Child
	pub     *btcec.PublicKey
	address Address
}

func deriveAccount(wallet chain.Key, path bip32.Path) (*account, *chain.Refusal) {
	if wallet.Scheme != chain.ECDSASecp256k1 || len(wallet.PublicKey) != 33 {
		return nil, refuse(RuleWalletKey, "the wallet's key is %s of %d bytes, want %s of 33", quote(string(wallet.Scheme)), len(wallet.PublicKey), chain.ECDSASecp256k1)
	}
	root := bip32.Key{PublicKey: [33]byte(wallet.PublicKey), ChainCode: wallet.ChainCode}
	child, err := root.Derive(path)
	if errors.Is(err, bip32.ErrBadKey) {
		return nil, refuse(RuleWalletKey, "the wallet's root key: %v", err)
	}
	if err != nil {
		return nil, refuse(RuleWalletAccountPath, "the wallet's key at %s: %v", path, err)
	}
	pub, err := btcec.ParsePubKey(child.PublicKey[:])
	if err != nil { // Derive returns points on the curve
		return nil, refuse(RuleWalletAccountPath, "the wallet's key at %s: %v", path, err)
	}
	return &account{child: child, pub: pub, address: keyAddress(pub)}, nil
}

func rederive(in chain.Intent, raw []byte, wallet chain.Key, p chain.Params, lim chain.Limits) (*chain.Tx, *chain.Refusal) {
	if lim.MaxFee.Sign() <= 0 {
		return nil, refuse(RuleLimitsInvalid, "Limits.MaxFee is 0")
	}
	pp, r := params(p)
	if r != nil {
		return nil, r
	}
	if pp.safe != nil && pp.safe.LegacyDomain() && !pp.safe.AcceptLegacyDomain {
		return nil, refuse(RuleSafeLegacyDomain, "Safe v%s without accept_legacy_domain", pp.safe.Version)
	}
	acct, r := deriveAccount(wallet, pp.accountPath)
	if r != nil {
		return nil, r
	}
	pm, r := checkIntent(in, pp)
	if r != nil {
		return nil, r
	}
	if pp.safe != nil {
		return rederiveSafe(pm, raw, acct, pp)
	}
	return rederiveTransfer(pm, raw, acct, pp, lim)
}

// rederiveTransfer re-derives a withdrawal sent from the wallet's own
// account as an EIP-1559 transaction.
func rederiveTransfer(pm *payment, raw []byte, acct *account, p *Params, lim chain.Limits) (*chain.Tx, *chain.Refusal) {
	tx, r := parseDynamicFeeTx(raw, false)
	if r != nil {
		return nil, r
	}
	if tx.To == nil {
		return nil, refuse(RuleTxContractCreation, "the transaction has no \"to\": it would create a contract")
	}
	if len(tx.AccessList) != 0 {
		return nil, refuse(RuleTxAccessList, "the transaction carries an access list of %d entries; only an empty one is signed", len(tx.AccessList))
	}
	if !tx.ChainID.Equal(chain.AmountOf(p.chainID)) {
		return nil, refuse(RuleTxChainID, "chain id %s, the wallet's is %d (%s)", tx.ChainID, p.chainID, p.network)
	}
	if r := checkCall(pm, *tx.To, tx.Value, tx.Data); r != nil {
		return nil, r
	}
	if tx.MaxPriorityFeePerGas.Cmp(tx.MaxFeePerGas) > 0 {
		return nil, refuse(RuleTxPriorityFee, "maxPriorityFeePerGas %s wei is above maxFeePerGas %s wei", tx.MaxPriorityFeePerGas, tx.MaxFeePerGas)
	}
	if tx.GasLimit < MinGasLimit || tx.GasLimit > p.maxGasLimit {
		return nil, refuse(RuleTxGasLimit, "gas limit %d, want %d..%d (the params' max_gas_limit)", tx.GasLimit, MinGasLimit, p.maxGasLimit)
	}
	fee, ok := tx.WorstCaseFee()
	switch {
	case !ok:
		return nil, refuse(RuleFeeOverIntent, "the worst-case fee %s × %d overflows 2^256", tx.MaxFeePerGas, tx.GasLimit)
	case fee.Cmp(pm.in.FeeCap) > 0:
		return nil, refuse(RuleFeeOverIntent, "the worst-case fee is %s wei (%s × %d gas), the intent's cap %s", fee, tx.MaxFeePerGas, tx.GasLimit, pm.in.FeeCap)
	case fee.Cmp(lim.MaxFee) > 0:
		return nil, refuse(RuleFeeOverPolicy, "the worst-case fee is %s wei, the policy's cap %s", fee, lim.MaxFee)
	}
	outflow := chain.Amounts{NativeAsset: fee}
	if pm.token == nil {
		total, _ := fee.Add(pm.in.Amount) // fee ≤ FeeCap, and checkIntent checked Amount + FeeCap
		outflow[NativeAsset] = total
	} else {
		outflow[pm.asset()] = pm.in.Amount
	}

	hash := tx.SigningHash()
	unsigned := *tx
	return &chain.Tx{
		ID:       hash.String(),
		Fee:      fee,
		FeeAsset: NativeAsset,
		Outflow:  outflow,
		Sign:     []chain.SignItem{signItem(hash, acct)},
		Nonce: &chain.NonceUse{
			Account:     "ethereum:" + strconv.FormatUint(p.chainID, 10) + ":" + acct.address.Lower(),
			Nonce:       tx.Nonce,
			First:       p.firstNonce,
			Replaceable: p.allowReplacement,
			Fee:         fee,
		},
		Facts:  transferFacts(pm, tx, fee, acct, p),
		Vars:   vars(pm, tx.Nonce, tx.GasLimit, p, false),
		Finish: finishTransfer(&unsigned, hash, acct),
	}, nil
}

// rederiveSafe re-derives a withdrawal from the wallet's Safe, which the
// wallet's key co-signs as one owner.
func rederiveSafe(pm *payment, raw []byte, acct *account, p *Params) (*chain.Tx, *chain.Refusal) {
	s, r := parseSafeTx(raw)
	if r != nil {
		return nil, r
	}
	safe := p.safe
	if s.Safe != safe.Address {
		return nil, refuse(RuleSafeAddress, "the SafeTx is for Safe %s, the wallet's is %s", s.Safe, safe.Address)
	}
	if !s.ChainID.Equal(chain.AmountOf(p.chainID)) {
		return nil, refuse(RuleTxChainID, "chain id %s, the wallet's is %d (%s)", s.ChainID, p.chainID, p.network)
	}
	if !s.Operation.IsZero() {
		what := "an unknown operation"
		if s.Operation.Equal(chain.AmountOf(1)) {
			what = "DELEGATECALL, which runs the target's code as the Safe (the Bybit attack)"
		}
		return nil, refuse(RuleSafeOperation, "operation %s is %s; only 0 (CALL) is signed", s.Operation, what)
	}
	switch {
	case !s.BaseGas.IsZero():
		return nil, refuse(RuleSafeRefund, "baseGas is %s: the Safe would refund gas; want 0", s.BaseGas)
	case !s.GasPrice.IsZero():
		return nil, refuse(RuleSafeRefund, "gasPrice is %s: the Safe would refund gas; want 0", s.GasPrice)
	case !s.GasToken.IsZero():
		return nil, refuse(RuleSafeRefund, "gasToken is %s: the Safe would refund gas in a token; want the zero address", s.GasToken)
	case !s.RefundReceiver.IsZero():
		return nil, refuse(RuleSafeRefund, "refundReceiver is %s: the Safe would pay it; want the zero address", s.RefundReceiver)
	}
	if s.SafeTxGas.Cmp(chain.AmountOf(safe.MaxSafeTxGas)) > 0 {
		return nil, refuse(RuleSafeTxGas, "safeTxGas %s is above the Safe's max_safe_tx_gas %d", s.SafeTxGas, safe.MaxSafeTxGas)
	}
	if s.To == safe.Address {
		return nil, refuse(RuleSafeSelfCall, "the SafeTx calls the Safe itself, which changes its owners, threshold, modules, guard, fallback handler or singleton")
	}
	if what, ok := multiSendDeployments[s.To]; ok {
		return nil, refuse(RuleSafeMultiSend, "the SafeTx calls %s (%s), which batches calls out of sight", s.To, what)
	}
	if r := checkCall(pm, s.To, s.Value, s.Data); r != nil {
		return nil, r
	}

	hash, err := s.Hash(safe.Version)
	if err != nil { // the version is checked by ParseParams
		return nil, refuse(RuleParamsInvalid, "%v", err)
	}
	nonce, _ := s.Nonce.Uint64()   // at most MaxNonce, checked by parseSafeTx
	gas, _ := s.SafeTxGas.Uint64() // at most MaxGasLimit, checked above
	return &chain.Tx{
		ID:       hash.String(),
		Fee:      chain.Amount{},
		FeeAsset: NativeAsset,
		Outflow:  chain.Amounts{pm.asset(): pm.in.Amount},
		Sign:     []chain.SignItem{signItem(hash, acct)},
		Nonce: &chain.NonceUse{
			Account: "safe:" + strconv.FormatUint(p.chainID, 10) + ":" + safe.Address.Lower(),
			Nonce:   nonce,
			First:   safe.FirstNonce,
			// A SafeTx pays no gas of its own (refund fields are refused),
			// so there is no fee to raise: a Safe nonce is never taken over.
			Replaceable: false,
			Fee:         chain.Amount{},
		},
		Facts:  safeFacts(pm, s, nonce, acct, p),
		Vars:   vars(pm, nonce, gas, p, true),
		Finish: finishSafe(hash, acct),
	}, nil
}

// signItem returns the one message of a withdrawal: the digest, signed
// by the account's key.
func signItem(hash Hash, acct *account) chain.SignItem {
	return chain.SignItem{
		Message:   bytes.Clone(hash[:]),
		Path:      acct.child.Path,
		Tweak:     acct.child.Tweak,
		PublicKey: bytes.Clone(acct.child.PublicKey[:]),
	}
}

// The ERC-20 function selectors: the first 4 bytes of the Keccak-256
// digest of the function's signature.
var (
	transferSelector = [4]byte{0xa9, 0x05, 0x9c, 0xbb} // transfer(address,uint256)
	// selectorNames names selectors that move or unlock tokens otherwise
	// than transfer does: how Radiant Capital was drained.
	selectorNames = map[[4]byte]string{
		{0x09, 0x5e, 0xa7, 0xb3}: "approve(address,uint256)",
		{0x39, 0x50, 0x93, 0x51}: "increaseAllowance(address,uint256)",
		{0xa4, 0x57, 0xc2, 0xd7}: "decreaseAllowance(address,uint256)",
		{0x23, 0xb8, 0x72, 0xdd}: "transferFrom(address,address,uint256)",
		{0xd5, 0x05, 0xac, 0xcf}: "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)",
		{0xa2, 0x2c, 0xb4, 0x65}: "setApprovalForAll(address,bool)",
	}
)

// checkCall checks that a call (a transaction's, or a SafeTx's inner
// one) is exactly the intent's payment: ETH to the destination with no
// calldata, or the token contract's transfer(destination, amount) with no
// ETH.
func checkCall(pm *payment, to Address, value chain.Amount, data []byte) *chain.Refusal {
	in := pm.in
	if pm.token == nil {
		switch {
		case to != pm.dest:
			return refuse(RuleTxTo, "the transaction pays %s, the intent's destination is %s", to, pm.dest)
		case !value.Equal(in.Amount):
			return refuse(RuleTxValue, "the transaction pays %s wei, the intent says %s", value, in.Amount)
		case len(data) != 0:
			return refuse(RuleDataNonEmpty, "an ETH transfer carries %d bytes of calldata; want none", len(data))
		}
		return nil
	}
	t := pm.token
	switch {
	case to != t.Contract:
		return refuse(RuleTxTo, "the transaction calls %s, not %s's registered contract %s", to, t.Symbol, t.Contract)
	case !value.IsZero():
		return refuse(RuleTxTokenValue, "a %s transfer also sends %s wei of ETH; want 0", t.Symbol, value)
	case len(data) < 4:
		return refuse(RuleDataLength, "calldata of %d bytes has no function selector; want %d bytes of transfer(address,uint256)", len(data), TransferCalldataLen)
	}
	if sel := [4]byte(data[:4]); sel != transferSelector {
		if name, ok := selectorNames[sel]; ok {
			return refuse(RuleDataSelector, "calldata calls %s (%x), not transfer(address,uint256) (a9059cbb)", name, sel)
		}
		return refuse(RuleDataSelector, "calldata calls selector %x, not transfer(address,uint256) (a9059cbb)", sel)
	}
	if len(data) != TransferCalldataLen {
		return refuse(RuleDataLength, "transfer calldata is %d bytes, want exactly %d", len(data), TransferCalldataLen)
	}
	if hi := data[4:16]; !allZero(hi) {
		return refuse(RuleDataAddressWord, "the recipient's word has non-zero high bytes %x: a lenient decoder reads another address than the contract may", hi)
	}
	if to := Address(data[16:36]); to != pm.dest {
		return refuse(RuleDataRecipient, "the transfer pays %s, the intent's destination is %s", to, pm.dest)
	}
	amount, _ := chain.AmountFromBig(bigFromBytes(data[36:68])) // 256 bits
	if !amount.Equal(in.Amount) {
		return refuse(RuleDataAmount, "the transfer pays %s base units of %s, the intent says %s", amount, t.Symbol, in.Amount)
	}
	return nil
}

// TransferCalldata returns the calldata of ERC-20 transfer(to, amount):
// the selector a9059cbb, to left-padded to 32 bytes, amount as a 32-byte
// word.
func TransferCalldata(to Address, amount chain.Amount) []byte {
	w1, w2 := addressWord(to), amountWord(amount)
	b := make([]byte, 0, TransferCalldataLen)
	b = append(b, transferSelector[:]...)
	b = append(b, w1[:]...)
	return append(b, w2[:]...)
}

// vars returns the chain's variables for CEL rules.
func vars(pm *payment, nonce, gas uint64, p *Params, safe bool) map[string]any {
	contract := ""
	if pm.token != nil {
		contract = pm.token.Contract.String()
	}
	return map[string]any{
		"nonce":          int64(nonce), // at most MaxNonce
		"gas_limit":      int64(gas),   // at most MaxGasLimit
		"chain_id":       int64(p.chainID),
		"safe":           safe,
		"token_contract": contract,
	}
}
