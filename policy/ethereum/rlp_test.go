package ethereum_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	str  = func(s string) ethereum.RLP { return ethereum.RLPBytes([]byte(s)) }
	list = ethereum.RLPList
)

// TestRLPVectors checks the encoder and decoder on the examples of the
// Ethereum wiki's RLP page and the yellow paper.
func TestRLPVectors(t *testing.T) {
	lorem := "Lorem ipsum dolor sit amet, consectetur adipisicing elit"
	tests := []struct {
		name string
		v    ethereum.RLP
		want string
	}{
		{"dog", str("dog"), "83646f67"},
		{"cat dog", list(str("cat"), str("dog")), "c88363617483646f67"},
		{"empty string", str(""), "80"},
		{"empty list", list(), "c0"},
		{"integer 0", ethereum.RLPUint(0), "80"},
		{"byte 0x00", ethereum.RLPBytes([]byte{0}), "00"},
		{"byte 0x0f", ethereum.RLPBytes([]byte{0x0f}), "0f"},
		{"integer 15", ethereum.RLPUint(15), "0f"},
		{"integer 1024", ethereum.RLPUint(1024), "820400"},
		{"byte 0x80", ethereum.RLPBytes([]byte{0x80}), "8180"},
		{"set of three", list(list(), list(list()), list(list(), list(list()))), "c7c0c1c0c3c0c1c0"},
		{"56-byte string", str(lorem), "b838" + hex.EncodeToString([]byte(lorem))},
		{"55-byte string", str(lorem[:55]), "b7" + hex.EncodeToString([]byte(lorem[:55]))},
		{"integer 2^64-1", ethereum.RLPUint(1<<64 - 1), "88ffffffffffffffff"},
		{"integer 2^256-1", ethereum.RLPAmount(chain.MustAmount("115792089237316195423570985008687907853269984665640564039457584007913129639935")),
			"a0" + strings.Repeat("ff", 32)},
		{"list of 55 bytes", list(str(lorem[:54])), "f7b6" + hex.EncodeToString([]byte(lorem[:54]))},
		{"list of 56 bytes", list(str(lorem[:55])), "f838b7" + hex.EncodeToString([]byte(lorem[:55]))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.v.Encode()
			if hex.EncodeToString(got) != tc.want {
				t.Fatalf("Encode = %x, want %s", got, tc.want)
			}
			back, err := ethereum.DecodeRLP(got)
			if err != nil {
				t.Fatalf("DecodeRLP: %v", err)
			}
			if !bytes.Equal(back.Encode(), got) {
				t.Fatalf("decoded item re-encodes as %x", back.Encode())
			}
		})
	}
}

// TestRLPRefuses checks that every non-canonical or malformed encoding is
// refused, by the error expected.
func TestRLPRefuses(t *testing.T) {
	long := strings.Repeat("61", 56)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty input", "", ethereum.ErrRLPMalformed},
		{"single byte 0x00 as a string", "8100", ethereum.ErrRLPNonCanonical},
		{"single byte 0x7f as a string", "817f", ethereum.ErrRLPNonCanonical},
		{"short string in the long form", "b803646f67", ethereum.ErrRLPNonCanonical},
		{"55-byte string in the long form", "b837" + strings.Repeat("61", 55), ethereum.ErrRLPNonCanonical},
		{"long length with a leading zero", "b90038" + long, ethereum.ErrRLPNonCanonical},
		{"short list in the long form", "f803c0c0c0", ethereum.ErrRLPNonCanonical},
		{"list length with a leading zero", "f90038" + long, ethereum.ErrRLPNonCanonical},
		{"string longer than the input", "83646f", ethereum.ErrRLPMalformed},
		{"long string longer than the input", "b838" + strings.Repeat("61", 55), ethereum.ErrRLPMalformed},
		{"length of length beyond the input", "bf0102", ethereum.ErrRLPMalformed},
		{"huge length", "bfffffffffffffffff", ethereum.ErrRLPMalformed},
		{"list longer than the input", "c3c0c0", ethereum.ErrRLPMalformed},
		{"list whose item overruns it", "c283646f67", ethereum.ErrRLPMalformed},
		{"trailing bytes", "83646f6700", ethereum.ErrRLPMalformed},
		{"two items", "c0c0", ethereum.ErrRLPMalformed},
		{"nested too deep", "c4c3c2c1c0", ethereum.ErrRLPMalformed},
		{"too many items", "f90402" + strings.Repeat("c0", 1026), ethereum.ErrRLPMalformed},
		{"oversize", "ba020001" + strings.Repeat("61", 128<<10+1), ethereum.ErrRLPMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ethereum.DecodeRLP(mustHex(t, tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeRLP(%s) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
	// MaxRLPDepth lists nest, one more does not.
	if _, err := ethereum.DecodeRLP(mustHex(t, "c3c2c1c0")); err != nil {
		t.Fatalf("4 nested lists: %v", err)
	}
}

// FuzzRLP checks that the decoder accepts only canonical encodings:
// whatever decodes re-encodes byte for byte.
func FuzzRLP(f *testing.F) {
	for _, s := range []string{"83646f67", "c88363617483646f67", "80", "c0", "00", "8180", "c7c0c1c0c3c0c1c0",
		"b838" + strings.Repeat("61", 56), "8100", "b803646f67", "f90038" + strings.Repeat("61", 56),
		"f86c0102030482520894" + strings.Repeat("11", 20) + "80b844a9059cbb" + strings.Repeat("00", 68) + "c0"} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ethereum.DecodeRLP(b)
		if err != nil {
			if !errors.Is(err, ethereum.ErrRLPMalformed) && !errors.Is(err, ethereum.ErrRLPNonCanonical) {
				t.Fatalf("DecodeRLP: %v wraps neither sentinel", err)
			}
			return
		}
		if got := v.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("%x decodes but re-encodes as %x", b, got)
		}
	})
}
