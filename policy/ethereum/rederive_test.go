package ethereum_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/sha3"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

// The addresses of the tests, spelled in EIP-55 (they are EIP-55's own
// examples).
const (
	testDest     = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	testAttacker = "0x52908400098527886E0F7030069857D2E4169EE7"
	testSafe     = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
	testUSDC     = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
	testDAI      = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"
)

const gwei = 1_000_000_000

// testParams returns the JSON params of the test wallet: on sepolia, with
// USDC and DAI registered, and with a Safe if safe is set.
func testParams(safe bool) map[string]any {
	p := map[string]any{
		"chain_id":      11155111,
		"account_path":  "m/0/0",
		"first_nonce":   5,
		"max_gas_limit": 100000,
		"tokens":        []any{map[string]any{"symbol": "USDC", "contract": testUSDC, "decimals": 6}, map[string]any{"symbol": "DAI", "contract": testDAI, "decimals": 18}},
	}
	if safe {
		p["safe"] = map[string]any{"address": testSafe, "version": "1.3.0", "first_nonce": 3, "max_safe_tx_gas": 50000}
	}
	return p
}

func parseTestParams(t testing.TB, network string, p map[string]any) *ethereum.Params {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := ethereum.ParseParams(network, raw)
	if err != nil {
		t.Fatalf("ParseParams: %v", err)
	}
	return pp
}

// testIntent returns an intent paying amount of asset to testDest.
func testIntent(asset string, amount, feeCap uint64) chain.Intent {
	return chain.Intent{
		Version:      chain.IntentV2,
		WithdrawalID: "w-42",
		WalletID:     "hot-eth",
		Chain:        "ethereum",
		Network:      "sepolia",
		Asset:        asset,
		Destination:  testDest,
		Amount:       chain.AmountOf(amount),
		FeeCap:       chain.AmountOf(feeCap),
	}
}

func testLimits() chain.Limits { return chain.Limits{MaxFee: chain.AmountOf(10_000_000 * gwei)} } // 0.01 ETH

// The base withdrawals the adversarial cases edit.
const (
	baseETH       = "eth"        // 0.25 ETH from the account, nonce 7, 21000 gas at 30 gwei
	baseToken     = "token"      // 1.5 USDC from the account, nonce 7, 65000 gas at 30 gwei
	baseSafeETH   = "safe-eth"   // 0.25 ETH from the Safe, Safe nonce 3
	baseSafeToken = "safe-token" // 1.5 USDC from the Safe, Safe nonce 3
)

var bases = []string{baseETH, baseToken, baseSafeETH, baseSafeToken}

// adversary is one request to a node: an intent, the params, an unsigned
// transaction and the node's limits, as a case edits them from a valid
// withdrawal.
type adversary struct {
	t       testing.TB
	w       *testWallet
	base    string
	in      chain.Intent
	network string
	params  map[string]any // encoded and parsed unless p is set
	p       chain.Params
	lim     chain.Limits
	wallet  chain.Key
	tx      *ethereum.DynamicFeeTx // the transaction, encoded after the edit unless raw is set
	safe    *ethereum.SafeTx       // for a Safe base, instead of tx
	raw     []byte
}

func newAdversary(t testing.TB, base string) *adversary {
	t.Helper()
	w := newTestWallet(t)
	isSafe := strings.HasPrefix(base, "safe")
	a := &adversary{t: t, w: w, base: base, network: "sepolia", params: testParams(isSafe), lim: testLimits(), wallet: w.key}
	pp := parseTestParams(t, a.network, a.params)
	switch base {
	case baseETH, baseSafeETH:
		a.in = testIntent("ETH", 250_000_000*gwei, 1_000_000*gwei)
	case baseToken, baseSafeToken:
		a.in = testIntent("USDC", 1_500_000, 5_000_000*gwei)
	default:
		t.Fatalf("no base %q", base)
	}
	if isSafe {
		raw, err := ethereum.BuildSafeTx(pp, a.in, 3, 0)
		if err != nil {
			t.Fatalf("BuildSafeTx: %v", err)
		}
		if a.safe, err = ethereum.ParseSafeTx(raw); err != nil {
			t.Fatalf("ParseSafeTx: %v", err)
		}
		return a
	}
	gas := uint64(21_000)
	if base == baseToken {
		gas = 65_000
	}
	raw, err := ethereum.BuildTransfer(pp, a.in, 7, chain.AmountOf(1*gwei), chain.AmountOf(30*gwei), gas)
	if err != nil {
		t.Fatalf("BuildTransfer: %v", err)
	}
	if a.tx, err = ethereum.ParseDynamicFeeTx(raw); err != nil {
		t.Fatalf("ParseDynamicFeeTx: %v", err)
	}
	return a
}

// encode returns the unsigned transaction's bytes.
func (a *adversary) encode() []byte {
	switch {
	case a.raw != nil:
		return a.raw
	case a.safe != nil:
		return a.safe.Encode()
	}
	return a.tx.Unsigned()
}

// safeParams returns the params' Safe object.
func (a *adversary) safeParams() map[string]any { return a.params["safe"].(map[string]any) }

// fields returns the decoded fields of the encoding.
func (a *adversary) fields() []ethereum.RLP {
	v, err := ethereum.DecodeRLP(a.encode()[1:])
	if err != nil {
		a.t.Fatal(err)
	}
	return v.List
}

// setFields encodes fields as the transaction's list.
func (a *adversary) setFields(fields []ethereum.RLP) {
	a.raw = ethereum.RLPList(fields...).Append([]byte{a.encode()[0]})
}

// spliceField replaces field i's encoding by raw bytes, which may be
// non-canonical.
func (a *adversary) spliceField(i int, item []byte) {
	prefix := a.encode()[0]
	var payload []byte
	for j, f := range a.fields() {
		if j == i {
			payload = append(payload, item...)
		} else {
			payload = f.Append(payload)
		}
	}
	a.raw = append(append([]byte{prefix}, listHeader(len(payload))...), payload...)
}

// listHeader returns the canonical header of an RLP list of n bytes.
func listHeader(n int) []byte {
	if n < 56 {
		return []byte{0xc0 + byte(n)}
	}
	var b []byte
	for v := n; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return append([]byte{0xf7 + byte(len(b))}, b...)
}

