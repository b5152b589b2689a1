package ethereum

// Limits of the package. Inputs beyond them are refused.
const (
	// MaxTxSize is the greatest length in bytes of an unsigned
	// transaction (EIP-1559 or SafeTx) that Rederive decodes: go-ethereum's
	// transaction pool admits nothing longer. A transfer is under 200.
	MaxTxSize = 128 << 10

	// MaxRLPSize is the greatest input DecodeRLP reads.
	MaxRLPSize = MaxTxSize

	// MaxRLPDepth is the deepest nesting of RLP lists the decoder reads:
	// a transaction's list, its access list, an access tuple and the
	// tuple's storage keys.
	MaxRLPDepth = 4

	// MaxRLPItems is the most RLP items, strings and lists together, that
	// one decode reads. A transfer has 9 to 12.
	MaxRLPItems = 1024

	// MaxIntBytes is the greatest length of an integer's big-endian bytes:
	// the EVM's integers have 256 bits.
	MaxIntBytes = 32

	// MaxNonce is the greatest account or Safe nonce signed. EIP-2681 caps
	// account nonces at 2^64-2; CEL rules read the nonce as an int64, and
	// no account comes near 2^63.
	MaxNonce = 1<<63 - 1

	// MaxChainID is the greatest chain id, EIP-2294's bound
	// floor(2^64-1 / 2) - 36, so that chain ids fit CEL's int64 and
	// EIP-155's v.
	MaxChainID = (1<<64-1)/2 - 36

	// MinGasLimit is the gas every transaction pays before it runs: a gas
	// limit below it can never be mined.
	MinGasLimit = 21_000

	// MaxGasLimit is the greatest gas limit (and safeTxGas) the params may
	// allow: EIP-7825's cap on one transaction's gas, 2^24.
	MaxGasLimit = 1 << 24

	// DefaultMaxGasLimit is the params' gas cap when they name none:
	// enough for an ERC-20 transfer of any common token.
	DefaultMaxGasLimit = 100_000

	// MaxParamsSize is the greatest length in bytes of a wallet's
	// Ethereum params.
	MaxParamsSize = 64 << 10

	// MaxTokens is the most tokens one wallet's registry lists.
	MaxTokens = 64

	// MaxSymbolLen is the greatest length of a token symbol.
	MaxSymbolLen = 16

	// MaxDecimals is the most decimals a registered token may have.
	MaxDecimals = 36

	// NativeDecimals are ETH's decimals: 1 ETH is 10^18 wei.
	NativeDecimals = 18

	// TransferCalldataLen is the length of ERC-20 transfer(address,uint256)
	// calldata: a 4-byte selector and two 32-byte words.
	TransferCalldataLen = 4 + 32 + 32
)
