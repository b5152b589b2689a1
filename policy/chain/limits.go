package chain

// Limits of intents, the same on every chain.
const (
	// MaxIDLen is the greatest length of a withdrawal, wallet or officer
	// id in an intent.
	MaxIDLen = 64
	// MaxIntentSize is the greatest length of an intent's canonical bytes:
	// far above what valid fields make.
	MaxIntentSize = 4096
	// MaxDestinationLen is the greatest length of a destination address.
	MaxDestinationLen = 128
	// MaxAssetLen is the greatest length of an asset's name.
	MaxAssetLen = 16
	// MaxAmountDigits is the most decimal digits of an [Amount]: 2^256-1
	// has 78.
	MaxAmountDigits = 78
	// MaxUnsignedTxSize is the greatest unsigned transaction any chain
	// reads; chains may set lower limits of their own.
	MaxUnsignedTxSize = 1 << 20
	// MaxSignItems is the most messages one withdrawal signs: what one
	// signing session signs at once.
	MaxSignItems = 64
)