// rederive runs the request through ParseParams and Rederive.
func (a *adversary) rederive() (*chain.Tx, error) {
	p := a.p
	if p == nil {
		raw, err := json.Marshal(a.params)
		if err != nil {
			a.t.Fatal(err)
		}
		pp, err := ethereum.ParseParams(a.network, raw)
		if err != nil {
			return nil, err
		}
		p = pp
	}
	return ethereum.Chain{}.Rederive(a.in, a.encode(), a.wallet, p, a.lim)
}

func amount(s string) chain.Amount { return chain.MustAmount(s) }

func addrBytes(t testing.TB, s string) []byte {
	a := mustAddress(t, s)
	return a[:]
}

func addr(t testing.TB, s string) *ethereum.Address {
	a := mustAddress(t, s)
	return &a
}

// foreignParams are chain.Params of another chain.
type foreignParams struct{}

func (foreignParams) Network() string             { return "sepolia" }
func (foreignParams) FeeAsset() string            { return "ETH" }
func (foreignParams) Decimals(string) (int, bool) { return 18, true }

// selectorCall returns calldata calling the named function with words.
func selectorCall(signature string, words ...[]byte) []byte {
	d := sha3.NewLegacyKeccak256()
	d.Write([]byte(signature))
	b := d.Sum(nil)[:4]
	for _, w := range words {
		b = append(b, w...)
	}
	return b
}

func wordOf(b []byte) []byte { return append(make([]byte, 32-len(b)), b...) }

