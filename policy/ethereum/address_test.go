package ethereum_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

// eip55Vectors are the examples of EIP-55.
var eip55Vectors = []string{
	"0x52908400098527886E0F7030069857D2E4169EE7",
	"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	"0xde709f2102306220921060314715629080e2fb77",
	"0x27b1fdb04752bbc536007a920d24acb045561c26",
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
	"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
}

func TestEIP55(t *testing.T) {
	for _, s := range eip55Vectors {
		a, err := ethereum.ParseAddress(s)
		if err != nil {
			t.Errorf("ParseAddress(%s): %v", s, err)
			continue
		}
		if a.String() != s {
			t.Errorf("String = %s, want %s", a, s)
		}
		if a.Lower() != strings.ToLower(s) {
			t.Errorf("Lower = %s", a.Lower())
		}
		// Other spellings name the right one.
		for _, other := range []string{strings.ToLower(s), "0x" + strings.ToUpper(s[2:]), "0X" + s[2:]} {
			if other == s {
				continue
			}
			_, err := ethereum.ParseAddress(other)
			if !errors.Is(err, ethereum.ErrAddressSpelling) || !strings.Contains(err.Error(), s) {
				t.Errorf("ParseAddress(%s) = %v, want ErrAddressSpelling naming %s", other, err, s)
			}
		}
	}
}

func TestParseAddressRefuses(t *testing.T) {
	for _, s := range []string{"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe\n", "vitalik.eth"} {
		if _, err := ethereum.ParseAddress(s); !errors.Is(err, ethereum.ErrAddress) {
			t.Errorf("ParseAddress(%q) = %v, want ErrAddress", s, err)
		}
	}
	// One letter's case flipped is a wrong checksum.
	if _, err := ethereum.ParseAddress("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"); !errors.Is(err, ethereum.ErrAddressSpelling) {
		t.Errorf("flipped case: %v, want ErrAddressSpelling", err)
	}
}

// TestPublicKeyAddress checks addresses of the private keys 1 and 2, whose
// addresses are well known.
func TestPublicKeyAddress(t *testing.T) {
	for _, tc := range []struct {
		priv byte
		want string
	}{
		{1, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"},
		{2, "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"},
	} {
		var b [32]byte
		b[31] = tc.priv
		priv, _ := btcec.PrivKeyFromBytes(b[:])
		a, err := ethereum.PublicKeyAddress([33]byte(priv.PubKey().SerializeCompressed()))
		if err != nil || a.String() != tc.want {
			t.Errorf("key %d: %s, %v; want %s", tc.priv, a, err, tc.want)
		}
	}
	if _, err := ethereum.PublicKeyAddress([33]byte{0x02}); !errors.Is(err, ethereum.ErrAddress) {
		t.Errorf("a point off the curve: %v", err)
	}
}

func TestChainAddress(t *testing.T) {
	w := newTestWallet(t)
	c := ethereum.Chain{}
	got, err := c.Address(w.key, "sepolia", bip32.ReceivePath(0))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ethereum.PublicKeyAddress([33]byte(w.childKey(t, bip32.ReceivePath(0)).PubKey().SerializeCompressed()))
	if err != nil || got != want.String() {
		t.Fatalf("Address = %s, want %s (%v)", got, want, err)
	}
	if _, err := c.Address(w.key, "ropsten", bip32.ReceivePath(0)); err == nil {
		t.Error("Address on an unknown network")
	}
	bad := w.key
	bad.Scheme = chain.EdDSAEd25519
	if _, err := c.Address(bad, "sepolia", bip32.ReceivePath(0)); refusalRule(err) != ethereum.RuleWalletKey {
		t.Errorf("an EdDSA wallet: %v", err)
	}
}

func TestSameAddress(t *testing.T) {
	c := ethereum.Chain{}
	a := "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	tests := []struct {
		b    string
		want bool
	}{
		{a, true},
		{strings.ToLower(a), true},
		{"0x" + strings.ToUpper(a[2:]), true},
		{"0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", false}, // bad checksum
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAee", false}, // last nibble
		{"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaec", false},
		{"5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := sameAddress(c, "mainnet", a, tc.b); got != tc.want {
			t.Errorf("SameAddress(%s, %s) = %v, want %v", a, tc.b, got, tc.want)
		}
		if got := sameAddress(c, "mainnet", tc.b, a); got != tc.want {
			t.Errorf("SameAddress is not symmetric for %s", tc.b)
		}
	}
	if sameAddress(c, "nowhere", a, a) {
		t.Error("SameAddress on an unknown network")
	}
}

// FuzzParseAddress checks that ParseAddress accepts only the EIP-55
// spelling, and that SameAddress agrees with the 20 bytes.
func FuzzParseAddress(f *testing.F) {
	for _, s := range eip55Vectors {
		f.Add(s, strings.ToLower(s))
	}
	f.Add("0x", "0X")
	f.Fuzz(func(t *testing.T, s, other string) {
		a, err := ethereum.ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ethereum.ErrAddress) && !errors.Is(err, ethereum.ErrAddressSpelling) {
				t.Fatalf("ParseAddress: %v wraps neither sentinel", err)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("ParseAddress(%q) accepted; String is %s", s, a)
		}
		same := sameAddress(ethereum.Chain{}, "mainnet", s, other)
		if same && !(strings.EqualFold(s, other) && strings.HasPrefix(other, "0x")) {
			t.Fatalf("SameAddress(%q, %q) is true for another address", s, other)
		}
		if !same && (other == s || other == strings.ToLower(s)) {
			t.Fatalf("SameAddress(%q, %q) is false for a spelling of the address", s, other)
		}
	})
}

// sameAddress reports whether AddressKey gives a and b one key on network.
func sameAddress(c ethereum.Chain, network, a, b string) bool {
	ka, errA := c.AddressKey(network, a)
	kb, errB := c.AddressKey(network, b)
	return errA == nil && errB == nil && ka == kb
}
