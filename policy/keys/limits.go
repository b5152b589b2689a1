package keys

import "time"

// Limits of the package. Inputs beyond them are refused.
const (
	// MaxSignatureSize is the greatest length in bytes of an armored
	// signature that [Verify] accepts. Signatures of accepted keys armor to
	// 300 to 500 bytes.
	MaxSignatureSize = 8 << 10

	// MaxPublicKeySize is the greatest length in bytes of a line that
	// [ParsePublicKey] reads, comment included. Accepted keys take under
	// 300 bytes without their comment.
	MaxPublicKeySize = 2 << 10

	// maxKeyFileSize is the greatest length in bytes of a private key file
	// that [LoadKeyFile] reads. OpenSSH writes ed25519 and P-256 keys in
	// under 600 bytes.
	maxKeyFileSize = 16 << 10

	// agentTimeout bounds one exchange with ssh-agent: connecting, and
	// signing, a touch of the security key included.
	agentTimeout = 2 * time.Minute

	// maxQuoted is the greatest number of bytes of an input quoted in an
	// error message.
	maxQuoted = 64
)
