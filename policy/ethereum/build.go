package ethereum

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/countersign/countersign/policy/chain"
)

// ErrBuild reports a withdrawal the builders will not make because
// Rederive would refuse it: fees or gas out of range, or the wrong
// builder for the wallet.
var ErrBuild = errors.New("ethereum: cannot build the withdrawal")

// BuildTransfer returns the unsigned EIP-1559 transaction that pays in
// from the wallet's own account: ETH to the destination, or the token
// contract's transfer(destination, amount). It is for operators and
// tests: nodes trust no transaction, this one included, and check it
// with Rederive, which accepts it unless the nonce is already used.
//
// Errors are the [*chain.Refusal] Rederive would return for the intent,
// or wrap [ErrBuild].
func BuildTransfer(p *Params, in chain.Intent, nonce uint64, maxPriorityFee, maxFee chain.Amount, gasLimit uint64) ([]byte, error) {
	if !p.valid() {
		return nil, refuse(RuleParamsInvalid, "the params were not made by ParseParams")
	}
	if p.safe != nil {
		return nil, fmt.Errorf("%w: the wallet's funds are in Safe %s: use BuildSafeTx", ErrBuild, p.safe.Address)
	}
	pm, r := checkIntent(in, p)
	if r != nil {
		return nil, r
	}
	to, value, data := pm.call()
	tx := &DynamicFeeTx{
		ChainID:              chain.AmountOf(p.chainID),
		Nonce:                nonce,
		MaxPriorityFeePerGas: maxPriorityFee,
		MaxFeePerGas:         maxFee,
		GasLimit:             gasLimit,
		To:                   &to,
		Value:                value,
		Data:                 data,
	}
	fee, ok := tx.WorstCaseFee()
	switch {
	case nonce > MaxNonce:
		return nil, fmt.Errorf("%w: nonce %d is above %d", ErrBuild, nonce, uint64(MaxNonce))
	case maxPriorityFee.Cmp(maxFee) > 0:
		return nil, fmt.Errorf("%w: the priority fee %s is above the max fee %s", ErrBuild, maxPriorityFee, maxFee)
	case gasLimit < MinGasLimit || gasLimit > p.maxGasLimit:
		return nil, fmt.Errorf("%w: gas limit %d, want %d..%d", ErrBuild, gasLimit, MinGasLimit, p.maxGasLimit)
	case !ok || fee.Cmp(in.FeeCap) > 0:
		return nil, fmt.Errorf("%w: the worst-case fee %s × %d is above the intent's cap %s", ErrBuild, maxFee, gasLimit, in.FeeCap)
	}
	return tx.Unsigned(), nil
}

// BuildSafeTx returns the SafeTx that pays in from the wallet's Safe, in
// the format Rederive reads: a CALL of the destination with the amount in
// ETH, or of the token contract's transfer(destination, amount), with no
// gas refund. Errors are as [BuildTransfer]'s.
func BuildSafeTx(p *Params, in chain.Intent, nonce uint64, safeTxGas uint64) ([]byte, error) {
	if !p.valid() {
		return nil, refuse(RuleParamsInvalid, "the params were not made by ParseParams")
	}
	if p.safe == nil {
		return nil, fmt.Errorf("%w: the params name no Safe: use BuildTransfer", ErrBuild)
	}
	pm, r := checkIntent(in, p)
	if r != nil {
		return nil, r
	}
	switch {
	case nonce > MaxNonce:
		return nil, fmt.Errorf("%w: Safe nonce %d is above %d", ErrBuild, nonce, uint64(MaxNonce))
	case safeTxGas > p.safe.MaxSafeTxGas:
		return nil, fmt.Errorf("%w: safeTxGas %d is above the Safe's max_safe_tx_gas %d", ErrBuild, safeTxGas, p.safe.MaxSafeTxGas)
	}
	to, value, data := pm.call()
	s := &SafeTx{
		Safe:      p.safe.Address,
		ChainID:   chain.AmountOf(p.chainID),
		To:        to,
		Value:     value,
		Data:      data,
		SafeTxGas: chain.AmountOf(safeTxGas),
		Nonce:     chain.AmountOf(nonce),
	}
	return s.Encode(), nil
}

