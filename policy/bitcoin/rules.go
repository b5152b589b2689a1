package bitcoin

import (
	"fmt"

	"github.com/countersign/countersign/policy/chain"
)

// Rule is the stable code of a check that [Rederive] applies. Codes are
// written in audit logs and read by programs: a code is never renamed,
// never reused for another check and never removed; new checks get new
// codes.
//
// Rederive applies the checks in stages, in the order of this table: the
// limits and wallet key, the intent, the PSBT's encoding (global map, then
// each input's, then each output's), the transaction, each input in turn,
// the outputs (all values, all dust limits, the destination, then each
// change output), the fee. It reports the first check that fails, so the
// same request is refused for the same reason on every node.
//
//	code                                 refused when
//	limits.invalid                       the node's Limits are out of range (a configuration error)
//	wallet.invalid_key                   the wallet's root key is not a point on the curve
//	intent.withdrawal_id                 the withdrawal id is not 1 to 64 of [A-Za-z0-9._:-]
//	intent.wallet_id                     the wallet id is not 1 to 64 of [A-Za-z0-9._:-]
//	intent.network                       the network is unknown
//	intent.requested_by                  the requesting officer is not 1 to 64 of [A-Za-z0-9._:-]
//	intent.asset                         the asset is not "BTC"
//	intent.amount                        the amount is not in 1..21e14 sats
//	intent.fee_cap                       the fee cap is not in 1..21e14 sats
//	intent.destination_invalid           the destination is not a Bitcoin address
//	intent.destination_network           the destination is an address of another network
//	intent.destination_type              the destination is not P2PKH, P2SH, P2WPKH, P2WSH or P2TR
//	intent.destination_noncanonical      the destination is not spelled as the address encoder spells it
//	psbt.too_large                       the PSBT is longer than MaxPSBTSize
//	psbt.malformed                       the PSBT does not decode, or bytes follow it
//	psbt.unknown_field                   a global, input or output map holds a field this package does not read
//	psbt.signed                          an input carries a signature or a final scriptSig or witness
//	psbt.script_field                    an input or output carries a redeem or witness script
//	psbt.taproot_field                   an input or output carries a taproot field
//	tx.version                           the unsigned transaction's version is not 1 or 2
//	tx.input_count                       no inputs, or more than Limits.MaxInputs
//	tx.output_count                      no outputs, or more than Limits.MaxOutputs
//	tx.lock_time                         the lock time is a timestamp or a height above Limits.MaxLockTime
//	tx.sequence                          a sequence is not final (nor 0xfffffffd when Limits.AllowRBF)
//	tx.duplicate_input                   two inputs spend the same outpoint
//	input.non_witness_utxo_missing       an input has no previous transaction (non_witness_utxo)
//	input.non_witness_utxo_txid          the previous transaction's id is not the outpoint's
//	input.non_witness_utxo_index         the previous transaction has no output at the outpoint's index
//	input.value_range                    the spent output's value is not in 0..21e14 sats
//	input.witness_utxo_missing           an input has no witness_utxo
//	input.witness_utxo_mismatch          witness_utxo differs from the spent output (value or script)
//	input.script_type                    the spent output is not P2WPKH
//	input.sighash_type                   the sighash type is present and not SIGHASH_ALL
//	input.derivation_count               an input has not exactly one BIP32 derivation
//	input.derivation_fingerprint         the derivation's fingerprint is not the wallet root's
//	input.derivation_path                the derivation's path is hardened, too deep or has no child
//	input.derivation_mismatch            the key derived at the claimed path does not pay the spent script
//	input.derivation_pubkey              the derivation's public key is not the one derived at its path
//	input.total_range                    the spent outputs add up to more than 21e14 sats
//	output.value_range                   an output's value is not in 0..21e14 sats
//	output.total_range                   the outputs add up to more than 21e14 sats
//	output.dust                          an output pays less than its dust limit
//	output.destination_duplicate         more than one output pays the destination
//	output.destination_missing           no output pays the destination
//	output.destination_amount            the destination output's value is not the intent's amount
//	output.unexpected                    an output is neither the destination nor carries a change derivation
//	output.change_derivation_count       a change output has more than one BIP32 derivation
//	output.change_fingerprint            a change derivation's fingerprint is not the wallet root's
//	output.change_path                   a change derivation's path is not m/1/i
//	output.change_index                  a change derivation's index is above Limits.ChangeIndexMax
//	output.change_mismatch               the key derived at the change path does not pay the output's script
//	output.change_pubkey                 the change derivation's public key is not the one derived at its path
//	fee.negative                         the outputs pay more than the inputs spend
//	fee.over_intent_cap                  the fee is above the intent's fee cap
//	fee.over_policy_cap                  the fee is above Limits.MaxFee
//	tx.sighash                           a signature digest cannot be computed (not expected to happen)
type Rule = chain.Rule

