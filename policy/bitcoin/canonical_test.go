package bitcoin_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/countersign/countersign/policy/bitcoin"
)

func TestCanonicalRoundTrip(t *testing.T) {
	in := bitcoin.Intent{WithdrawalID: "wd-1", WalletID: "w-0123456789abcdef", Network: bitcoin.Regtest, Asset: "BTC",
		Destination: "bcrt1qexample", Amount: 25_000_000, FeeCap: 10_000}
	b := in.Canonical()
	// The bytes of an intent without requested_by are those first published.
	want := `{"v":1,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`
	if string(b) != want {
		t.Fatalf("Canonical() = %s\nwant %s", b, want)
	}
	got, err := bitcoin.ParseCanonical(b)
	if err != nil || got != in {
		t.Fatalf("ParseCanonical = %+v, %v", got, err)
	}
	in.RequestedBy = "alice"
	if got, err := bitcoin.ParseCanonical(in.Canonical()); err != nil || got != in {
		t.Fatalf("with requested_by: %+v, %v", got, err)
	}
	for name, bad := range map[string]string{
		"spaces":        `{"v":1, "withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`,
		"reordered":     `{"withdrawal_id":"wd-1","v":1,"wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`,
		"unknown field": `{"v":1,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000,"memo":"x"}`,
		"version 2":     `{"v":2,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"bcrt1qexample","amount_sat":25000000,"fee_cap_sat":10000}`,
		"empty":         ``,
	} {
		if _, err := bitcoin.ParseCanonical([]byte(bad)); !errors.Is(err, bitcoin.ErrCanonical) {
			t.Errorf("%s: ParseCanonical = %v, want ErrCanonical", name, err)
		}
	}
}

// FuzzParseCanonical checks that the intent encoding is not malleable:
// whatever parses re-encodes byte for byte.
func FuzzParseCanonical(f *testing.F) {
	f.Add([]byte(`{"v":1,"withdrawal_id":"wd-1","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":1,"fee_cap_sat":1}`))
	f.Add([]byte(`{"v":1,"withdrawal_id":"a","wallet_id":"b","network":"","asset":"","destination":"","amount_sat":0,"fee_cap_sat":0,"requested_by":"c"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := bitcoin.ParseCanonical(b)
		if err != nil {
			return
		}
		if !bytes.Equal(in.Canonical(), b) {
			t.Fatalf("%q parsed but re-encodes as %q", b, in.Canonical())
		}
	})
}
