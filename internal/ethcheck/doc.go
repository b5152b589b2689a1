// Package ethcheck cross-checks package policy/ethereum against
// go-ethereum, an independent implementation, on the same vectors:
// signing hashes (types.NewLondonSigner), signed transactions
// (types.Transaction.UnmarshalBinary, types.Sender), SafeTx hashes
// (apitypes' EIP-712 hashing), ERC-20 calldata (accounts/abi), EIP-55
// addresses and RLP (go-ethereum's strict rlp package).
//
// It is a separate, test-only module: go-ethereum (LGPL-3.0, some 60
// modules) is never a requirement of countersign's own module and is
// never linked into a binary. The package has no code besides its tests.
// Run them with
//
//	cd internal/ethcheck && go test ./...
package ethcheck
