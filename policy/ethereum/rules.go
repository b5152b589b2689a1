package ethereum

import (
	"fmt"

	"github.com/countersign/countersign/policy/chain"
)

// Rule is the stable code of a check that Rederive applies, as package
// chain defines codes: written in audit logs and read by programs, a code
// is never renamed, never reused for another check and never removed; new
// checks get new codes.
//
// Rederive applies the checks in stages, in the order of this table: the
// node's limits and the params, the wallet's key, the intent (package
// chain's checks of its fields first), the transaction's envelope (size,
// then type), its encoding (field by field, in the transaction's order),
// the Safe's fields for a SafeTx, what the call does, gas and fees. It
// reports the first check that fails, so the same request is refused for
// the same reason on every node. [ParseParams] refuses by the rules
// params.invalid and safe.legacy_domain.
//
//	code                              refused when
//	limits.invalid                    the node's Limits are out of range (a configuration error)
//	params.invalid                    the params are not this package's, or are out of range
//	safe.legacy_domain                a Safe below v1.3.0 is named without accept_legacy_domain
//	wallet.invalid_key                the wallet's root is not a compressed secp256k1 key
//	wallet.account_path               the wallet has no child key at the params' account_path
//	intent.withdrawal_id              the withdrawal id is not 1 to 64 of [A-Za-z0-9._:-]
//	intent.wallet_id                  the wallet id is not 1 to 64 of [A-Za-z0-9._:-]
//	intent.requested_by               the requesting officer is not 1 to 64 of [A-Za-z0-9._:-]
//	intent.replaces                   replaces names no other withdrawal id
//	intent.amount                     the amount is zero, or an ETH amount plus the fee cap reaches 2^256
//	intent.fee_cap                    the fee cap is zero
//	intent.destination_invalid        the destination is not "0x" and 40 hex digits, or is the zero address
//	intent.asset                      the asset is neither "ETH" nor a token of the params' registry
//	intent.chain                      the intent's chain is not "ethereum"
//	intent.network                    the intent's network is not the params'
//	intent.replacement                the intent replaces a withdrawal and the params do not allow replacement
//	intent.destination_noncanonical   the destination is not spelled in EIP-55 (the detail names the spelling)
//	intent.destination_self           the destination is the wallet's Safe
//	intent.destination_token          the destination is a registered token contract
//	tx.too_large                      the unsigned transaction is longer than MaxTxSize
//	tx.malformed                      it is empty, not RLP, or a field is of the wrong kind or length
//	tx.legacy                         it is a legacy transaction (first byte 0xc0 or more)
//	tx.access_list_type               it is an EIP-2930 transaction (type 0x01)
//	tx.blob                           it is an EIP-4844 blob transaction (type 0x03)
//	tx.set_code                       it is an EIP-7702 set-code transaction (type 0x04)
//	tx.type_unknown                   its type is none of the above, 0x02 nor 0x53
//	safe.none                         it is a SafeTx (0x53) and the params name no Safe
//	safe.expected                     the params name a Safe and it is not a SafeTx
//	tx.noncanonical                   its RLP or an integer is not in canonical form, or it re-encodes differently
//	tx.signed                         it carries signature fields (12 fields for type 0x02)
//	tx.field_count                    its list has not 9 fields (type 0x02) or 12 (SafeTx)
//	tx.int_range                      an integer has more than 256 bits
//	tx.nonce_range                    the nonce is above MaxNonce
//	tx.gas_limit                      the gas limit is below 21000, above the params' max_gas_limit or over 64 bits
//	tx.contract_creation              "to" is empty: the transaction creates a contract
//	tx.access_list                    the access list is not empty
//	safe.address                      the SafeTx is for another Safe than the params'
//	tx.chain_id                       the chain id is not the params'
//	safe.operation                    the SafeTx's operation is not 0 (CALL): 1 is DELEGATECALL, the Bybit attack
//	safe.refund                       baseGas, gasPrice, gasToken or refundReceiver is not zero
//	safe.tx_gas                       safeTxGas is above the Safe's max_safe_tx_gas
//	safe.self_call                    the SafeTx calls the Safe itself (owners, threshold, modules, guard, handler, singleton)
//	safe.multisend                    the SafeTx calls a MultiSend or MultiSendCallOnly deployment
//	tx.to                             the call's "to" is not the destination (ETH) or the token's registered contract
//	tx.value                          an ETH transfer's value is not the intent's amount
//	tx.token_value                    a token transfer carries ETH value
//	data.nonempty                     an ETH transfer carries calldata
//	data.length                       token calldata is not exactly 68 bytes
//	data.selector                     token calldata does not call transfer(address,uint256) (a9059cbb)
//	data.address_word                 the recipient's word has non-zero high bytes
//	data.recipient                    the transfer's recipient is not the destination
//	data.amount                       the transfer's amount is not the intent's
//	tx.priority_fee                   maxPriorityFeePerGas is above maxFeePerGas
//	fee.over_intent_cap               the worst-case fee maxFeePerGas × gasLimit is above the intent's fee cap
//	fee.over_policy_cap               the worst-case fee is above Limits.MaxFee
type Rule = chain.Rule