// adversarialCases are hostile requests, each a valid base withdrawal
// with one thing changed and refused by one rule.
var adversarialCases = []struct {
	name string
	base string
	want chain.Rule
	edit func(a *adversary)
}{
	// The node's configuration and the params.
	{"no policy fee cap", baseToken, ethereum.RuleLimitsInvalid, func(a *adversary) { a.lim.MaxFee = chain.Amount{} }},
	{"params of another chain", baseToken, ethereum.RuleParamsInvalid, func(a *adversary) { a.p = foreignParams{} }},
	{"no params", baseETH, ethereum.RuleParamsInvalid, func(a *adversary) { a.p = (*ethereum.Params)(nil) }},
	{"zero params", baseETH, ethereum.RuleParamsInvalid, func(a *adversary) { a.p = &ethereum.Params{} }},
	{"params chain id of another network", baseToken, ethereum.RuleParamsInvalid, func(a *adversary) { a.params["chain_id"] = 1 }},
	{"params with an unknown field", baseToken, ethereum.RuleParamsInvalid, func(a *adversary) { a.params["max_fee"] = 1 }},
	{"Safe v1.1.1 without consent to its domain", baseSafeToken, ethereum.RuleSafeLegacyDomain, func(a *adversary) {
		a.safeParams()["version"] = "1.1.1"
	}},
	{"Safe v1.2.0 without consent to its domain", baseSafeETH, ethereum.RuleSafeLegacyDomain, func(a *adversary) {
		a.safeParams()["version"] = "1.2.0"
	}},
	{"EdDSA wallet", baseToken, ethereum.RuleWalletKey, func(a *adversary) { a.wallet.Scheme = chain.EdDSAEd25519 }},
	{"wallet key off the curve", baseToken, ethereum.RuleWalletKey, func(a *adversary) {
		a.wallet.PublicKey = append([]byte{0x02}, bytes.Repeat([]byte{0xff}, 32)...)
	}},
	{"wallet key of 32 bytes", baseETH, ethereum.RuleWalletKey, func(a *adversary) { a.wallet.PublicKey = a.wallet.PublicKey[1:] }},

	// The intent.
	{"bad withdrawal id", baseToken, chain.RuleIntentWithdrawalID, func(a *adversary) { a.in.WithdrawalID = "w 42" }},
	{"bad wallet id", baseToken, chain.RuleIntentWalletID, func(a *adversary) { a.in.WalletID = "" }},
	{"bad requested_by", baseToken, chain.RuleIntentRequestedBy, func(a *adversary) { a.in.RequestedBy = "eve\n" }},
	{"replaces itself", baseToken, chain.RuleIntentReplaces, func(a *adversary) { a.in.Replaces = a.in.WithdrawalID }},
	{"zero amount", baseETH, chain.RuleIntentAmount, func(a *adversary) { a.in.Amount = chain.Amount{} }},
	{"zero fee cap", baseETH, chain.RuleIntentFeeCap, func(a *adversary) { a.in.FeeCap = chain.Amount{} }},
	{"empty destination", baseETH, chain.RuleIntentDestinationInvalid, func(a *adversary) { a.in.Destination = "" }},
	{"empty asset", baseETH, chain.RuleIntentAsset, func(a *adversary) { a.in.Asset = "" }},
	{"bitcoin intent", baseToken, chain.RuleIntentChain, func(a *adversary) { a.in.Chain = "bitcoin" }},
	{"mainnet intent for a sepolia wallet", baseToken, chain.RuleIntentNetwork, func(a *adversary) { a.in.Network = "mainnet" }},
	{"replacement not allowed", baseToken, ethereum.RuleIntentReplacement, func(a *adversary) { a.in.Replaces = "w-41" }},
	{"unregistered token", baseToken, chain.RuleIntentAsset, func(a *adversary) { a.in.Asset = "USDT" }},
	{"token symbol in lower case", baseToken, chain.RuleIntentAsset, func(a *adversary) { a.in.Asset = "usdc" }},
	{"BTC", baseETH, chain.RuleIntentAsset, func(a *adversary) { a.in.Asset = "BTC" }},
	{"destination not hex", baseToken, chain.RuleIntentDestinationInvalid, func(a *adversary) { a.in.Destination = "0x" + strings.Repeat("zz", 20) }},
	{"destination of 19 bytes", baseToken, chain.RuleIntentDestinationInvalid, func(a *adversary) { a.in.Destination = testDest[:40] }},
	{"destination without 0x", baseToken, chain.RuleIntentDestinationInvalid, func(a *adversary) { a.in.Destination = testDest[2:] }},
	{"destination the zero address", baseETH, chain.RuleIntentDestinationInvalid, func(a *adversary) {
		a.in.Destination = "0x" + strings.Repeat("0", 40)
	}},
	{"destination in lower case", baseToken, ethereum.RuleIntentDestSpelling, func(a *adversary) { a.in.Destination = strings.ToLower(testDest) }},
	{"destination with a bad checksum", baseETH, ethereum.RuleIntentDestSpelling, func(a *adversary) {
		a.in.Destination = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	}},
	{"destination the wallet's Safe", baseSafeETH, ethereum.RuleIntentDestSelf, func(a *adversary) { a.in.Destination = testSafe }},
	{"destination a token contract", baseToken, ethereum.RuleIntentDestToken, func(a *adversary) { a.in.Destination = testDAI }},

	// The envelope.
	{"oversize", baseToken, ethereum.RuleTxTooLarge, func(a *adversary) {
		a.raw = append([]byte{ethereum.TypeDynamicFee}, make([]byte, ethereum.MaxTxSize)...)
	}},
	{"empty", baseToken, ethereum.RuleTxMalformed, func(a *adversary) { a.raw = []byte{} }},
	{"legacy transaction", baseETH, ethereum.RuleTxLegacy, func(a *adversary) {
		// [nonce, gasPrice, gasLimit, to, value, data]: no chain id.
		a.raw = ethereum.RLPList(ethereum.RLPUint(7), ethereum.RLPUint(30*gwei), ethereum.RLPUint(21000),
			ethereum.RLPBytes(addrBytes(a.t, testDest)), ethereum.RLPUint(1), ethereum.RLPBytes(nil)).Encode()
	}},
	{"EIP-2930 transaction", baseETH, ethereum.RuleTxAccessListType, func(a *adversary) { a.raw = append([]byte{0x01}, a.encode()[1:]...) }},
	{"EIP-4844 blob transaction", baseToken, ethereum.RuleTxBlob, func(a *adversary) { a.raw = append([]byte{0x03}, a.encode()[1:]...) }},
	{"EIP-7702 set-code transaction", baseToken, ethereum.RuleTxSetCode, func(a *adversary) { a.raw = append([]byte{0x04}, a.encode()[1:]...) }},
	{"EIP-7702 set-code for a Safe wallet", baseSafeToken, ethereum.RuleTxSetCode, func(a *adversary) {
		a.raw = append([]byte{0x04}, a.encode()[1:]...)
	}},
	{"type 0x05", baseToken, ethereum.RuleTxTypeUnknown, func(a *adversary) { a.raw = append([]byte{0x05}, a.encode()[1:]...) }},
	{"type 0x00", baseToken, ethereum.RuleTxTypeUnknown, func(a *adversary) { a.raw = append([]byte{0x00}, a.encode()[1:]...) }},
	{"type 0x7e", baseToken, ethereum.RuleTxTypeUnknown, func(a *adversary) { a.raw = append([]byte{0x7e}, a.encode()[1:]...) }},
	{"SafeTx for a wallet without a Safe", baseToken, ethereum.RuleSafeNone, func(a *adversary) {
		a.raw = (&ethereum.SafeTx{Safe: mustAddress(a.t, testSafe), ChainID: chain.AmountOf(11155111), To: mustAddress(a.t, testDest)}).Encode()
	}},
	{"EIP-1559 transaction for a Safe wallet", baseSafeETH, ethereum.RuleSafeExpected, func(a *adversary) {
		b := newAdversary(a.t, baseETH)
		a.raw = b.encode()
	}},

	// The encoding.
	{"body is an RLP string", baseToken, ethereum.RuleTxMalformed, func(a *adversary) {
		a.raw = append([]byte{ethereum.TypeDynamicFee}, ethereum.RLPBytes([]byte("abc")).Encode()...)
	}},
	{"truncated", baseToken, ethereum.RuleTxMalformed, func(a *adversary) { raw := a.encode(); a.raw = raw[:len(raw)-1] }},
	{"trailing byte", baseToken, ethereum.RuleTxMalformed, func(a *adversary) { a.raw = append(a.encode(), 0) }},
	{"trailing byte after a SafeTx", baseSafeToken, ethereum.RuleTxMalformed, func(a *adversary) { a.raw = append(a.encode(), 0) }},
	{"to of 19 bytes", baseETH, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[5] = ethereum.RLPBytes(f[5].Bytes[:19])
		a.setFields(f)
	}},
	{"data a list", baseToken, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[7] = ethereum.RLPList(f[7])
		a.setFields(f)
	}},
	{"access list a string", baseToken, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[8] = ethereum.RLPBytes(nil)
		a.setFields(f)
	}},
	{"nonce a list", baseToken, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[1] = ethereum.RLPList()
		a.setFields(f)
	}},
	{"storage key of 31 bytes", baseToken, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[8] = ethereum.RLPList(ethereum.RLPList(ethereum.RLPBytes(make([]byte, 20)), ethereum.RLPList(ethereum.RLPBytes(make([]byte, 31)))))
		a.setFields(f)
	}},
	{"Safe address of 21 bytes", baseSafeETH, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[0] = ethereum.RLPBytes(append(f[0].Bytes, 0))
		a.setFields(f)
	}},
	{"Safe gasToken empty instead of 20 zero bytes", baseSafeETH, ethereum.RuleTxMalformed, func(a *adversary) {
		f := a.fields()
		f[9] = ethereum.RLPBytes(nil)
		a.setFields(f)
	}},
	{"nonce with a leading zero", baseToken, ethereum.RuleTxNonCanonical, func(a *adversary) { a.spliceField(1, []byte{0x82, 0x00, 0x07}) }},
	{"nonce 0 as a zero byte", baseToken, ethereum.RuleTxNonCanonical, func(a *adversary) { a.spliceField(1, []byte{0x00}) }},
	{"nonce 7 as a string of length 1", baseToken, ethereum.RuleTxNonCanonical, func(a *adversary) { a.spliceField(1, []byte{0x81, 0x07}) }},
	{"data in the long form", baseToken, ethereum.RuleTxNonCanonical, func(a *adversary) {
		a.spliceField(7, append([]byte{0xb9, 0x00, 0x44}, a.fields()[7].Bytes...))
	}},
	{"Safe value with a leading zero", baseSafeETH, ethereum.RuleTxNonCanonical, func(a *adversary) {
		v := a.fields()[3].Bytes
		a.spliceField(3, append([]byte{0x80 + byte(len(v)+1), 0}, v...))
	}},
	{"signed transaction", baseToken, ethereum.RuleTxSigned, func(a *adversary) {
		a.setFields(append(a.fields(), ethereum.RLPUint(1), ethereum.RLPBytes(bytes.Repeat([]byte{1}, 32)), ethereum.RLPBytes(bytes.Repeat([]byte{2}, 32))))
	}},
	{"8 fields", baseToken, ethereum.RuleTxFieldCount, func(a *adversary) { a.setFields(a.fields()[:8]) }},
	{"10 fields", baseToken, ethereum.RuleTxFieldCount, func(a *adversary) { a.setFields(append(a.fields(), ethereum.RLPBytes(nil))) }},
	{"SafeTx of 11 fields", baseSafeToken, ethereum.RuleTxFieldCount, func(a *adversary) { a.setFields(a.fields()[:11]) }},
	{"value over 256 bits", baseETH, ethereum.RuleTxIntRange, func(a *adversary) {
		f := a.fields()
		f[6] = ethereum.RLPBytes(append([]byte{1}, make([]byte, 32)...))
		a.setFields(f)
	}},
	{"Safe nonce over 256 bits", baseSafeETH, ethereum.RuleTxIntRange, func(a *adversary) {
		f := a.fields()
		f[11] = ethereum.RLPBytes(bytes.Repeat([]byte{0xff}, 33))
		a.setFields(f)
	}},
	{"nonce 2^63", baseToken, ethereum.RuleTxNonceRange, func(a *adversary) {
		f := a.fields()
		f[1] = ethereum.RLPUint(1 << 63)
		a.setFields(f)
	}},
	{"nonce 2^64", baseETH, ethereum.RuleTxNonceRange, func(a *adversary) {
		f := a.fields()
		f[1] = ethereum.RLPBytes(append([]byte{1}, make([]byte, 8)...))
		a.setFields(f)
	}},
	{"Safe nonce 2^64-1", baseSafeToken, ethereum.RuleTxNonceRange, func(a *adversary) { a.safe.Nonce = chain.AmountOf(1<<64 - 1) }},
	{"gas limit over 64 bits", baseToken, ethereum.RuleTxGasLimit, func(a *adversary) {
		f := a.fields()
		f[4] = ethereum.RLPBytes(append([]byte{1}, make([]byte, 8)...))
		a.setFields(f)
	}},
	{"contract creation", baseETH, ethereum.RuleTxContractCreation, func(a *adversary) { a.tx.To = nil }},
	{"access list", baseToken, ethereum.RuleTxAccessList, func(a *adversary) {
		a.tx.AccessList = []ethereum.AccessTuple{{Address: mustAddress(a.t, testUSDC), StorageKeys: [][32]byte{{1}}}}
	}},
	{"empty access tuple", baseETH, ethereum.RuleTxAccessList, func(a *adversary) {
		a.tx.AccessList = []ethereum.AccessTuple{{Address: mustAddress(a.t, testAttacker)}}
	}},

	// A Safe's fields.
	{"SafeTx for another Safe", baseSafeToken, ethereum.RuleSafeAddress, func(a *adversary) { a.safe.Safe = mustAddress(a.t, testAttacker) }},
	{"SafeTx for mainnet", baseSafeToken, ethereum.RuleTxChainID, func(a *adversary) { a.safe.ChainID = chain.AmountOf(1) }},
	{"delegatecall (Bybit)", baseSafeToken, ethereum.RuleSafeOperation, func(a *adversary) { a.safe.Operation = chain.AmountOf(1) }},
	{"operation 2", baseSafeETH, ethereum.RuleSafeOperation, func(a *adversary) { a.safe.Operation = chain.AmountOf(2) }},
	{"gas refund: baseGas", baseSafeToken, ethereum.RuleSafeRefund, func(a *adversary) { a.safe.BaseGas = chain.AmountOf(1) }},
	{"gas refund: gasPrice", baseSafeToken, ethereum.RuleSafeRefund, func(a *adversary) { a.safe.GasPrice = chain.AmountOf(1) }},
	{"gas refund in a token", baseSafeETH, ethereum.RuleSafeRefund, func(a *adversary) { a.safe.GasToken = mustAddress(a.t, testUSDC) }},
	{"gas refund receiver", baseSafeETH, ethereum.RuleSafeRefund, func(a *adversary) { a.safe.RefundReceiver = mustAddress(a.t, testAttacker) }},
	{"safeTxGas over the cap", baseSafeToken, ethereum.RuleSafeTxGas, func(a *adversary) { a.safe.SafeTxGas = chain.AmountOf(50_001) }},
	{"call to the Safe itself (addOwnerWithThreshold)", baseSafeETH, ethereum.RuleSafeSelfCall, func(a *adversary) {
		a.safe.To = mustAddress(a.t, testSafe)
		a.safe.Value = chain.Amount{}
		a.safe.Data = selectorCall("addOwnerWithThreshold(address,uint256)", wordOf(addrBytes(a.t, testAttacker)), wordOf([]byte{1}))
	}},
	{"call to MultiSendCallOnly v1.4.1", baseSafeToken, ethereum.RuleSafeMultiSend, func(a *adversary) {
		a.safe.To = mustAddress(a.t, "0x9641d764fc13c8B624c04430C7356C1C7C8102e2")
	}},
	{"call to MultiSend v1.3.0", baseSafeETH, ethereum.RuleSafeMultiSend, func(a *adversary) {
		a.safe.To = mustAddress(a.t, "0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761")
	}},

	// The chain.
	{"mainnet chain id", baseToken, ethereum.RuleTxChainID, func(a *adversary) { a.tx.ChainID = chain.AmountOf(1) }},
	{"chain id 0", baseETH, ethereum.RuleTxChainID, func(a *adversary) { a.tx.ChainID = chain.Amount{} }},

	// What the call does: DMM Bitcoin's and Radiant Capital's losses.
	{"ETH to another address", baseETH, ethereum.RuleTxTo, func(a *adversary) { a.tx.To = addr(a.t, testAttacker) }},
	{"ETH from the Safe to another address", baseSafeETH, ethereum.RuleTxTo, func(a *adversary) { a.safe.To = mustAddress(a.t, testAttacker) }},
	{"token call to another contract", baseToken, ethereum.RuleTxTo, func(a *adversary) { a.tx.To = addr(a.t, testDAI) }},
	{"token transfer calldata sent to the destination", baseToken, ethereum.RuleTxTo, func(a *adversary) { a.tx.To = addr(a.t, testDest) }},
	{"Safe token call to another contract", baseSafeToken, ethereum.RuleTxTo, func(a *adversary) { a.safe.To = mustAddress(a.t, testAttacker) }},
	{"ETH one wei short", baseETH, ethereum.RuleTxValue, func(a *adversary) { a.tx.Value, _ = a.tx.Value.Sub(chain.AmountOf(1)) }},
	{"ETH one wei over", baseETH, ethereum.RuleTxValue, func(a *adversary) { a.tx.Value, _ = a.tx.Value.Add(chain.AmountOf(1)) }},
	{"Safe ETH amount doubled", baseSafeETH, ethereum.RuleTxValue, func(a *adversary) { a.safe.Value, _ = a.safe.Value.Add(a.safe.Value) }},
	{"token transfer with ETH value", baseToken, ethereum.RuleTxTokenValue, func(a *adversary) { a.tx.Value = chain.AmountOf(1) }},
	{"Safe token transfer with ETH value", baseSafeToken, ethereum.RuleTxTokenValue, func(a *adversary) { a.safe.Value = chain.AmountOf(1) }},
	{"ETH with calldata", baseETH, ethereum.RuleDataNonEmpty, func(a *adversary) { a.tx.Data = []byte{0} }},
	{"Safe ETH with calldata", baseSafeETH, ethereum.RuleDataNonEmpty, func(a *adversary) {
		a.safe.Data = ethereum.TransferCalldata(mustAddress(a.t, testDest), chain.AmountOf(1))
	}},
	{"token calldata empty", baseToken, ethereum.RuleDataLength, func(a *adversary) { a.tx.Data = nil }},
	{"token calldata of 3 bytes", baseToken, ethereum.RuleDataLength, func(a *adversary) { a.tx.Data = a.tx.Data[:3] }},
	{"token calldata of 67 bytes", baseToken, ethereum.RuleDataLength, func(a *adversary) { a.tx.Data = a.tx.Data[:67] }},
	{"trailing calldata", baseToken, ethereum.RuleDataLength, func(a *adversary) { a.tx.Data = append(a.tx.Data, 0) }},
	{"trailing word", baseSafeToken, ethereum.RuleDataLength, func(a *adversary) { a.safe.Data = append(a.safe.Data, make([]byte, 32)...) }},
	{"approve", baseToken, ethereum.RuleDataSelector, func(a *adversary) {
		a.tx.Data = selectorCall("approve(address,uint256)", a.tx.Data[4:36], a.tx.Data[36:])
	}},
	{"increaseAllowance", baseSafeToken, ethereum.RuleDataSelector, func(a *adversary) {
		a.safe.Data = selectorCall("increaseAllowance(address,uint256)", a.safe.Data[4:36], a.safe.Data[36:])
	}},
	{"transferFrom", baseToken, ethereum.RuleDataSelector, func(a *adversary) {
		a.tx.Data = selectorCall("transferFrom(address,address,uint256)", wordOf(addrBytes(a.t, testAttacker)), a.tx.Data[4:36], a.tx.Data[36:])
	}},
	{"permit", baseToken, ethereum.RuleDataSelector, func(a *adversary) {
		a.tx.Data = selectorCall("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)", make([]byte, 7*32))
	}},
	{"unknown selector", baseToken, ethereum.RuleDataSelector, func(a *adversary) { a.tx.Data[0] ^= 1 }},
	{"dirty address word", baseToken, ethereum.RuleDataAddressWord, func(a *adversary) { a.tx.Data[4+11] = 1 }},
	{"dirty address word, first byte", baseSafeToken, ethereum.RuleDataAddressWord, func(a *adversary) { a.safe.Data[4] = 0xff }},
	{"transfer to another recipient", baseToken, ethereum.RuleDataRecipient, func(a *adversary) {
		a.tx.Data = ethereum.TransferCalldata(mustAddress(a.t, testAttacker), a.in.Amount)
	}},
	{"Safe transfer to another recipient", baseSafeToken, ethereum.RuleDataRecipient, func(a *adversary) {
		a.safe.Data = ethereum.TransferCalldata(strangerAddress("recipient"), a.in.Amount)
	}},
	{"transfer of one base unit more", baseToken, ethereum.RuleDataAmount, func(a *adversary) {
		more, _ := a.in.Amount.Add(chain.AmountOf(1))
		a.tx.Data = ethereum.TransferCalldata(mustAddress(a.t, testDest), more)
	}},
	{"transfer of the amount in 18 decimals", baseSafeToken, ethereum.RuleDataAmount, func(a *adversary) {
		a.safe.Data = ethereum.TransferCalldata(mustAddress(a.t, testDest), amount("1500000000000000000"))
	}},

	{"ETH amount plus the fee cap over 2^256", baseETH, chain.RuleIntentAmount, func(a *adversary) {
		a.in.Amount = amount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
		a.tx.Value = a.in.Amount
	}},

	// Gas and fees.
	{"priority fee above the max fee", baseToken, ethereum.RuleTxPriorityFee, func(a *adversary) {
		a.tx.MaxPriorityFeePerGas, _ = a.tx.MaxFeePerGas.Add(chain.AmountOf(1))
	}},
	{"gas limit below 21000", baseETH, ethereum.RuleTxGasLimit, func(a *adversary) { a.tx.GasLimit = 20_999 }},
	{"gas limit over the params' cap", baseToken, ethereum.RuleTxGasLimit, func(a *adversary) { a.tx.GasLimit = 100_001 }},
	{"gas limit lowered in the params", baseToken, ethereum.RuleTxGasLimit, func(a *adversary) { a.params["max_gas_limit"] = 60_000 }},
	{"worst-case fee over the intent's cap", baseToken, ethereum.RuleFeeOverIntent, func(a *adversary) {
		a.in.FeeCap = chain.AmountOf(65_000*30*gwei - 1)
	}},
	{"max fee per gas raised", baseETH, ethereum.RuleFeeOverIntent, func(a *adversary) { a.tx.MaxFeePerGas = chain.AmountOf(1000 * gwei) }},
	{"worst-case fee overflows 2^256", baseToken, ethereum.RuleFeeOverIntent, func(a *adversary) {
		a.tx.MaxFeePerGas = amount("115792089237316195423570985008687907853269984665640564039457584007913129639935")
		a.tx.MaxPriorityFeePerGas = chain.Amount{}
	}},
	{"worst-case fee over the policy's cap", baseToken, ethereum.RuleFeeOverPolicy, func(a *adversary) {
		a.lim.MaxFee = chain.AmountOf(65_000*30*gwei - 1)
	}},
}

