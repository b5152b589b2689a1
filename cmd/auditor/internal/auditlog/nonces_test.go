package auditlog

import (
	"testing"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
)

// TestNonceLog: the nonces a log's decisions hold read, at each record, as
// the node's store read them then: a holder from its decision on, the
// later of two holders, a rejection releasing (and lowering the next nonce
// if it held the highest), the withdrawal being decided never its own
// holder, and nothing of records after the view's.
func TestNonceLog(t *testing.T) {
	const acct, other = "ethereum:1:0xaa", "ethereum:1:0xbb"
	in := func(id string) chain.Intent {
		return chain.Intent{Version: chain.IntentV2, WithdrawalID: id, WalletID: "w-1", Chain: "ethereum", Asset: "ETH", Amount: chain.AmountOf(1)}
	}
	l := newNonceLog()
	a := l.hold(10, acct, 5, "wd-a", in("wd-a"), chain.AmountOf(100))
	b := l.hold(20, acct, 5, "wd-b", in("wd-b"), chain.AmountOf(200)) // replaces wd-a
	c := l.hold(30, acct, 6, "wd-c", in("wd-c"), chain.AmountOf(300))
	l.release(40, c)
	l.release(50, b)
	l.release(50, b) // twice: once
	sparse := l.hold(60, other, 5000, "wd-x", in("wd-x"), chain.AmountOf(1))
	l.hold(61, other, 1, "wd-y", in("wd-y"), chain.AmountOf(1))
	l.release(70, sparse)
	l.release(80, a)

	tests := []struct {
		name    string
		at      uint64
		exclude string
		account string
		nonce   uint64
		want    policy.NonceState
	}{
		{"before any", 10, "wd-a", acct, 5, policy.NonceState{}},
		{"the first holder", 11, "", acct, 5, policy.NonceState{Known: true, Next: 6, Holder: "wd-a", HolderFee: chain.AmountOf(100)}},
		{"another nonce", 11, "", acct, 4, policy.NonceState{Known: true, Next: 6}},
		{"the later holder", 21, "", acct, 5, policy.NonceState{Known: true, Next: 6, Holder: "wd-b", HolderFee: chain.AmountOf(200)}},
		{"the one decided is no holder", 21, "wd-b", acct, 5, policy.NonceState{Known: true, Next: 6}},
		{"as it was before the replacement", 15, "", acct, 5, policy.NonceState{Known: true, Next: 6, Holder: "wd-a", HolderFee: chain.AmountOf(100)}},
		{"the next one up", 31, "", acct, 6, policy.NonceState{Known: true, Next: 7, Holder: "wd-c", HolderFee: chain.AmountOf(300)}},
		{"at the rejection's record, still held", 40, "", acct, 6, policy.NonceState{Known: true, Next: 7, Holder: "wd-c", HolderFee: chain.AmountOf(300)}},
		{"the highest rejected", 41, "", acct, 6, policy.NonceState{Known: true, Next: 6}},
		{"the replacement rejected: the replaced holds", 51, "", acct, 5, policy.NonceState{Known: true, Next: 6, Holder: "wd-a", HolderFee: chain.AmountOf(100)}},
		{"all released", 81, "", acct, 5, policy.NonceState{}},
		{"another account", 62, "", other, 1, policy.NonceState{Known: true, Next: 5001, Holder: "wd-y", HolderFee: chain.AmountOf(1)}},
		{"far below the highest", 71, "", other, 1, policy.NonceState{Known: true, Next: 2, Holder: "wd-y", HolderFee: chain.AmountOf(1)}},
		{"an unknown account", 100, "", "safe:1:0xcc", 0, policy.NonceState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := l.at(tt.at, tt.exclude).Nonce(tt.account, tt.nonce)
			if got.Known != tt.want.Known || got.Next != tt.want.Next || got.Holder != tt.want.Holder || !got.HolderFee.Equal(tt.want.HolderFee) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got.Holder != "" && got.HolderIntent.WithdrawalID != got.Holder {
				t.Errorf("holder %s with the intent of %s", got.Holder, got.HolderIntent.WithdrawalID)
			}
		})
	}
}