// The rules, in the order Rederive applies them. The intent's field rules
// are package chain's.
const (
	RuleLimitsInvalid      Rule = "limits.invalid"
	RuleParamsInvalid      Rule = "params.invalid"
	RuleSafeLegacyDomain   Rule = "safe.legacy_domain"
	RuleWalletKey          Rule = "wallet.invalid_key"
	RuleWalletAccountPath  Rule = "wallet.account_path"
	RuleIntentReplacement  Rule = "intent.replacement"
	RuleIntentDestSpelling Rule = "intent.destination_noncanonical"
	RuleIntentDestSelf     Rule = "intent.destination_self"
	RuleIntentDestToken    Rule = "intent.destination_token"
	RuleTxTooLarge         Rule = "tx.too_large"
	RuleTxMalformed        Rule = "tx.malformed"
	RuleTxLegacy           Rule = "tx.legacy"
	RuleTxAccessListType   Rule = "tx.access_list_type"
	RuleTxBlob             Rule = "tx.blob"
	RuleTxSetCode          Rule = "tx.set_code"
	RuleTxTypeUnknown      Rule = "tx.type_unknown"
	RuleSafeNone           Rule = "safe.none"
	RuleSafeExpected       Rule = "safe.expected"
	RuleTxNonCanonical     Rule = "tx.noncanonical"
	RuleTxSigned           Rule = "tx.signed"
	RuleTxFieldCount       Rule = "tx.field_count"
	RuleTxIntRange         Rule = "tx.int_range"
	RuleTxNonceRange       Rule = "tx.nonce_range"
	RuleTxGasLimit         Rule = "tx.gas_limit"
	RuleTxContractCreation Rule = "tx.contract_creation"
	RuleTxAccessList       Rule = "tx.access_list"
	RuleSafeAddress        Rule = "safe.address"
	RuleTxChainID          Rule = "tx.chain_id"
	RuleSafeOperation      Rule = "safe.operation"
	RuleSafeRefund         Rule = "safe.refund"
	RuleSafeTxGas          Rule = "safe.tx_gas"
	RuleSafeSelfCall       Rule = "safe.self_call"
	RuleSafeMultiSend      Rule = "safe.multisend"
	RuleTxTo               Rule = "tx.to"
	RuleTxValue            Rule = "tx.value"
	RuleTxTokenValue       Rule = "tx.token_value"
	RuleDataNonEmpty       Rule = "data.nonempty"
	RuleDataLength         Rule = "data.length"
	RuleDataSelector       Rule = "data.selector"
	RuleDataAddressWord    Rule = "data.address_word"
	RuleDataRecipient      Rule = "data.recipient"
	RuleDataAmount         Rule = "data.amount"
	RuleTxPriorityFee      Rule = "tx.priority_fee"
	RuleFeeOverIntent      Rule = "fee.over_intent_cap"
	RuleFeeOverPolicy      Rule = "fee.over_policy_cap"
)

// Rules lists every rule in the order Rederive applies them.
func Rules() []Rule {
	return []Rule{
		RuleLimitsInvalid, RuleParamsInvalid, RuleSafeLegacyDomain, RuleWalletKey, RuleWalletAccountPath,
		chain.RuleIntentWithdrawalID, chain.RuleIntentWalletID, chain.RuleIntentRequestedBy, chain.RuleIntentReplaces,
		chain.RuleIntentAmount, chain.RuleIntentFeeCap, chain.RuleIntentDestinationInvalid, chain.RuleIntentAsset,
		chain.RuleIntentChain, chain.RuleIntentNetwork, RuleIntentReplacement,
		RuleIntentDestSpelling, RuleIntentDestSelf, RuleIntentDestToken,
		RuleTxTooLarge, RuleTxMalformed, RuleTxLegacy, RuleTxAccessListType, RuleTxBlob, RuleTxSetCode,
		RuleTxTypeUnknown, RuleSafeNone, RuleSafeExpected,
		RuleTxNonCanonical, RuleTxSigned, RuleTxFieldCount, RuleTxIntRange, RuleTxNonceRange, RuleTxGasLimit,
		RuleTxContractCreation, RuleTxAccessList,
		RuleSafeAddress, RuleTxChainID, RuleSafeOperation, RuleSafeRefund, RuleSafeTxGas,
		RuleSafeSelfCall, RuleSafeMultiSend,
		RuleTxTo, RuleTxValue, RuleTxTokenValue,
		RuleDataNonEmpty, RuleDataLength, RuleDataSelector, RuleDataAddressWord, RuleDataRecipient, RuleDataAmount,
		RuleTxPriorityFee, RuleFeeOverIntent, RuleFeeOverPolicy,
	}
}

// Name is the chain's name in intents and refusals.
const Name = "ethereum"

// refuse returns a Refusal of this chain; Ethereum transactions have no
// inputs or outputs to name.
func refuse(rule Rule, format string, args ...any) *chain.Refusal {
	return &chain.Refusal{Chain: Name, Rule: rule, Detail: fmt.Sprintf(format, args...), Input: -1, Output: -1}
}

// quote returns s quoted for an error message, cut to 64 bytes.
func quote(s string) string { return chain.Quote(s) }
