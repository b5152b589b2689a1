package mpc

// Limits of this package, all in one place.
const (
	// MaxMessageSize bounds one protocol message. Key generation's first
	// round, the largest, is about 140 KiB with 2048-bit moduli.
	MaxMessageSize = 1 << 20
	// MaxCommittee bounds the number of parties in one protocol.
	MaxCommittee = 16
	// MaxDigests bounds the digests one signing session signs at once.
	MaxDigests = 64
	// outBuffer is the capacity of tss-lib's outgoing channel: one call
	// into tss-lib may advance several rounds, each sending at most a
	// message per party.
	outBuffer = 16 * (MaxCommittee + 2)
)
