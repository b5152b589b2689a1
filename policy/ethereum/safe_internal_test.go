package ethereum

import "testing"

// TestSafeTypehashes checks the type hash constants against the digests
// of their EIP-712 type strings.
func TestSafeTypehashes(t *testing.T) {
	tests := []struct {
		name string
		got  Hash
		typ  string
	}{
		{"SafeTx", safeTxTypehash, "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"},
		{"legacy domain", safeLegacyDomainTypehash, "EIP712Domain(address verifyingContract)"},
		{"domain", safeDomainTypehash, "EIP712Domain(uint256 chainId,address verifyingContract)"},
	}
	for _, tc := range tests {
		if want := keccak256([]byte(tc.typ)); tc.got != want {
			t.Errorf("%s typehash %s, keccak256(%q) is %s", tc.name, tc.got, tc.typ, want)
		}
	}
	if tc := tests[0]; tc.got.String() != "bb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8" {
		t.Errorf("SafeTx typehash %s", tc.got)
	}
}
