package ethereum

import (
	"strconv"

	"github.com/countersign/countersign/policy/chain"
)

// transferFacts are what an officer sees of a withdrawal from the
// wallet's own account.
func transferFacts(pm *payment, tx *DynamicFeeTx, fee chain.Amount, acct *account, p *Params) []chain.Fact {
	facts := []chain.Fact{
		{Label: "Chain", Value: networkLabel(p)},
		{Label: "From", Value: acct.address.String() + " (the wallet's key at " + acct.child.Path.String() + ")"},
	}
	facts = append(facts, paymentFacts(pm)...)
	nonce := strconv.FormatUint(tx.Nonce, 10)
	if pm.in.Replaces != "" {
		nonce += ", replacing withdrawal " + pm.in.Replaces
	}
	return append(facts,
		chain.Fact{Label: "Nonce", Value: nonce, Risk: pm.in.Replaces != ""},
		chain.Fact{Label: "Gas limit", Value: strconv.FormatUint(tx.GasLimit, 10)},
		chain.Fact{Label: "Max fee per gas", Value: gwei(tx.MaxFeePerGas)},
		chain.Fact{Label: "Max priority fee per gas", Value: gwei(tx.MaxPriorityFeePerGas)},
		chain.Fact{Label: "Worst-case fee", Value: eth(fee) + ", the intent's cap " + eth(pm.in.FeeCap)},
	)
}

// safeFacts are what an officer sees of a withdrawal from the wallet's
// Safe.
func safeFacts(pm *payment, s *SafeTx, nonce uint64, acct *account, p *Params) []chain.Fact {
	safe := p.safe
	domain := "chain id " + strconv.FormatUint(p.chainID, 10) + " and the Safe's address"
	if safe.LegacyDomain() {
		domain = "the Safe's address only, without a chain id: the signature is valid on every chain where this Safe address exists"
	}
	facts := []chain.Fact{
		{Label: "Chain", Value: networkLabel(p)},
		{Label: "Safe", Value: safe.Address.String() + " (v" + safe.Version + ")"},
		{Label: "Signature domain", Value: domain, Risk: safe.LegacyDomain()},
		{Label: "Owner signing", Value: acct.address.String() + " (the wallet's key at " + acct.child.Path.String() + ")"},
	}
	facts = append(facts, paymentFacts(pm)...)
	value := strconv.FormatUint(nonce, 10)
	if pm.in.Replaces != "" {
		value += ", replacing withdrawal " + pm.in.Replaces
	}
	return append(facts,
		chain.Fact{Label: "Safe nonce", Value: value, Risk: pm.in.Replaces != ""},
		chain.Fact{Label: "Operation", Value: "CALL"},
		chain.Fact{Label: "safeTxGas", Value: s.SafeTxGas.String()},
		chain.Fact{Label: "Fee", Value: "none from the Safe: whoever executes the SafeTx pays the gas"},
	)
}

// paymentFacts are the asset, destination and amount of a payment.
func paymentFacts(pm *payment) []chain.Fact {
	in := pm.in
	if pm.token == nil {
		return []chain.Fact{
			{Label: "Asset", Value: NativeAsset},
			{Label: "Pays", Value: pm.dest.String(), Risk: true},
			{Label: "Amount", Value: eth(in.Amount), Risk: true},
		}
	}
	t := pm.token
	return []chain.Fact{
		{Label: "Asset", Value: t.Symbol + " (ERC-20, " + strconv.Itoa(t.Decimals) + " decimals)"},
		{Label: "Token contract", Value: t.Contract.String()},
		{Label: "Pays", Value: pm.dest.String(), Risk: true},
		{Label: "Amount", Value: in.Amount.Decimal(t.Decimals) + " " + t.Symbol + " (" + in.Amount.String() + " base units)", Risk: true},
	}
}

func networkLabel(p *Params) string {
	return p.network + " (chain id " + strconv.FormatUint(p.chainID, 10) + ")"
}

// eth writes an amount of wei in ETH and in wei.
func eth(a chain.Amount) string {
	return a.Decimal(NativeDecimals) + " ETH (" + a.String() + " wei)"
}

// gwei writes an amount of wei per gas in gwei and in wei.
func gwei(a chain.Amount) string {
	return a.Decimal(9) + " gwei (" + a.String() + " wei)"
}
