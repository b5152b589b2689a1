package bitcoin_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/countersign/countersign/policy/bitcoin"
)

var allNetworks = []struct {
	network bitcoin.Network
	params  *chaincfg.Params
	prefix  string
}{
	{bitcoin.Mainnet, &chaincfg.MainNetParams, "bc1q"},
	{bitcoin.Testnet, &chaincfg.TestNet3Params, "tb1q"},
	{bitcoin.Signet, &chaincfg.SigNetParams, "tb1q"},
	{bitcoin.Regtest, &chaincfg.RegressionNetParams, "bcrt1q"},
}

func TestParamsFor(t *testing.T) {
	for _, tc := range allNetworks {
		t.Run(string(tc.network), func(t *testing.T) {
			got, err := bitcoin.ParamsFor(tc.network)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.params {
				t.Fatalf("ParamsFor(%q) = %s, want %s", tc.network, got.Name, tc.params.Name)
			}
		})
	}
	for _, n := range []bitcoin.Network{"", "Mainnet", "main", "testnet3", "testnet4", "simnet", " mainnet", bitcoin.Network(strings.Repeat("x", 1000))} {
		t.Run("unknown "+string(n[:min(len(n), 16)]), func(t *testing.T) {
			got, err := bitcoin.ParamsFor(n)
			if !errors.Is(err, bitcoin.ErrNetwork) || got != nil {
				t.Fatalf("ParamsFor(%q) = %v, %v; want error %v", n, got, err, bitcoin.ErrNetwork)
			}
			msg := err.Error()
			if !strings.Contains(msg, string(n[:min(len(n), 16)])) {
				t.Errorf("error %q does not name the network %q", msg, n)
			}
			for _, known := range allNetworks {
				if !strings.Contains(msg, string(known.network)) {
					t.Errorf("error %q does not name %q", msg, known.network)
				}
			}
			if len(msg) > 200 {
				t.Errorf("error message is %d bytes long", len(msg))
			}
		})
	}
}

// TestP2WPKHKnownAnswer uses the example of BIP173, the generator point's
// key, on every network.
func TestP2WPKHKnownAnswer(t *testing.T) {
	pub := [33]byte(mustDecodeHex(t, "0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798"))
	want := map[bitcoin.Network]string{
		bitcoin.Mainnet: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
		bitcoin.Testnet: "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
		bitcoin.Signet:  "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
		bitcoin.Regtest: "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
	}
	for n, addr := range want {
		got, err := bitcoin.P2WPKHAddress(pub, n)
		if err != nil {
			t.Fatal(err)
		}
		if got != addr {
			t.Errorf("P2WPKHAddress on %s = %s, want %s", n, got, addr)
		}
	}
	if got, want := bitcoin.P2WPKHScript(pub), mustDecodeHex(t, "0014751e76e8199196d454941c45d1b3a323f1433bd6"); !bytes.Equal(got, want) {
		t.Errorf("P2WPKHScript = %x, want %x", got, want)
	}
}

// TestP2WPKHRoundTrip decodes addresses of derived keys with btcutil and
// rebuilds their scripts with txscript.
func TestP2WPKHRoundTrip(t *testing.T) {
	rng := testRand()
	for range 32 {
		_, k := randomWallet(t, rng)
		for _, path := range []bitcoin.Path{nil, bitcoin.ReceivePath(rng.Uint32N(1 << 31)), bitcoin.ChangePath(0)} {
			child, err := k.Derive(path)
			if err != nil {
				t.Fatal(err)
			}
			hash := btcutil.Hash160(child.PublicKey[:])
			script := bitcoin.P2WPKHScript(child.PublicKey)
			for _, tc := range allNetworks {
				addr, err := bitcoin.P2WPKHAddress(child.PublicKey, tc.network)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(addr, tc.prefix) {
					t.Fatalf("%s address %s lacks prefix %s", tc.network, addr, tc.prefix)
				}
				want, err := btcutil.NewAddressWitnessPubKeyHash(hash, tc.params)
				if err != nil {
					t.Fatal(err)
				}
				if addr != want.EncodeAddress() {
					t.Fatalf("%s address %s, btcutil %s", tc.network, addr, want.EncodeAddress())
				}
				decoded, err := btcutil.DecodeAddress(addr, tc.params)
				if err != nil {
					t.Fatalf("DecodeAddress(%s): %v", addr, err)
				}
				wpkh, ok := decoded.(*btcutil.AddressWitnessPubKeyHash)
				if !ok || !wpkh.IsForNet(tc.params) || !bytes.Equal(wpkh.WitnessProgram(), hash) {
					t.Fatalf("%s decodes to %T %x", addr, decoded, decoded.ScriptAddress())
				}
				wantScript, err := txscript.PayToAddrScript(decoded)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(script, wantScript) {
					t.Fatalf("P2WPKHScript = %x, txscript %x", script, wantScript)
				}
			}
			if class := txscript.GetScriptClass(script); class != txscript.WitnessV0PubKeyHashTy {
				t.Fatalf("script %x is %s", script, class)
			}
		}
	}
}

func TestP2WPKHAddressErrors(t *testing.T) {
	g := [33]byte(mustDecodeHex(t, "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))
	tests := []struct {
		name    string
		pub     [33]byte
		network bitcoin.Network
		want    error
	}{
		{"zero key", [33]byte{}, bitcoin.Mainnet, bitcoin.ErrBadKey},
		{"uncompressed prefix", [33]byte(append([]byte{4}, g[1:]...)), bitcoin.Mainnet, bitcoin.ErrBadKey},
		{"x not on curve", [33]byte(mustDecodeHex(t, "020000000000000000000000000000000000000000000000000000000000000005")), bitcoin.Regtest, bitcoin.ErrBadKey},
		{"unknown network", g, "bitcoin", bitcoin.ErrNetwork},
		{"empty network", g, "", bitcoin.ErrNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, err := bitcoin.P2WPKHAddress(tc.pub, tc.network)
			if !errors.Is(err, tc.want) || addr != "" {
				t.Fatalf("P2WPKHAddress = %q, %v; want error %v", addr, err, tc.want)
			}
		})
	}
}

func mustDecodeHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