// TestRederiveRefuses checks that each hostile request is refused by the
// rule expected, and that every rule has a case.
func TestRederiveRefuses(t *testing.T) {
	for _, base := range bases {
		t.Run("base "+base+" is valid", func(t *testing.T) {
			if _, err := newAdversary(t, base).rederive(); err != nil {
				t.Fatalf("Rederive: %v", err)
			}
		})
	}
	seen := map[chain.Rule]bool{}
	for _, tc := range adversarialCases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdversary(t, tc.base)
			tc.edit(a)
			tx, err := a.rederive()
			if tx != nil {
				t.Fatalf("Rederive returned a transaction with error %v", err)
			}
			var r *chain.Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Rederive: %v (%T), want a *chain.Refusal", err, err)
			}
			if r.Rule != tc.want {
				t.Fatalf("refused by %s (%s), want %s", r.Rule, r.Detail, tc.want)
			}
			if r.Chain != "ethereum" || r.Input != -1 || r.Output != -1 || r.Detail == "" {
				t.Errorf("refusal %+v: want chain ethereum, no input or output, a detail", r)
			}
			if want := "ethereum: refused (" + string(tc.want) + "): "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			seen[r.Rule] = true
		})
	}
	// Every rule has a case, except the account path's: BIP32 has no child
	// key at a valid path with probability about 2^-127.
	for _, rule := range ethereum.Rules() {
		if !seen[rule] && rule != ethereum.RuleWalletAccountPath {
			t.Errorf("no case is refused by %s", rule)
		}
	}
}