// The rules, in the order Rederive applies them.
const (
	RuleLimitsInvalid Rule = "limits.invalid"
	RuleWalletKey     Rule = "wallet.invalid_key"

	RuleIntentWithdrawalID             = chain.RuleIntentWithdrawalID
	RuleIntentWalletID                 = chain.RuleIntentWalletID
	RuleIntentNetwork                  = chain.RuleIntentNetwork
	RuleIntentRequestedBy              = chain.RuleIntentRequestedBy
	RuleIntentAsset                    = chain.RuleIntentAsset
	RuleIntentAmount                   = chain.RuleIntentAmount
	RuleIntentFeeCap                   = chain.RuleIntentFeeCap
	RuleIntentDestinationInvalid       = chain.RuleIntentDestinationInvalid
	RuleIntentDestinationNetwork  Rule = "intent.destination_network"
	RuleIntentDestinationType     Rule = "intent.destination_type"
	RuleIntentDestinationSpelling Rule = "intent.destination_noncanonical"

	RulePSBTTooLarge    Rule = "psbt.too_large"
	RulePSBTMalformed   Rule = "psbt.malformed"
	RulePSBTUnknown     Rule = "psbt.unknown_field"
	RulePSBTSigned      Rule = "psbt.signed"
	RulePSBTScriptField Rule = "psbt.script_field"
	RulePSBTTaproot     Rule = "psbt.taproot_field"

	RuleTxVersion        Rule = "tx.version"
	RuleTxInputCount     Rule = "tx.input_count"
	RuleTxOutputCount    Rule = "tx.output_count"
	RuleTxLockTime       Rule = "tx.lock_time"
	RuleTxSequence       Rule = "tx.sequence"
	RuleTxDuplicateInput Rule = "tx.duplicate_input"

	RuleInputPrevTxMissing       Rule = "input.non_witness_utxo_missing"
	RuleInputPrevTxID            Rule = "input.non_witness_utxo_txid"
	RuleInputPrevTxIndex         Rule = "input.non_witness_utxo_index"
	RuleInputValueRange          Rule = "input.value_range"
	RuleInputWitnessUTXOMissing  Rule = "input.witness_utxo_missing"
	RuleInputWitnessUTXOMismatch Rule = "input.witness_utxo_mismatch"
	RuleInputScriptType          Rule = "input.script_type"
	RuleInputSighashType         Rule = "input.sighash_type"
	RuleInputDerivationCount     Rule = "input.derivation_count"
	RuleInputDerivationFinger    Rule = "input.derivation_fingerprint"
	RuleInputDerivationPath      Rule = "input.derivation_path"
	RuleInputDerivationMismatch  Rule = "input.derivation_mismatch"
	RuleInputDerivationPublicKey Rule = "input.derivation_pubkey"
	RuleInputTotalRange          Rule = "input.total_range"

	RuleOutputValueRange           Rule = "output.value_range"
	RuleOutputTotalRange           Rule = "output.total_range"
	RuleOutputDust                 Rule = "output.dust"
	RuleOutputDestinationDuplicate Rule = "output.destination_duplicate"
	RuleOutputDestinationMissing   Rule = "output.destination_missing"
	RuleOutputDestinationAmount    Rule = "output.destination_amount"
	RuleOutputUnexpected           Rule = "output.unexpected"
	RuleOutputChangeCount          Rule = "output.change_derivation_count"
	RuleOutputChangeFingerprint    Rule = "output.change_fingerprint"
	RuleOutputChangePath           Rule = "output.change_path"
	RuleOutputChangeIndex          Rule = "output.change_index"
	RuleOutputChangeMismatch       Rule = "output.change_mismatch"
	RuleOutputChangePublicKey      Rule = "output.change_pubkey"

	RuleFeeNegative   Rule = "fee.negative"
	RuleFeeOverIntent Rule = "fee.over_intent_cap"
	RuleFeeOverPolicy Rule = "fee.over_policy_cap"
	RuleTxSighash     Rule = "tx.sighash"
)

