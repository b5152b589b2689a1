package policy_test

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/policytest"
)

// book is a NonceBook of one account: next is one above the highest nonce
// bound (known if set), holders the withdrawals bound to nonces.
type book struct {
	known   bool
	next    uint64
	holders map[uint64]policy.NonceState
}

func (b book) Nonce(_ string, n uint64) policy.NonceState {
	st := b.holders[n]
	st.Known, st.Next = b.known, b.next
	return st
}

// TestDecideNonces attacks every account-nonce rule of Decide: a nonce is
// signed for one withdrawal only, none beyond the next unsigned one nor
// below the policy's first, and it is taken over only by an allowed
// replacement of the withdrawal holding it, paying the same at a higher
// fee.
func TestDecideNonces(t *testing.T) {
	const dest, other = "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D"
	priv, _ := btcec.PrivKeyFromBytes([]byte("policy test wallet key, 32 bytes"))
	key := bitcoin.NeutralKey(bitcoin.Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: [32]byte{9}})
	bundle := func(replace bool) *policy.Bundle {
		params := `{"chain_id":11155111,"first_nonce":5,"allow_replacement":false}`
		if replace {
			params = `{"chain_id":11155111,"first_nonce":5,"allow_replacement":true}`
		}
		b := policytest.Genesis(cluster)
		b.Wallets[walletID] = &policy.WalletRules{
			Name: "eth hot", Chain: "ethereum", Network: "sepolia", Role: policy.RoleHot, AnyDestination: true,
			Assets:      []policy.AssetLimits{{Asset: "ETH", MaxAmount: chain.MustAmount("5000000000000000000"), DailyCap: chain.MustAmount("10000000000000000000"), WeeklyCap: chain.MustAmount("20000000000000000000")}},
			MaxFee:      chain.MustAmount("10000000000000000"),
			Params:      []byte(params),
			Originators: []policy.Originator{policytest.Ledger.Originator()},
		}
		return parse(t, b)
	}
	held := func(id, to string, fee uint64) policy.NonceState {
		return policy.NonceState{Holder: id, HolderFee: chain.AmountOf(fee), HolderIntent: chain.Intent{Version: chain.IntentV2, WithdrawalID: id, WalletID: walletID,
			Chain: "ethereum", Network: "sepolia", Asset: "ETH", Destination: to, Amount: chain.AmountOf(1_000_000), FeeCap: chain.MustAmount("5000000000000000")}}
	}
	// the worst-case fee of a transfer at 30 gwei × 21000 gas
	const fee = 30_000_000_000 * 21_000
	for _, tc := range []struct {
		name     string
		replace  bool // the policy allows replacement
		replaces string
		to       string
		nonce    uint64
		maxFee   uint64 // per gas
		book     policy.NonceBook
		rule     string
	}{
		{name: "the policy's first nonce, nothing bound", nonce: 5},
		{name: "below the policy's first nonce", nonce: 4, rule: policy.RuleNonceReused},
		{name: "ahead of the first nonce", nonce: 6, rule: policy.RuleNonceGap},
		{name: "the next nonce", nonce: 8, book: book{known: true, next: 8}},
		{name: "beyond the next nonce", nonce: 9, book: book{known: true, next: 8}, rule: policy.RuleNonceGap},
		{name: "a free nonce below the next", nonce: 6, book: book{known: true, next: 8}},
		{name: "a bound nonce", nonce: 7, book: book{known: true, next: 8, holders: map[uint64]policy.NonceState{7: held("wd-7", dest, 1)}}, rule: policy.RuleNonceReused},
		{name: "a replacement the policy does not allow", replaces: "wd-7", nonce: 7, maxFee: 40_000_000_000,
			book: book{known: true, next: 8, holders: map[uint64]policy.NonceState{7: held("wd-7", dest, fee)}}, rule: string(ethereum.RuleIntentReplacement)},
		{name: "a replacement at a higher fee", replace: true, replaces: "wd-7", nonce: 7, maxFee: 40_000_000_000,
			book: book{known: true, next: 8, holders: map[uint64]policy.NonceState{7: held("wd-7", dest, fee)}}},
		{name: "a replacement at the same fee", replace: true, replaces: "wd-7", nonce: 7,
			book: book{known: true, next: 8, holders: map[uint64]policy.NonceState{7: held("wd-7", dest, fee)}}, rule: policy.RuleNonceReplacementInvalid},
		{name: "a replacement paying elsewhere", replace: true, replaces: "wd-7", to: other, nonce: 7, maxFee: 40_000_000_000,
			book: book{known: true, next: 8, holders: map[uint64]policy.NonceState{7: held("wd-7", dest, fee)}}, rule: policy.RuleNonceReplacementInvalid},
		{name: "a replacement of another withdrawal than the holder", replace: true, replaces: "wd-6", nonce: 7, maxFee: 40_000_000_000,
			book: book{known: true, next: 8, holders: map[uint64]policy.NonceState{7: held("wd-7", dest, fee)}}, rule: policy.RuleNonceReplacementInvalid},
		{name: "a replacement of a nonce nobody holds", replace: true, replaces: "wd-7", nonce: 6, maxFee: 40_000_000_000,
			book: book{known: true, next: 8}, rule: policy.RuleNonceReplacementInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bundle(tc.replace)
			_, params := b.Wallets[walletID].ChainOf()
			to := tc.to
			if to == "" {
				to = dest
			}
			in := chain.Intent{Version: chain.IntentV2, WithdrawalID: "wd-new", WalletID: walletID, Chain: "ethereum", Network: "sepolia",
				Asset: "ETH", Destination: to, Amount: chain.AmountOf(1_000_000), FeeCap: chain.MustAmount("5000000000000000"), Replaces: tc.replaces}
			maxFee := tc.maxFee
			if maxFee == 0 {
				maxFee = 30_000_000_000
			}
			p := params.(*ethereum.Params)
			if tc.replaces != "" && !tc.replace { // the builder refuses it too: build as if allowed
				_, bp := bundle(true).Wallets[walletID].ChainOf()
				p = bp.(*ethereum.Params)
			}
			raw, err := ethereum.BuildTransfer(p, in, tc.nonce, chain.AmountOf(1), chain.AmountOf(maxFee), 21_000)
			if err != nil {
				t.Fatal(err)
			}
			d := b.Decide(policy.Request{Intent: in, IntentSignature: policytest.SignIntent(t, in, policytest.Ledger), UnsignedTx: raw,
				Wallet: key, Nonces: tc.book, Now: tuesdayNoon})
			switch {
			case d.Rule != tc.rule:
				t.Fatalf("rule %q (%s), want %q", d.Rule, d.Reason, tc.rule)
			case d.Allowed && (d.Nonce == nil || d.Nonce.Nonce != tc.nonce || d.Replaces != tc.replaces):
				t.Fatalf("allowed with nonce %+v, replaces %q", d.Nonce, d.Replaces)
			}
		})
	}
}