// TestRefusalDetails checks the details that name what an officer must
// know: the right spelling, the selector's function, the Bybit operation.
func TestRefusalDetails(t *testing.T) {
	tests := []struct {
		name, base string
		edit       func(a *adversary)
		want       string
	}{
		{"spelling", baseToken, func(a *adversary) { a.in.Destination = strings.ToLower(testDest) }, "is spelled " + testDest},
		{"approve", baseToken, func(a *adversary) {
			a.tx.Data = selectorCall("approve(address,uint256)", a.tx.Data[4:36], a.tx.Data[36:])
		}, "approve(address,uint256) (095ea7b3)"},
		{"increaseAllowance", baseToken, func(a *adversary) {
			a.tx.Data = selectorCall("increaseAllowance(address,uint256)", a.tx.Data[4:36], a.tx.Data[36:])
		}, "increaseAllowance(address,uint256) (39509351)"},
		{"transferFrom", baseToken, func(a *adversary) {
			a.tx.Data = selectorCall("transferFrom(address,address,uint256)", a.tx.Data[4:36], a.tx.Data[4:36], a.tx.Data[36:])
		}, "transferFrom(address,address,uint256) (23b872dd)"},
		{"permit", baseToken, func(a *adversary) {
			a.tx.Data = selectorCall("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)", make([]byte, 7*32))
		}, "(d505accf)"},
		{"delegatecall", baseSafeETH, func(a *adversary) { a.safe.Operation = chain.AmountOf(1) }, "DELEGATECALL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdversary(t, tc.base)
			tc.edit(a)
			_, err := a.rederive()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
}

// TestRefusalDeterministic checks that a request failing several rules is
// refused by the same one every time.
func TestRefusalDeterministic(t *testing.T) {
	a := newAdversary(t, baseToken)
	a.tx.To = addr(t, testAttacker)
	a.tx.GasLimit = 1
	a.tx.ChainID = chain.AmountOf(1)
	a.tx.Data = a.tx.Data[:10]
	for range 20 {
		if _, err := a.rederive(); refusalRule(err) != ethereum.RuleTxChainID {
			t.Fatalf("refused by %v, want %s", err, ethereum.RuleTxChainID)
		}
	}
}

// TestRederive checks what Rederive returns for each base withdrawal.
func TestRederive(t *testing.T) {
	for _, base := range bases {
		t.Run(base, func(t *testing.T) {
			a := newAdversary(t, base)
			raw := a.encode()
			tx, err := a.rederive()
			if err != nil {
				t.Fatal(err)
			}
			from := a.w.address(t, bip32.ReceivePath(0))
			child := a.w.childKey(t, bip32.ReceivePath(0))
			isSafe := a.safe != nil
			token := a.in.Asset != "ETH"

			var wantID string
			if isSafe {
				h, err := a.safe.Hash("1.3.0")
				if err != nil {
					t.Fatal(err)
				}
				wantID = h.String()
			} else {
				wantID = keccakHex(raw)
			}
			if tx.ID != wantID {
				t.Errorf("ID = %s, want %s", tx.ID, wantID)
			}
			if len(tx.Sign) != 1 || hex.EncodeToString(tx.Sign[0].Message) != wantID ||
				!bytes.Equal(tx.Sign[0].PublicKey, child.PubKey().SerializeCompressed()) ||
				!slices.Equal(tx.Sign[0].Path, bip32.ReceivePath(0)) {
				t.Errorf("Sign = %+v", tx.Sign)
			}
			wantFee := chain.Amount{}
			switch {
			case base == baseETH:
				wantFee = chain.AmountOf(21_000 * 30 * gwei)
			case base == baseToken:
				wantFee = chain.AmountOf(65_000 * 30 * gwei)
			}
			if !tx.Fee.Equal(wantFee) || tx.FeeAsset != "ETH" {
				t.Errorf("Fee = %s %s, want %s ETH", tx.Fee, tx.FeeAsset, wantFee)
			}
			wantOutflow := chain.Amounts{a.in.Asset: a.in.Amount}
			if !isSafe {
				wantOutflow, _ = wantOutflow.Plus(chain.Amounts{"ETH": wantFee})
			}
			if len(tx.Outflow) != len(wantOutflow) {
				t.Errorf("Outflow = %v, want %v", tx.Outflow, wantOutflow)
			}
			for k, v := range wantOutflow {
				if !tx.Outflow[k].Equal(v) {
					t.Errorf("Outflow[%s] = %s, want %s", k, tx.Outflow[k], v)
				}
			}
			wantNonce := chain.NonceUse{Account: "ethereum:11155111:" + from.Lower(), Nonce: 7, First: 5, Fee: wantFee}
			if isSafe {
				wantNonce = chain.NonceUse{Account: "safe:11155111:" + strings.ToLower(testSafe), Nonce: 3, First: 3}
			}
			if n := tx.Nonce; n == nil || n.Account != wantNonce.Account || n.Nonce != wantNonce.Nonce || n.First != wantNonce.First ||
				n.Replaceable || !n.Fee.Equal(wantNonce.Fee) {
				t.Errorf("Nonce = %+v, want %+v", tx.Nonce, wantNonce)
			}
			wantContract := ""
			if token {
				wantContract = testUSDC
			}
			gas := map[string]int64{baseETH: 21000, baseToken: 65000}[base]
			nonce := int64(7)
			if isSafe {
				nonce = 3
			}
			wantVars := map[string]any{"nonce": nonce, "gas_limit": gas, "chain_id": int64(11155111), "safe": isSafe, "token_contract": wantContract}
			for k, v := range wantVars {
				if tx.Vars[k] != v {
					t.Errorf("Vars[%s] = %#v, want %#v", k, tx.Vars[k], v)
				}
			}
			if len(tx.Vars) != len(wantVars) {
				t.Errorf("Vars = %v", tx.Vars)
			}
			facts := map[string]chain.Fact{}
			for _, f := range tx.Facts {
				facts[f.Label] = f
			}
			if f := facts["Pays"]; f.Value != testDest || !f.Risk {
				t.Errorf("fact Pays = %+v", f)
			}
			wantAmount := "0.25 ETH (250000000000000000 wei)"
			if token {
				wantAmount = "1.5 USDC (1500000 base units)"
			}
			if f := facts["Amount"]; f.Value != wantAmount || !f.Risk {
				t.Errorf("fact Amount = %+v, want %s", f, wantAmount)
			}
			if f := facts["Chain"]; f.Value != "sepolia (chain id 11155111)" {
				t.Errorf("fact Chain = %+v", f)
			}
			if token && facts["Token contract"].Value != testUSDC {
				t.Errorf("fact Token contract = %+v", facts["Token contract"])
			}
			if base == baseToken && facts["Worst-case fee"].Value != "0.00195 ETH (1950000000000000 wei), the intent's cap 0.005 ETH (5000000000000000 wei)" {
				t.Errorf("fact Worst-case fee = %+v", facts["Worst-case fee"])
			}
			if isSafe && (facts["Signature domain"].Risk || facts["Operation"].Value != "CALL") {
				t.Errorf("Safe facts = %+v", tx.Facts)
			}
			if !strings.Contains(facts[map[bool]string{true: "Owner signing", false: "From"}[isSafe]].Value, from.String()) {
				t.Errorf("facts name no sender %s: %+v", from, tx.Facts)
			}
		})
	}
}

// TestReplacement checks a withdrawal that replaces another where the
// params allow it: the nonce is replaceable and the officer is told. A
// Safe's nonce is never replaced: a SafeTx has no fee to raise.
func TestReplacement(t *testing.T) {
	safe := newAdversary(t, baseSafeETH)
	safe.params["allow_replacement"] = true
	safe.in.Replaces = "w-41"
	var rf *chain.Refusal
	if _, err := safe.rederive(); !errors.As(err, &rf) || rf.Rule != ethereum.RuleIntentReplacement {
		t.Errorf("a Safe replacement: %v, want %s", err, ethereum.RuleIntentReplacement)
	}
	for _, base := range []string{baseToken} {
		a := newAdversary(t, base)
		a.params["allow_replacement"] = true
		a.in.Replaces = "w-41"
		tx, err := a.rederive()
		if err != nil {
			t.Fatal(err)
		}
		if !tx.Nonce.Replaceable {
			t.Errorf("%s: the nonce is not replaceable", base)
		}
		found := false
		for _, f := range tx.Facts {
			found = found || (strings.Contains(f.Label, "once") && f.Risk && strings.Contains(f.Value, "replacing withdrawal w-41"))
		}
		if !found {
			t.Errorf("%s: no fact names the replacement: %+v", base, tx.Facts)
		}
	}
}

// TestCheckIntent checks that CheckIntent refuses as Rederive does,
// whatever the transaction.
func TestCheckIntent(t *testing.T) {
	c := ethereum.Chain{}
	p := parseTestParams(t, "sepolia", testParams(true))
	in := testIntent("USDC", 1, 1)
	if err := c.CheckIntent(in, p); err != nil {
		t.Fatalf("CheckIntent: %v", err)
	}
	for _, tc := range adversarialCases {
		if !strings.HasPrefix(string(tc.want), "intent.") {
			continue
		}
		a := newAdversary(t, tc.base)
		tc.edit(a)
		pp := parseTestParams(t, a.network, a.params)
		if got := refusalRule(c.CheckIntent(a.in, pp)); got != tc.want {
			t.Errorf("%s: CheckIntent refused by %q, want %s", tc.name, got, tc.want)
		}
	}
	if got := refusalRule(c.CheckIntent(in, foreignParams{})); got != ethereum.RuleParamsInvalid {
		t.Errorf("foreign params: %q", got)
	}
}

// frozenRules are the rule codes as first published. Codes are written in
// audit logs: one may be added, never renamed or removed.
var frozenRules = []chain.Rule{
	"limits.invalid", "params.invalid", "safe.legacy_domain", "wallet.invalid_key", "wallet.account_path",
	"intent.withdrawal_id", "intent.wallet_id", "intent.requested_by", "intent.replaces", "intent.amount",
	"intent.fee_cap", "intent.destination_invalid", "intent.asset", "intent.chain", "intent.network",
	"intent.replacement", "intent.destination_noncanonical", "intent.destination_self", "intent.destination_token",
	"tx.too_large", "tx.malformed", "tx.legacy", "tx.access_list_type", "tx.blob", "tx.set_code", "tx.type_unknown",
	"safe.none", "safe.expected", "tx.noncanonical", "tx.signed", "tx.field_count", "tx.int_range", "tx.nonce_range",
	"tx.gas_limit", "tx.contract_creation", "tx.access_list", "safe.address", "tx.chain_id", "safe.operation",
	"safe.refund", "safe.tx_gas", "safe.self_call", "safe.multisend", "tx.to", "tx.value", "tx.token_value",
	"data.nonempty", "data.length", "data.selector", "data.address_word", "data.recipient", "data.amount",
	"tx.priority_fee", "fee.over_intent_cap", "fee.over_policy_cap",
}

// TestRulesStable checks that no rule code was renamed or removed, that
// codes are unique and well formed, and that the table in Rule's
// documentation lists each exactly once, in order.
func TestRulesStable(t *testing.T) {
	rules := ethereum.Rules()
	for _, r := range frozenRules {
		if !slices.Contains(rules, r) {
			t.Errorf("rule %s was renamed or removed", r)
		}
	}
	code := regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)
	seen := map[chain.Rule]bool{}
	for _, r := range rules {
		if !code.MatchString(string(r)) {
			t.Errorf("rule %q is not written area.name", r)
		}
		if seen[r] {
			t.Errorf("rule %s listed twice", r)
		}
		seen[r] = true
	}
	f, err := parser.ParseFile(token.NewFileSet(), "rules.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	for _, decl := range f.Decls {
		if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.TYPE && g.Specs[0].(*ast.TypeSpec).Name.Name == "Rule" {
			doc = g.Doc.Text()
		}
	}
	var table []chain.Rule
	for _, line := range strings.Split(doc, "\n") {
		if fields := strings.Fields(line); len(fields) > 1 && code.MatchString(fields[0]) && strings.HasPrefix(line, "\t") {
			table = append(table, chain.Rule(fields[0]))
		}
	}
	if !slices.Equal(table, rules) {
		t.Errorf("the table in Rule's documentation lists\n%v\nRules returns\n%v", table, rules)
	}
}

// FuzzRederive mutates valid requests. Rederive must never panic, must
// refuse with a *chain.Refusal, and must accept nothing but the intent's
// payment: the accepted bytes re-encode to themselves, their digest is
// the ID, and the call is exactly the one the builder makes.
func FuzzRederive(f *testing.F) {
	type fixture struct {
		a    *adversary
		p    *ethereum.Params
		want []byte // the base's encoding
	}
	fixtures := make([]fixture, len(bases))
	for i, base := range bases {
		a := newAdversary(f, base)
		fixtures[i] = fixture{a: a, p: parseTestParams(f, a.network, a.params), want: a.encode()}
		f.Add(uint8(i), a.encode())
	}
	f.Add(uint8(0), []byte{0x02, 0xc0})
	f.Add(uint8(2), []byte{0x53, 0xc0})
	lim := testLimits()
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		fx := fixtures[int(which)%len(fixtures)]
		a := fx.a
		tx, err := ethereum.Chain{}.Rederive(a.in, raw, a.wallet, fx.p, lim)
		if err != nil {
			if refusalRule(err) == "" {
				t.Fatalf("Rederive: %v is not a *chain.Refusal", err)
			}
			return
		}
		if a.safe != nil {
			s, err := ethereum.ParseSafeTx(raw)
			if err != nil {
				t.Fatalf("accepted a SafeTx that does not parse: %v", err)
			}
			if !bytes.Equal(s.Encode(), raw) {
				t.Fatal("accepted a SafeTx that does not re-encode to itself")
			}
			h, _ := s.Hash("1.3.0")
			want := *a.safe
			want.Nonce, want.SafeTxGas = s.Nonce, s.SafeTxGas
			if tx.ID != h.String() || !bytes.Equal(want.Encode(), raw) || s.SafeTxGas.Cmp(chain.AmountOf(50000)) > 0 {
				t.Fatalf("accepted SafeTx %+v, not the intent's payment", s)
			}
			return
		}
		d, err := ethereum.ParseDynamicFeeTx(raw)
		if err != nil {
			t.Fatalf("accepted a transaction that does not parse: %v", err)
		}
		if !bytes.Equal(d.Unsigned(), raw) || tx.ID != keccakHex(raw) {
			t.Fatal("accepted a transaction that does not re-encode to itself, or whose ID is not its digest")
		}
		want, _ := ethereum.ParseDynamicFeeTx(fx.want)
		fee, ok := d.WorstCaseFee()
		if d.To == nil || *d.To != *want.To || !d.Value.Equal(want.Value) || !bytes.Equal(d.Data, want.Data) ||
			!d.ChainID.Equal(want.ChainID) || len(d.AccessList) != 0 || !ok || fee.Cmp(a.in.FeeCap) > 0 || fee.Cmp(lim.MaxFee) > 0 ||
			d.GasLimit > 100_000 || d.MaxPriorityFeePerGas.Cmp(d.MaxFeePerGas) > 0 {
			t.Fatalf("accepted %+v, not the intent's payment within its caps", d)
		}
	})
}

// BenchmarkRederiveERC20 re-derives one ERC-20 withdrawal from the
// wallet's account: key derivation, decoding, checks and digest.
func BenchmarkRederiveERC20(b *testing.B) {
	a := newAdversary(b, baseToken)
	p := parseTestParams(b, a.network, a.params)
	raw := a.encode()
	c := ethereum.Chain{}
	if _, err := c.Rederive(a.in, raw, a.wallet, p, a.lim); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Rederive(a.in, raw, a.wallet, p, a.lim); err != nil {
			b.Fatal(err)
		}
	}
}

func keccakHex(b []byte) string {
	d := sha3.NewLegacyKeccak256()
	d.Write(b)
	return hex.EncodeToString(d.Sum(nil))
}