// Rules lists every rule in the order [Rederive] applies them.
func Rules() []Rule {
	return []Rule{
		RuleLimitsInvalid, RuleWalletKey,
		RuleIntentWithdrawalID, RuleIntentWalletID, RuleIntentNetwork, RuleIntentRequestedBy, RuleIntentAsset,
		RuleIntentAmount, RuleIntentFeeCap, RuleIntentDestinationInvalid,
		RuleIntentDestinationNetwork, RuleIntentDestinationType, RuleIntentDestinationSpelling,
		RulePSBTTooLarge, RulePSBTMalformed, RulePSBTUnknown, RulePSBTSigned,
		RulePSBTScriptField, RulePSBTTaproot,
		RuleTxVersion, RuleTxInputCount, RuleTxOutputCount, RuleTxLockTime,
		RuleTxSequence, RuleTxDuplicateInput,
		RuleInputPrevTxMissing, RuleInputPrevTxID, RuleInputPrevTxIndex, RuleInputValueRange,
		RuleInputWitnessUTXOMissing, RuleInputWitnessUTXOMismatch, RuleInputScriptType,
		RuleInputSighashType, RuleInputDerivationCount, RuleInputDerivationFinger,
		RuleInputDerivationPath, RuleInputDerivationMismatch, RuleInputDerivationPublicKey,
		RuleInputTotalRange,
		RuleOutputValueRange, RuleOutputTotalRange, RuleOutputDust,
		RuleOutputDestinationDuplicate, RuleOutputDestinationMissing, RuleOutputDestinationAmount,
		RuleOutputUnexpected, RuleOutputChangeCount, RuleOutputChangeFingerprint,
		RuleOutputChangePath, RuleOutputChangeIndex, RuleOutputChangeMismatch,
		RuleOutputChangePublicKey,
		RuleFeeNegative, RuleFeeOverIntent, RuleFeeOverPolicy,
		RuleTxSighash,
	}
}

// Refusal is the error [Rederive] returns for a request it will not sign:
// a [chain.Refusal] whose Chain is "bitcoin". errors.Is(r, [ErrRefused])
// is true for every Refusal.
type Refusal = chain.Refusal

// refuse returns a Refusal concerning neither an input nor an output.
func refuse(rule Rule, format string, args ...any) *Refusal {
	return &Refusal{Chain: Name, Rule: rule, Detail: fmt.Sprintf(format, args...), Input: -1, Output: -1}
}

// refuseInput returns a Refusal concerning input i.
func refuseInput(rule Rule, i int, format string, args ...any) *Refusal {
	return &Refusal{Chain: Name, Rule: rule, Detail: fmt.Sprintf(format, args...), Input: i, Output: -1}
}

// refuseOutput returns a Refusal concerning output i.
func refuseOutput(rule Rule, i int, format string, args ...any) *Refusal {
	return &Refusal{Chain: Name, Rule: rule, Detail: fmt.Sprintf(format, args...), Input: -1, Output: i}
}
