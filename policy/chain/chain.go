package chain

import (
	"encoding/json"

	"github.com/countersign/countersign/policy/bip32"
)

// Scheme is a wallet's signature scheme: what its key generation made and
// what its signing sessions run.
type Scheme string

// Schemes.
const (
	// ECDSASecp256k1 is tss-lib's ECDSA over secp256k1 (Bitcoin,
	// Ethereum). Messages are 32-byte digests; signatures are r||s.
	ECDSASecp256k1 Scheme = "ecdsa-secp256k1"
	// EdDSAEd25519 is tss-lib's EdDSA over ed25519 (Solana). Messages are
	// the exact bytes signed; signatures are R||S as ed25519 defines.
	EdDSAEd25519 Scheme = "eddsa-ed25519"
)

// Key is the root of a threshold wallet as its key generation left it:
// nobody holds its private key.
type Key struct {
	Scheme Scheme
	// PublicKey is the group key: 33-byte compressed secp256k1, or a
	// 32-byte ed25519 point.
	PublicKey []byte
	// ChainCode is agreed in the key generation; with PublicKey it
	// derives every address of the wallet.
	ChainCode [32]byte
}

// Params are one wallet's chain parameters from the officer-signed
// policy bundle, parsed and checked by the chain's ParseParams: what the
// chain needs beyond the chain-neutral rules (Bitcoin: RBF and lock
// times; Ethereum: chain id, first nonce, gas cap, token registry, Safe).
// Only the chain that made a Params reads it.
type Params interface {
	// Network is the wallet's network, as intents name it.
	Network() string
	// FeeAsset is the asset fees are paid in ("BTC", "ETH").
	FeeAsset() string
	// Decimals returns the decimals of an asset the wallet may pay, and
	// false for an asset it may not.
	Decimals(asset string) (int, bool)
}

// Limits are the chain-neutral limits a decision passes to Rederive.
type Limits struct {
	// MaxFee caps the transaction's (worst-case) fee in the fee asset's
	// base units.
	MaxFee Amount
}

// Chain is one blockchain's re-derivation of withdrawals. Implementations
// are pure: the same arguments give the same answer on every machine.
type Chain interface {
	// Name is the intent's Chain: "bitcoin", "ethereum".
	Name() string
	// Scheme is the signature scheme of the chain's wallets.
	Scheme() Scheme
	// ParseParams reads and checks a wallet's chain parameters from a
	// bundle (raw may be empty: the chain's defaults, if it has any).
	ParseParams(network string, raw json.RawMessage) (Params, error)
	// CheckIntent checks an intent's chain fields (network, asset,
	// destination, amounts) without the unsigned transaction: nil, or the
	// [*Refusal] Rederive would return for it whatever the transaction.
	// With nil Params it checks what needs no policy (a node does so
	// before deciding, to answer InvalidArgument); assets the policy
	// registers (tokens) then pass.
	CheckIntent(in Intent, p Params) error
	// Rederive decodes the unsigned transaction, checks that it does
	// exactly what the intent asks within p and lim, paying from the
	// wallet's keys only, and returns what it does and what to sign.
	// Every error is a [*Refusal].
	Rederive(in Intent, unsignedTx []byte, wallet Key, p Params, lim Limits) (*Tx, error)
	// Address returns the wallet's address at path on network.
	Address(wallet Key, network string, path bip32.Path) (string, error)
	// AddressKey returns the identity of a destination on network: two
	// spellings of one destination have one key (Bitcoin: its output
	// script; Ethereum: its 20 bytes), and an address that is not valid
	// there is an error. Allowlists match by it, so look-alikes never do.
	AddressKey(network, address string) (string, error)
}

// Tx is a withdrawal's transaction as Rederive found it.
type Tx struct {
	// ID is what approvals name and officers compare: 64 lower-case hex
	// digits (Bitcoin: the txid; Ethereum: the transaction's signing hash;
	// a Safe: the SafeTx hash).
	ID string
	// Fee is the transaction's fee, or its worst case where the chain
	// fixes only a bound (Ethereum: maxFeePerGas × gasLimit), in FeeAsset.
	Fee      Amount
	FeeAsset string
	// Outflow is what may leave the wallet per asset: the amount in the
	// intent's asset and the fee in the fee asset.
	Outflow Amounts
	// Sign is what the wallet signs, in order.
	Sign []SignItem
	// Nonce is the account nonce the transaction uses, on account chains;
	// nil on others. The policy enforces one transaction per nonce.
	Nonce *NonceUse
	// Facts are what an officer sees, in order.
	Facts []Fact
	// Vars are the chain's own variables for CEL rules, beside the
	// chain-neutral ones.
	Vars map[string]any
	// Finish assembles the signed result from one signature per Sign
	// item (r||s for ECDSA) and checks it before it is released.
	Finish func(sigs [][64]byte) (*Finished, error) `json:"-"`
}

// SignItem is one message a withdrawal signs and the child key that signs
// it. Every member of a signing session derives it itself.
type SignItem struct {
	// Message is what is signed: a 32-byte digest for ECDSA, the exact
	// message for EdDSA.
	Message []byte
	// Path is the child key's path below the wallet's root.
	Path bip32.Path
	// Tweak moves the root key to the child: childPriv = rootPriv + Tweak.
	Tweak [32]byte
	// PublicKey is the child key, as the scheme encodes it.
	PublicKey []byte
}

// NonceUse is the account nonce a transaction uses.
type NonceUse struct {
	// Account names the account across chains and wallets, such as
	// "ethereum:1:0x…" or "safe:1:0x…".
	Account string
	Nonce   uint64
	// First is the policy's first nonce of the account: what the next
	// unsigned nonce is while a node has signed none.
	First uint64
	// Replaceable reports whether the policy lets a later withdrawal
	// replace this one under the same nonce with a higher fee.
	Replaceable bool
	// Fee is compared by a replacement: it must be higher.
	Fee Amount
}

// Fact is one line of what an officer sees.
type Fact struct {
	Label string
	Value string
	// Risk marks what an officer must look at twice.
	Risk bool
}

// Finished is a withdrawal's signed result.
type Finished struct {
	// Raw is what the backend broadcasts or passes on: a signed Bitcoin
	// transaction, a signed EIP-2718 transaction, a Safe owner signature.
	Raw []byte
	// TxID is the final transaction id, which for some chains signing
	// changes (Ethereum's transaction hash); 64 lower-case hex digits.
	TxID string
}
