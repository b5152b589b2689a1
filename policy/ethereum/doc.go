// Package ethereum re-derives what a withdrawal from a threshold Ethereum
// wallet does from its unsigned transaction, so that the nodes sign
// nothing but the payment the intent asks for. It implements
// [chain.Chain] as [Chain].
//
// A wallet's key is a BIP32 child of its threshold root (package bip32)
// at the params' account_path, m/0/0 unless they say otherwise. It either
// sends from its own account, or co-signs as one owner of a Safe (the
// former Gnosis Safe) whose funds the withdrawal moves.
//
// # What is signed
//
// From the wallet's own account, the backend sends the unsigned EIP-1559
// transaction
//
//	0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas,
//	             gasLimit, to, value, data, accessList])
//
// and the nodes sign its Keccak-256 digest. Rederive accepts exactly two
// shapes: an ETH transfer (to = the destination, value = the amount, no
// data) and an ERC-20 transfer (to = the token's registered contract,
// value 0, data = a9059cbb ‖ 12 zero bytes ‖ the destination ‖ the amount
// as a 32-byte word, exactly 68 bytes), on the params' chain id, with an
// empty access list, within the params' gas cap, and with a worst-case
// fee maxFeePerGas × gasLimit within the intent's cap and the node's.
// [chain.Tx.Finish] normalises the signature to low s (EIP-2), finds its
// y-parity by recovery, assembles the signed transaction, decodes it
// again and recovers its sender, which must be the account, before it is
// released.
//
// For a Safe, the backend sends this package's envelope of a SafeTx
// ([SafeTx], [TypeSafeTx])
//
//	0x53 || rlp([safe, chainId, to, value, data, operation, safeTxGas,
//	             baseGas, gasPrice, gasToken, refundReceiver, nonce])
//
// in canonical RLP (addresses as 20-byte strings, integers big-endian
// without leading zeros). The node computes the EIP-712 SafeTx hash
// itself, under the domain of the Safe's version: EIP712Domain(address
// verifyingContract) for v1.1.1 and v1.2.0, EIP712Domain(uint256
// chainId,address verifyingContract) from v1.3.0. The inner call must be
// the same ETH or ERC-20 transfer as above, as a CALL (operation 0), with
// every refund field zero, safeTxGas within the Safe's cap, and not to
// the Safe itself or a MultiSend contract. Finish returns the owner's
// signature as Safe's checkSignatures reads it, r ‖ s ‖ v with v = 27 +
// y-parity, after checking that it recovers to the owner.
//
// # What it stops
//
// The Bybit theft (February 2025): three Safe owners signed, as an opaque
// hash, a SafeTx that DELEGATECALLed a contract replacing the Safe's
// logic; their screens showed a harmless transfer. Here the node decodes
// the SafeTx, hashes it itself and refuses operation 1 (safe.operation),
// a call to anything but the intent's destination or token contract
// (tx.to), and calls to the Safe (safe.self_call) or to MultiSend
// (safe.multisend). Its EOA form, an EIP-7702 set-code transaction that
// replaces the account's code, is refused by type (tx.set_code), as are
// legacy transactions, which replay on every EVM chain without EIP-155.
// Token approvals and other selectors, the Radiant Capital drain, are
// refused by name (data.selector); calldata is compared byte for byte, so
// the dirty address words and trailing bytes that lenient ABI decoders
// accept are refused (data.address_word, data.length).
//
// Guarantees:
//   - Functions are pure: no I/O, no clock, no global state. The same
//     arguments give the same verdict, and the same refusal, on every
//     machine.
//   - Decoding is strict: the RLP decoder ([DecodeRLP]) accepts only the
//     canonical encoding, and every transaction accepted re-encodes to
//     the bytes received, so one withdrawal has one byte form and one
//     digest. Malformed input is refused, never a panic.
//   - Addresses compare on their 20 bytes; an intent's destination must be
//     spelled in EIP-55 ([ParseAddress]).
//   - Every refusal of Rederive is a [*chain.Refusal] naming a stable
//     [Rule]; every limit is in limits.go.
//
// It does not know the chain: it cannot see balances, whether a nonce is
// already used on chain, or whether the key is really an owner of the
// Safe. The policy enforces one transaction per nonce ([chain.NonceUse]).
// It signs no messages (EIP-191, EIP-712 other than SafeTx), no
// contract calls besides ERC-20 transfer, and no transaction types besides
// EIP-1559. [BuildTransfer] and [BuildSafeTx] make requests Rederive
// accepts, for operators and tests.
//
// Only the standard library, golang.org/x/crypto/sha3 and btcec are
// used: go-ethereum is LGPL, heavy, and its ABI decoder is lenient. The
// test-only module internal/ethcheck checks every digest, signed
// transaction, SafeTx hash and RLP verdict of this package against
// go-ethereum's.
package ethereum
