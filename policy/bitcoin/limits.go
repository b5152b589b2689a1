package bitcoin

import (
	"fmt"

	"github.com/countersign/countersign/policy/chain"
)

// Limits of the package. Inputs beyond them are refused.
const (
	// MaxPSBTSize is the greatest length in bytes of a PSBT that
	// [Rederive] decodes.
	MaxPSBTSize = 1 << 20

	// MaxInputs is the greatest number of inputs of a withdrawal, whatever
	// [Limits.MaxInputs] says: one digest per input, and one signing
	// session signs at most 64.
	MaxInputs = 64

	// MaxOutputs is the greatest number of outputs of a withdrawal,
	// whatever [Limits.MaxOutputs] says.
	MaxOutputs = 64

	// MaxChangeIndex is the greatest change index i of a path m/1/i that
	// [Limits.ChangeIndexMax] may allow: about 16.7 million withdrawals
	// with change before the wallet's tooling must look further.
	MaxChangeIndex = 1<<24 - 1

	// MaxSatoshi is the greatest value of an output, of a sum of outputs
	// and of a fee: 21 million bitcoin.
	MaxSatoshi = 21_000_000 * 100_000_000

	// MaxWithdrawalIDLen is the greatest length of a withdrawal or wallet
	// id.
	MaxWithdrawalIDLen = chain.MaxIDLen

	// maxCanonicalIntent is the greatest length of an intent's canonical
	// bytes: far above what valid fields make.
	maxCanonicalIntent = 4096

	// LockTimeThreshold is the least lock time that Bitcoin reads as a
	// Unix time rather than a block height.
	LockTimeThreshold = 500_000_000

	// DustRelayFeeRate is the fee rate, in satoshis per 1000 virtual
	// bytes, behind an output's dust limit: Bitcoin Core's default
	// -dustrelayfee. See [DustLimit].
	DustRelayFeeRate = 3000

	// maxQuoted is the greatest number of bytes of an input quoted in an
	// error message.
	maxQuoted = 64
)

// The sequence numbers a withdrawal's inputs may carry.
const (
	// SequenceFinal disables replace-by-fee and lock time for the input.
	SequenceFinal = 0xffffffff
	// SequenceRBF signals replace-by-fee (BIP125) and keeps the lock time
	// in force; allowed only with [Limits.AllowRBF].
	SequenceRBF = 0xfffffffd
)

// Limits bound what [Rederive] accepts. They come from the node's policy,
// never from the request.
type Limits struct {
	// MaxFee is the greatest fee, in satoshis, whatever the intent's cap.
	MaxFee int64
	// MaxInputs is the greatest number of inputs, 1..[MaxInputs].
	MaxInputs int
	// MaxOutputs is the greatest number of outputs, destination and change
	// together, 1..[MaxOutputs].
	MaxOutputs int
	// MaxLockTime is the greatest lock time: a block height below
	// [LockTimeThreshold]. Lock times that are Unix times are always
	// refused.
	MaxLockTime uint32
	// AllowRBF allows inputs to carry [SequenceRBF]; without it every
	// input's sequence must be [SequenceFinal].
	AllowRBF bool
	// ChangeIndexMax is the greatest i of a change output's path m/1/i,
	// at most [MaxChangeIndex].
	ChangeIndexMax uint32
}

// check returns a refusal if l is out of range.
func (l Limits) check() *Refusal {
	switch {
	case l.MaxFee < 1 || l.MaxFee > MaxSatoshi:
		return refuse(RuleLimitsInvalid, "MaxFee is %d sats, want 1..%d", l.MaxFee, int64(MaxSatoshi))
	case l.MaxInputs < 1 || l.MaxInputs > MaxInputs:
		return refuse(RuleLimitsInvalid, "MaxInputs is %d, want 1..%d", l.MaxInputs, MaxInputs)
	case l.MaxOutputs < 1 || l.MaxOutputs > MaxOutputs:
		return refuse(RuleLimitsInvalid, "MaxOutputs is %d, want 1..%d", l.MaxOutputs, MaxOutputs)
	case l.MaxLockTime >= LockTimeThreshold:
		return refuse(RuleLimitsInvalid, "MaxLockTime is %d, want a block height below %d", l.MaxLockTime, LockTimeThreshold)
	case l.ChangeIndexMax > MaxChangeIndex:
		return refuse(RuleLimitsInvalid, "ChangeIndexMax is %d, at most %d", l.ChangeIndexMax, MaxChangeIndex)
	}
	return nil
}

// DustLimit returns the least value, in satoshis, of a standard output
// paying pkScript: Bitcoin Core's GetDustThreshold at [DustRelayFeeRate],
// the cost of creating the output and later spending it. That is 294 sats
// for P2WPKH, 330 for P2WSH and P2TR, 540 for P2SH and 546 for P2PKH.
func DustLimit(pkScript []byte) int64 {
	// The serialized output: value, script length, script.
	size := int64(8 + varIntSize(uint64(len(pkScript))) + len(pkScript))
	if isWitnessProgram(pkScript) {
		// A segwit input: outpoint 36, empty scriptSig 1, sequence 4,
		// and a 107-byte witness at a quarter of the weight.
		size += 32 + 4 + 1 + 107/4 + 4
	} else {
		// A legacy input with a 107-byte scriptSig.
		size += 32 + 4 + 1 + 107 + 4
	}
	return size * DustRelayFeeRate / 1000
}

// isWitnessProgram reports whether script is a segwit output script:
// a version opcode (OP_0, OP_1..OP_16) and one push of 2 to 40 bytes.
func isWitnessProgram(script []byte) bool {
	if len(script) < 4 || len(script) > 42 {
		return false
	}
	if script[0] != 0x00 && (script[0] < 0x51 || script[0] > 0x60) {
		return false
	}
	return int(script[1])+2 == len(script)
}

// varIntSize returns the length of n written as a Bitcoin CompactSize.
func varIntSize(n uint64) int {
	switch {
	case n < 0xfd:
		return 1
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}

// checkValue returns an error if v is not a possible amount.
func checkValue(v int64) error {
	if v < 0 || v > MaxSatoshi {
		return fmt.Errorf("%d sats is not in 0..%d", v, int64(MaxSatoshi))
	}
	return nil
}
