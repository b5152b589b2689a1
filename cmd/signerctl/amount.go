package main

import (
	"fmt"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
)

// baseUnits name the base units of the assets whose names people know.
var baseUnits = map[string]string{bitcoin.Asset: "sat", "ETH": "wei"}

// baseUnit names the base unit of asset: "sat", or "base units".
func baseUnit(asset string) string {
	if u, ok := baseUnits[asset]; ok {
		return u
	}
	return "base units"
}

// chainParams returns a chain's default parameters on network, nil if
// signerctl does not know the chain or the chain has no defaults.
func chainParams(chainName, network string) chain.Params {
	c, ok := chains.Lookup(chainName)
	if !ok {
		return nil
	}
	p, err := c.ParseParams(network, nil)
	if err != nil {
		return nil
	}
	return p
}

// amountText writes an amount for people, with its asset and its base
// units: "0.25 BTC (25000000 sat)"; "2500000 base units of USDC" where the
// asset's decimals are not known here.
func amountText(chainName, network string, a chain.Amount, asset string) string {
	if p := chainParams(chainName, network); p != nil {
		if dec, ok := p.Decimals(asset); ok {
			return fmt.Sprintf("%s %s (%s %s)", a.Decimal(dec), asset, a, baseUnit(asset))
		}
	}
	return fmt.Sprintf("%s base units of %s", a, asset)
}

// feeAssetOf returns the asset a chain's fees are paid in on network, ""
// if signerctl cannot tell.
func feeAssetOf(chainName, network string) string {
	if p := chainParams(chainName, network); p != nil {
		return p.FeeAsset()
	}
	return ""
}

// sats writes satoshis for people: "0.25 BTC (25000000 sat)".
func sats(v int64) string {
	return fmt.Sprintf("%s %s (%d sat)", chain.AmountOf(uint64(max(v, 0))).Decimal(8), bitcoin.Asset, v)
}

// walletAmount writes an amount of one of a wallet's assets as the policy
// shows it, with its base units: "0.45 BTC (45000000 sat)".
func walletAmount(w *policy.WalletRules, a chain.Amount, asset string) string {
	if _, p := w.ChainOf(); p != nil {
		if _, ok := p.Decimals(asset); ok {
			return fmt.Sprintf("%s (%s %s)", w.Show(a, asset), a, baseUnit(asset))
		}
	}
	return w.Show(a, asset)
}
