package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// Withdrawals of the chains behind the seam other than Bitcoin (whose
// PSBTs, coins and script checks have their own code in withdraw.go): they
// are re-derived here with the chain's package, under the wallet's params
// in the policy bundle, and their signed results are checked by the
// chain's own Finish.

// maxUnsignedTxFile bounds an unsigned transaction file, hex or raw: above
// every chain's limit, so that the nodes say why a longer one is refused.
const maxUnsignedTxFile = 4 * ethereum.MaxTxSize

// readUnsignedTx reads an unsigned transaction file: raw bytes as
// 'withdraw build -out' writes them, or the same bytes in hex (with or
// without 0x, white space around it).
func readUnsignedTx(path string) ([]byte, error) {
	raw, err := readFileMax(path, maxUnsignedTxFile)
	if err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(strings.TrimSpace(string(raw)), "0x")
	if dec, err := hex.DecodeString(text); err == nil && len(dec) > 0 {
		return dec, nil
	}
	if len(raw) == 0 {
		return nil, withHint(fmt.Errorf("%s is empty", path), "'signerctl withdraw build -out FILE' writes the unsigned transaction")
	}
	return raw, nil
}

// rederived is a withdrawal re-derived here under a policy version, or why
// every node will refuse it.
type rederived struct {
	tx      *chain.Tx
	rules   *policy.WalletRules
	version int64
	// warning and detail say why the nodes will refuse it; tx is nil then.
	warning, detail string
}

// rederiveHere re-derives a withdrawal of a chain other than Bitcoin with
// the nodes' own code: under the wallet's rules in policy version (0: the
// one in force), from the wallet's root as the node serves it. Only a
// failed call is an error; a withdrawal the nodes will refuse is a warning.
func (c *cli) rederiveHere(ctx context.Context, cf *clientFlags, op string, in chain.Intent, unsigned []byte, version int64) (*rederived, error) {
	_, b, err := c.fetchPolicy(ctx, cf, version)
	if err != nil {
		return nil, err
	}
	out := &rederived{version: b.Version}
	rules := b.Wallets[in.WalletID]
	switch {
	case rules == nil:
		out.warning, out.detail = "the wallet is not in the policy", fmt.Sprintf("%s: wallet %s has no rules in policy version %d", policy.RuleWalletUnknown, in.WalletID, b.Version)
		return out, nil
	case rules.ChainName() != in.Chain:
		out.warning, out.detail = "the intent is for another chain than the wallet's", fmt.Sprintf("%s: the intent is for %s, wallet %s is a %s wallet",
			policy.RuleChainMismatch, chain.Quote(in.Chain), in.WalletID, rules.ChainName())
		return out, nil
	}
	out.rules = rules
	ch, params := rules.ChainOf()
	_, key, err := c.walletKey(ctx, cf, op, in.WalletID, ch)
	if err != nil {
		return nil, err
	}
	lim := chain.Limits{MaxFee: in.FeeCap} // the policy's own cap is the nodes' to apply
	if lim.MaxFee.IsZero() {
		lim.MaxFee = chain.AmountOf(1)
	}
	if out.tx, err = ch.Rederive(in, unsigned, key, params, lim); err != nil {
		out.warning, out.detail = "the transaction does not do what the intent says", err.Error()
	}
	return out, nil
}

// describeTx prints what a re-derived withdrawal does: the chain's facts,
// the id and what is signed.
func describeTx(w io.Writer, in chain.Intent, tx *chain.Tx, rules *policy.WalletRules) {
	width := len("signs")
	for _, f := range tx.Facts {
		width = max(width, len(f.Label))
	}
	row := func(label, format string, a ...any) {
		fmt.Fprintf(w, "  %-*s  %s\n", width, label, fmt.Sprintf(format, a...))
	}
	row("wallet", "%s %q (%s %s)", in.WalletID, rules.Name, in.Chain, in.Network)
	for _, f := range tx.Facts {
		row(f.Label, "%s", f.Value)
	}
	row("tx id", "%s", tx.ID)
	for _, s := range tx.Sign {
		row("signs", "%x with the wallet's key at %s", s.Message, s.Path)
	}
}

// signedView is a signed result of a chain other than Bitcoin, checked
// here.
type signedView struct {
	txID     string // the final transaction id
	verified string // how it was checked
}

// verifyHere checks a signed result with the chain's own Finish: the
// signatures it carries, put back into the transaction re-derived here
// under the policy version that decided it, must give the very bytes the
// node served, and Finish itself checks that they are the wallet's.
func (c *cli) verifyHere(ctx context.Context, cf *clientFlags, w *pb.Withdrawal, unsigned []byte) (*signedView, error) {
	in, err := chain.ParseIntent(w.GetIntent())
	if err != nil {
		return nil, fmt.Errorf("its intent does not parse: %w", err)
	}
	if in.Chain != ethereum.Name {
		return &signedView{txID: w.GetTx().GetId(), verified: "not here: signerctl checks Bitcoin and Ethereum results only"}, nil
	}
	r, err := c.rederiveHere(ctx, cf, "withdraw watch", in, unsigned, w.GetPolicyVersion())
	if err != nil {
		return nil, err
	}
	if r.tx == nil {
		return nil, fmt.Errorf("it does not re-derive under policy version %d: %s", r.version, r.detail)
	}
	txID, err := checkFinished(r.tx, unsigned, w.GetSignedTx(), w.GetTx().GetId())
	if err != nil {
		return nil, err
	}
	return &signedView{txID: txID, verified: fmt.Sprintf("here too: re-derived under policy version %d, its signature recovers to the wallet's key and re-assembles to the very bytes served (policy/%s's own Finish)",
		r.version, in.Chain)}, nil
}

// checkFinished checks an Ethereum withdrawal's signed result against its
// transaction re-derived here: the signature it carries, given to the
// chain's Finish (which checks it is the wallet's key's), must give back
// the very bytes served, and the final id the node named. It returns that
// id.
func checkFinished(tx *chain.Tx, unsigned, signed []byte, servedID string) (string, error) {
	sigs, err := ethSignatures(unsigned, signed)
	if err != nil {
		return "", err
	}
	fin, err := tx.Finish(sigs)
	switch {
	case err != nil:
		return "", err
	case !bytes.Equal(fin.Raw, signed):
		return "", errors.New("its signature, put into the transaction re-derived here, gives other bytes than the node served")
	case fin.TxID != servedID:
		return "", fmt.Errorf("its id is %s, the node says %s", fin.TxID, servedID)
	}
	return fin.TxID, nil
}