// call returns the call that makes the payment.
func (pm *payment) call() (to Address, value chain.Amount, data []byte) {
	if pm.token == nil {
		return pm.dest, pm.in.Amount, []byte{}
	}
	return pm.token.Contract, chain.Amount{}, TransferCalldata(pm.dest, pm.in.Amount)
}

// Describe decodes an unsigned transaction (EIP-1559 or SafeTx) as
// Rederive does and lists its fields for people, without an intent or
// params to judge it by: for operators and for showing officers what a
// refused request held. Fields Rederive would refuse whatever the intent
// are marked Risk. Errors are the [*chain.Refusal] of the encoding.
func Describe(raw []byte) ([]chain.Fact, error) {
	if len(raw) > 0 && raw[0] == TypeSafeTx {
		s, r := parseSafeTx(raw)
		if r != nil {
			return nil, r
		}
		return []chain.Fact{
			{Label: "Type", Value: "SafeTx (0x53)"},
			{Label: "Safe", Value: s.Safe.String()},
			{Label: "Chain id", Value: s.ChainID.String()},
			{Label: "To", Value: s.To.String(), Risk: isMultiSend(s.To) || s.To == s.Safe},
			{Label: "Value", Value: eth(s.Value)},
			{Label: "Data", Value: describeData(s.Data)},
			{Label: "Operation", Value: operationName(s.Operation), Risk: !s.Operation.IsZero()},
			{Label: "safeTxGas", Value: s.SafeTxGas.String()},
			{Label: "baseGas", Value: s.BaseGas.String(), Risk: !s.BaseGas.IsZero()},
			{Label: "gasPrice", Value: s.GasPrice.String(), Risk: !s.GasPrice.IsZero()},
			{Label: "gasToken", Value: s.GasToken.String(), Risk: !s.GasToken.IsZero()},
			{Label: "refundReceiver", Value: s.RefundReceiver.String(), Risk: !s.RefundReceiver.IsZero()},
			{Label: "Safe nonce", Value: s.Nonce.String()},
		}, nil
	}
	tx, r := parseDynamicFeeTx(raw, false)
	if r != nil {
		return nil, r
	}
	to := "none: creates a contract"
	if tx.To != nil {
		to = tx.To.String()
	}
	return []chain.Fact{
		{Label: "Type", Value: "EIP-1559 (0x02)"},
		{Label: "Chain id", Value: tx.ChainID.String()},
		{Label: "Nonce", Value: strconv.FormatUint(tx.Nonce, 10)},
		{Label: "To", Value: to, Risk: tx.To == nil},
		{Label: "Value", Value: eth(tx.Value)},
		{Label: "Data", Value: describeData(tx.Data)},
		{Label: "Gas limit", Value: strconv.FormatUint(tx.GasLimit, 10)},
		{Label: "Max fee per gas", Value: gwei(tx.MaxFeePerGas)},
		{Label: "Max priority fee per gas", Value: gwei(tx.MaxPriorityFeePerGas)},
		{Label: "Access list", Value: strconv.Itoa(len(tx.AccessList)) + " entries", Risk: len(tx.AccessList) != 0},
	}, nil
}

func isMultiSend(a Address) bool {
	_, ok := multiSendDeployments[a]
	return ok
}

func operationName(op chain.Amount) string {
	switch {
	case op.IsZero():
		return "0 (CALL)"
	case op.Equal(chain.AmountOf(1)):
		return "1 (DELEGATECALL)"
	}
	return op.String() + " (unknown)"
}

// describeData writes calldata: none, a transfer call decoded, or a
// known selector's name, with the bytes in hex cut to 64.
func describeData(data []byte) string {
	if len(data) == 0 {
		return "none"
	}
	const maxShown = 64
	shown := hex.EncodeToString(data)
	if len(data) > maxShown {
		shown = hex.EncodeToString(data[:maxShown]) + "..."
	}
	if len(data) < 4 {
		return shown
	}
	sel := [4]byte(data[:4])
	if sel == transferSelector && len(data) == TransferCalldataLen && allZero(data[4:16]) {
		amount, _ := chain.AmountFromBig(bigFromBytes(data[36:]))
		return "transfer(" + Address(data[16:36]).String() + ", " + amount.String() + ")"
	}
	if name, ok := selectorNames[sel]; ok {
		return name + ": " + shown
	}
	return strconv.Itoa(len(data)) + " bytes: " + shown
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
