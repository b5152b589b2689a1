package bitcoin

// Limits of the package. Inputs beyond them are refused.
const (
	// MaxPathDepth is the greatest number of components in a derivation
	// path. Wallet addresses use two (m/0/i and m/1/i).
	MaxPathDepth = 4

	// maxQuoted is the greatest number of bytes of an input quoted in an
	// error message.
	maxQuoted = 64
)
