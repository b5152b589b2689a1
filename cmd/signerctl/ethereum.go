package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

// Gas limits withdraw build gives an Ethereum transaction when -gas-limit
// does not: what an ETH transfer costs, and enough for the ERC-20
// transfers of common tokens.
const (
	ethTransferGas   = ethereum.MinGasLimit
	tokenTransferGas = 65_000
)

// buildEthereum builds an Ethereum withdrawal from the wallet's params in
// the policy bundle in force: an EIP-1559 transfer from its account, or a
// SafeTx for a Safe owner.
func (c *cli) buildEthereum(ctx context.Context, cf *clientFlags, b *buildFlags) error {
	if err := b.otherChainFlags(bitcoinBuildFlags); err != nil {
		return err
	}
	if !b.given["nonce"] {
		return usagef("-nonce is required for Ethereum: the account's next nonce (a Safe owner: the Safe's), which the exchange's ledger knows")
	}
	if b.asset == "" {
		b.asset = ethereum.NativeAsset
	}
	if b.out == "" {
		b.out = "withdrawal.tx"
	}
	for _, a := range []struct{ name, v string }{{"amount", b.amount}, {"fee-cap", b.feeCap}} {
		if _, err := chain.ParseAmount(a.v); err != nil {
			return usagef("-%s %q: want a whole number of base units (wei, or the token's smallest unit)", a.name, a.v)
		}
	}
	if b.network != "" {
		if err := checkNetwork(ethereum.Name, b.network); err != nil {
			return err
		}
	}

	_, bundle, err := c.fetchPolicy(ctx, cf, 0)
	if err != nil {
		return err
	}
	rules := bundle.Wallets[b.wallet]
	switch {
	case rules == nil:
		return withHint(fmt.Errorf("withdraw build: wallet %s has no rules in policy version %d on %s; an Ethereum withdrawal is built from its params there (chain id, tokens, Safe)",
			b.wallet, bundle.Version, cf.node), "officers add the wallet: signerctl policy propose -wallet %s -chain ethereum -network NETWORK ...", b.wallet)
	case b.network != "" && b.network != rules.Network:
		return usagef("-network %s: wallet %s is on %s", b.network, b.wallet, rules.Network)
	}
	in, raw, err := ethBuild(rules, b)
	if err != nil {
		return err
	}
	_, cp := rules.ChainOf()
	p := cp.(*ethereum.Params)

	_, key, err := c.walletKey(ctx, cf, "withdraw build", b.wallet, ethereum.Chain{})
	if err != nil {
		return err
	}
	tx, err := ethereum.Chain{}.Rederive(in, raw, key, p, chain.Limits{MaxFee: in.FeeCap})
	if err != nil {
		return fmt.Errorf("withdraw build: the transaction built does not re-derive: %w", err)
	}
	canonical := in.Canonical()
	if back, err := chain.ParseIntent(canonical); err != nil || !bytes.Equal(back.Canonical(), canonical) {
		return fmt.Errorf("withdraw build: the intent's canonical bytes do not read back (%v): nothing was written", err)
	}
	if err := os.WriteFile(b.out, raw, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(b.intentOut, canonical, 0o644); err != nil {
		return err
	}
	if cf.json {
		out := buildJSON{Intent: intentToJSON(in), TxID: tx.ID, Fee: tx.Fee.String(), FeeAsset: tx.FeeAsset, Out: b.out, IntentOut: b.intentOut}
		if n := tx.Nonce; n != nil {
			out.Nonce = &nonceJSON{Account: n.Account, Nonce: n.Nonce}
		}
		return printJSON(c, out)
	}
	fmt.Fprintf(c.stdout, "withdrawal %s, unsigned, under policy version %d:\n", in.WithdrawalID, bundle.Version)
	describeTx(c.stdout, in, tx, rules)
	what := "the unsigned EIP-1559 transaction"
	if raw[0] == ethereum.TypeSafeTx {
		what = "the SafeTx"
	}
	fmt.Fprintf(c.stdout, "wrote %s (%s, %d bytes) and %s (the intent's canonical bytes, %d bytes: what the originator signs)\n",
		b.out, what, len(raw), b.intentOut, len(canonical))
	keyFile := "ORIGINATOR.key"
	if lab := filepath.Join(cf.cluster, "lab-keys", "ledger.key"); fileExists(lab) {
		keyFile = lab
	}
	fmt.Fprintf(c.stdout, "\nSubmit it, signed by a system the policy names as the wallet's originator:\n"+
		"  signerctl withdraw submit -cluster %s -intent %s -tx %s -originator-key %s -follow\n", cf.cluster, b.intentOut, b.out, keyFile)
	return nil
}

// ethBuild returns the intent and the unsigned transaction of an Ethereum
// withdrawal from the wallet's rules: an EIP-1559 transfer from its
// account, or a SafeTx if its key is an owner of a Safe.
func ethBuild(rules *policy.WalletRules, b *buildFlags) (chain.Intent, []byte, error) {
	amount, err := chain.ParseAmount(b.amount)
	if err != nil {
		return chain.Intent{}, nil, usagef("-amount %q: want a whole number of base units (wei, or the token's smallest unit)", b.amount)
	}
	feeCap, err := chain.ParseAmount(b.feeCap)
	if err != nil {
		return chain.Intent{}, nil, usagef("-fee-cap %q: want a whole number of wei", b.feeCap)
	}
	_, cp := rules.ChainOf()
	p, ok := cp.(*ethereum.Params)
	if !ok {
		return chain.Intent{}, nil, fmt.Errorf("withdraw build: wallet %s is a %s wallet, not an Ethereum one", b.wallet, rules.ChainName())
	}
	in := chain.Intent{Version: chain.IntentV2, WithdrawalID: b.id, WalletID: b.wallet, Chain: ethereum.Name, Network: rules.Network,
		Asset: b.asset, Destination: b.to, Amount: amount, FeeCap: feeCap}
	var raw []byte
	if safe, ok := p.Safe(); ok {
		for _, f := range []string{"max-fee-per-gas", "priority-fee", "gas-limit"} {
			if b.given[f] {
				return chain.Intent{}, nil, usagef("-%s: wallet %s pays from Safe %s, and a SafeTx carries no gas price: whoever executes it pays the gas", f, b.wallet, safe.Address)
			}
		}
		raw, err = ethereum.BuildSafeTx(p, in, b.nonce, b.safeTxGas)
	} else {
		if b.given["safe-tx-gas"] {
			return chain.Intent{}, nil, usagef("-safe-tx-gas: wallet %s pays from its own account, not from a Safe", b.wallet)
		}
		if b.maxFeePerGas == "" {
			return chain.Intent{}, nil, usagef("-max-fee-per-gas is required: the most the transaction pays per gas, in wei (the chain's base fee plus the priority fee, with room)")
		}
		maxFee, ferr := chain.ParseAmount(b.maxFeePerGas)
		if ferr != nil {
			return chain.Intent{}, nil, usagef("-max-fee-per-gas %q: want a whole number of wei", b.maxFeePerGas)
		}
		prio, perr := chain.ParseAmount(b.priorityFee)
		if perr != nil {
			return chain.Intent{}, nil, usagef("-priority-fee %q: want a whole number of wei", b.priorityFee)
		}
		gas := b.gasLimit
		switch {
		case gas != 0:
		case b.asset == ethereum.NativeAsset:
			gas = ethTransferGas
		default:
			gas = tokenTransferGas
		}
		raw, err = ethereum.BuildTransfer(p, in, b.nonce, prio, maxFee, gas)
	}
	if err != nil {
		return chain.Intent{}, nil, buildFailed(err, p)
	}
	return in, raw, nil
}

// buildFailed explains why a withdrawal could not be built: a refusal
// names its rule, as the nodes would.
func buildFailed(err error, p *ethereum.Params) error {
	if r, ok := errors.AsType[*chain.Refusal](err); ok {
		return withHint(fmt.Errorf("withdraw build: %w", r), "the nodes would refuse it by the rule %s (policy/ethereum/rules.go); nothing was written", r.Rule)
	}
	return withHint(fmt.Errorf("withdraw build: %w", err), "nothing was written; the wallet's gas cap is %d (its policy's max_gas_limit)", p.MaxGasLimit())
}

// ethSignatures returns the signature a signed Ethereum result carries, as
// the chain's Finish takes it (r||s): from a signed EIP-1559 transaction
// its r and s fields, from a Safe owner's signature r||s||v its first 64
// bytes.
func ethSignatures(unsigned, signed []byte) ([][64]byte, error) {
	if len(unsigned) > 0 && unsigned[0] == ethereum.TypeSafeTx {
		if len(signed) != ethereum.SafeSignatureLen {
			return nil, fmt.Errorf("a Safe owner's signature of %d bytes, want %d", len(signed), ethereum.SafeSignatureLen)
		}
		return [][64]byte{[64]byte(signed[:64])}, nil
	}
	if len(signed) == 0 || signed[0] != ethereum.TypeDynamicFee {
		return nil, errors.New("not a signed EIP-1559 transaction (type 0x02)")
	}
	item, err := ethereum.DecodeRLP(signed[1:])
	if err != nil {
		return nil, fmt.Errorf("the signed transaction: %w", err)
	}
	if !item.IsList || len(item.List) != 12 {
		return nil, errors.New("the signed transaction has not the 12 fields of a signed EIP-1559 transaction")
	}
	var sig [64]byte
	for i, f := range item.List[10:] {
		if f.IsList || len(f.Bytes) > 32 {
			return nil, errors.New("the signed transaction's r or s is not a 256-bit integer")
		}
		copy(sig[32*(i+1)-len(f.Bytes):32*(i+1)], f.Bytes)
	}
	return [][64]byte{sig}, nil
}
