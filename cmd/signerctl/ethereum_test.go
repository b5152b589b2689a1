package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/policytest"
)

// Sepolia test addresses, as signer/ethereum_test.go uses them. The token
// contract is only a name in the policy's registry: nodes see no chain.
const (
	ethDest    = "0x52908400098527886E0F7030069857D2E4169EE7"
	ethUSDC    = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
	ethDAI     = "0xFF34B3d4Aee8ddCd6F9AFFFB6Fe49bD371b8a357"
	ethSafe    = "0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe"
	ethAccount = "w-e1e1e1e1e1e1e1e1"
	ethOwner   = "w-5afe5afe5afe5afe"
)

// ethAccountFlags are policy propose's flags of a new Ethereum account on
// Sepolia: ETH and USDC to one destination, USDC from 100 waits for two
// treasury officers.
var ethAccountFlags = []string{"-wallet", ethAccount, "-chain", "ethereum", "-network", "sepolia", "-wallet-role", "hot",
	"-to", ethDest, "-label", "cold storage", "-token", "USDC=" + ethUSDC + ":6",
	"-cap", "ETH=5000000000000000000:10000000000000000000:20000000000000000000", "-cap", "USDC=1000000000:2000000000:5000000000",
	"-max-fee", "10000000000000000", "-tier", "USDC=100000000:2:treasury", "-first-nonce", "7", "-max-gas-limit", "90000", "-allow-replacement"}

// ethOwnerFlags are those of a new Ethereum wallet whose key is an owner
// of a Safe v1.3.0.
var ethOwnerFlags = []string{"-wallet", ethOwner, "-chain", "ethereum", "-network", "sepolia", "-to", ethDest, "-label", "cold storage",
	"-safe", ethSafe, "-safe-version", "1.3.0", "-safe-first-nonce", "12", "-max-safe-tx-gas", "50000",
	"-cap", "ETH=5000000000000000000:10000000000000000000:20000000000000000000"}

// parseChange parses policy propose's wallet flags as the command does.
func parseChange(t *testing.T, args ...string) (walletChange, error) {
	t.Helper()
	var ch walletChange
	fs := flag.NewFlagSet("policy propose", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ch.register(fs)
	if err := fs.Parse(args); err != nil {
		return ch, err
	}
	ch.originators = []policy.Originator{policytest.Ledger.Originator()}
	return ch, ch.check(fs)
}

// draftFlags drafts cur with the flags, as policy propose does offline.
func draftFlags(t *testing.T, cur *policy.Bundle, amend bool, args ...string) ([]byte, *policy.Bundle, error) {
	t.Helper()
	ch, err := parseChange(t, args...)
	if err != nil {
		return nil, nil, err
	}
	return draft(cur, ch, amend)
}

// ethGenesis is policytest's genesis bundle as the nodes parse it.
func ethGenesis(t *testing.T) *policy.Bundle {
	t.Helper()
	b, err := policy.ParseBundle(policytest.Marshal(t, policytest.Genesis("test")))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ethBundle drafts both Ethereum wallets into one version, the second by
// -amend, and parses the result back as a node would.
func ethBundle(t *testing.T) (raw []byte, b *policy.Bundle) {
	t.Helper()
	_, first, err := draftFlags(t, ethGenesis(t), false, ethAccountFlags...)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err = draftFlags(t, first, true, ethOwnerFlags...)
	if err != nil {
		t.Fatal(err)
	}
	b, err = policy.ParseBundle(raw)
	if err != nil {
		t.Fatalf("the draft does not parse back: %v\n%s", err, raw)
	}
	return raw, b
}

func ethParamsOf(t *testing.T, b *policy.Bundle, id string) *ethereum.Params {
	t.Helper()
	w := b.Wallets[id]
	if w == nil {
		t.Fatalf("no wallet %s", id)
	}
	_, p := w.ChainOf()
	ep, ok := p.(*ethereum.Params)
	if !ok {
		t.Fatalf("wallet %s has params %T", id, p)
	}
	return ep
}

// TestDraftEthereum drafts Ethereum wallets offline, as 'policy propose
// -chain ethereum' does: the flags become format 2 rules and the params
// policy/ethereum reads (tokens as a list), the nodes' own parser reads the
// draft back, -amend puts a second wallet into the same version, and
// flags the nodes would refuse, or that belong to another chain, write
// nothing.
func TestDraftEthereum(t *testing.T) {
	raw, b := ethBundle(t)
	if b.Format != policy.BundleFormat || b.Version != 2 || len(b.Wallets) != 2 ||
		b.Description != "version 2: rules of wallet "+ethAccount+", and of wallet "+ethOwner {
		t.Fatalf("format %d, version %d, %d wallets, description %q", b.Format, b.Version, len(b.Wallets), b.Description)
	}
	w := b.Wallets[ethAccount]
	if w.ChainName() != ethereum.Name || w.Network != "sepolia" || w.Role != policy.RoleHot || !w.FeeCap().Equal(chain.MustAmount("10000000000000000")) {
		t.Errorf("account rules %+v", w)
	}
	wantLimits := []policy.AssetLimits{
		{Asset: "ETH", MaxAmount: chain.MustAmount("5000000000000000000"), DailyCap: chain.MustAmount("10000000000000000000"), WeeklyCap: chain.MustAmount("20000000000000000000")},
		{Asset: "USDC", MaxAmount: chain.AmountOf(1_000_000_000), DailyCap: chain.AmountOf(2_000_000_000), WeeklyCap: chain.AmountOf(5_000_000_000)},
	}
	if !sameLimits(w.AssetLimits(), wantLimits) {
		t.Errorf("limits %+v", w.AssetLimits())
	}
	if tiers := w.Tiers(); len(tiers) != 1 || tiers[0].Asset != "USDC" || !tiers[0].MinAmount.Equal(chain.AmountOf(100_000_000)) || tiers[0].Group != "treasury" {
		t.Errorf("tiers %+v", tiers)
	}
	p := ethParamsOf(t, b, ethAccount)
	usdc, ok := p.Token("USDC")
	if p.ChainID() != 11155111 || p.FirstNonce() != 7 || p.MaxGasLimit() != 90_000 || !p.AllowReplacement() || p.AccountPath().String() != "m/0/0" ||
		!ok || usdc.Contract.String() != ethUSDC || usdc.Decimals != 6 {
		t.Errorf("account params: chain id %d, first nonce %d, gas %d, replacement %v, path %s, USDC %+v", p.ChainID(), p.FirstNonce(), p.MaxGasLimit(),
			p.AllowReplacement(), p.AccountPath(), usdc)
	}
	if _, safe := p.Safe(); safe {
		t.Error("the account names a Safe")
	}
	sp := ethParamsOf(t, b, ethOwner)
	if s, ok := sp.Safe(); !ok || s.Address.String() != ethSafe || s.Version != "1.3.0" || s.FirstNonce != 12 || s.MaxSafeTxGas != 50_000 || s.LegacyDomain() {
		t.Errorf("owner's Safe %+v", s)
	}
	// The params are the JSON ParseParams reads: tokens are a list.
	var file struct {
		Wallets map[string]struct {
			Params map[string]json.RawMessage `json:"params"`
		} `json:"wallets"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	var tokens []map[string]any
	if err := json.Unmarshal(file.Wallets[ethAccount].Params["tokens"], &tokens); err != nil || len(tokens) != 1 ||
		tokens[0]["symbol"] != "USDC" || tokens[0]["contract"] != ethUSDC || tokens[0]["decimals"] != 6.0 {
		t.Errorf("params.tokens %s (%v)", file.Wallets[ethAccount].Params["tokens"], err)
	}
	var shown bytes.Buffer
	printWalletRules(&shown, ethAccount, w)
	printWalletRules(&shown, ethOwner, b.Wallets[ethOwner])
	for _, want := range []string{"(ethereum sepolia, hot)", "USDC         at most 1000 USDC (1000000000 base units) a withdrawal",
		"fee          at most 0.01 ETH (10000000000000000 wei)", "chain id 11155111; account m/0/0, first nonce 7; gas limit at most 90000",
		"token        USDC at " + ethUSDC + ", 6 decimals", "tier         from 100 USDC (100000000 base units): 2 approvals of group treasury",
		"safe         " + ethSafe + " v1.3.0 (its signatures name the chain id)"} {
		if !strings.Contains(shown.String(), want) {
			t.Errorf("the rules shown do not say %q:\n%s", want, shown.String())
		}
	}

	// -amend reads the draft back: the next version of the bundle in force only.
	file2 := filepath.Join(t.TempDir(), "next.json")
	if err := os.WriteFile(file2, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := readDraft(file2, ethGenesis(t)); err != nil || d.Version != 2 {
		t.Errorf("readDraft of the next version: %v", err)
	}
	if _, err := readDraft(file2, b); err == nil || !strings.Contains(err.Error(), "the next version after the one in force is 3") {
		t.Errorf("readDraft of a draft older than the bundle in force: %v", err)
	}

	// A later version changes one param and adds a token; the rest stays.
	_, next, err := draftFlags(t, b, false, "-wallet", ethAccount, "-first-nonce", "9", "-allow-replacement=false",
		"-token", "DAI="+ethDAI+":18", "-cap", "DAI=1000000000000000000000:2000000000000000000000:3000000000000000000000", "-cap", "ETH=::30000000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	p = ethParamsOf(t, next, ethAccount)
	dai, _ := p.Token("DAI")
	if p.FirstNonce() != 9 || p.AllowReplacement() || p.MaxGasLimit() != 90_000 || len(p.Tokens()) != 2 || dai.Decimals != 18 ||
		!next.Wallets[ethAccount].Limits("ETH").WeeklyCap.Equal(chain.MustAmount("30000000000000000000")) ||
		!next.Wallets[ethAccount].Limits("ETH").DailyCap.Equal(chain.MustAmount("10000000000000000000")) {
		t.Errorf("after the change: nonce %d, replacement %v, gas %d, tokens %+v, ETH %+v", p.FirstNonce(), p.AllowReplacement(), p.MaxGasLimit(), p.Tokens(),
			next.Wallets[ethAccount].Limits("ETH"))
	}
	if ethParamsOf(t, b, ethAccount).FirstNonce() != 7 {
		t.Error("drafting changed the bundle it started from")
	}

	btc, _, err := draft(ethGenesis(t), walletChange{wallet: "w-00000000000000b7", network: "regtest", to: allowedDest, label: "x",
		originators: []policy.Originator{policytest.Ledger.Originator()}}, false)
	if err != nil {
		t.Fatal(err)
	}
	btcBundle, err := policy.ParseBundle(btc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cur  *policy.Bundle
		args []string
		want string
	}{
		{"a tier without its asset", b, []string{"-wallet", ethAccount, "-tier", "100:2:treasury"}, "name the tier's asset"},
		{"a token without caps", b, []string{"-wallet", ethAccount, "-token", "DAI=" + ethDAI + ":18"}, "-token DAI: give its caps too"},
		{"caps of a token not registered", b, []string{"-wallet", ethAccount, "-cap", "DAI=1:1:1"}, "assets.DAI: not an asset this ethereum wallet can pay"},
		{"new caps in part", b, []string{"-wallet", ethAccount, "-cap", "ETH=1:2:3", "-cap", "DAI=1::"}, "-cap DAI: wallet " + ethAccount + " has no DAI caps yet"},
		{"satoshis for Ethereum", b, []string{"-wallet", ethAccount, "-max-amount", "5"}, "in satoshis, for Bitcoin wallets"},
		{"Ethereum params for Bitcoin", btcBundle, []string{"-wallet", "w-00000000000000b7", "-token", "USDC=" + ethUSDC + ":6", "-first-nonce", "1"}, "-token, -first-nonce are Ethereum params"},
		{"another chain", b, []string{"-wallet", ethAccount, "-chain", "bitcoin"}, "a wallet's chain does not change"},
		{"another network", b, []string{"-wallet", ethAccount, "-network", "mainnet"}, "a wallet's network does not change"},
		{"a Safe without its version", b, []string{"-wallet", ethAccount, "-safe", ethSafe}, "give its version, -safe-version"},
		{"Safe flags without a Safe", b, []string{"-wallet", ethAccount, "-max-safe-tx-gas", "1"}, "names no Safe"},
		{"a Safe v1.1.1 without consent", b, []string{"-wallet", ethOwner, "-safe-version", "1.1.1"}, "set accept_legacy_domain"},
		{"a Safe version that is not", b, []string{"-wallet", ethOwner, "-safe-version", "2.0.0"}, `safe.version "2.0.0"`},
		{"the chain id of another network", ethGenesis(t), append(slices.Clone(ethAccountFlags), "-chain-id", "1"), "chain_id 1 is not sepolia's"},
		{"dev without a chain id", ethGenesis(t), []string{"-wallet", ethAccount, "-chain", "ethereum", "-network", "dev", "-any-destination", "-wallet-role", "hot"}, "-chain-id is required"},
		{"an unknown network", ethGenesis(t), []string{"-wallet", ethAccount, "-chain", "ethereum", "-network", "goerli"}, `-network "goerli": want mainnet, sepolia, holesky or dev`},
		{"a new wallet without a network", ethGenesis(t), []string{"-wallet", ethAccount, "-chain", "ethereum"}, "-network is required (ethereum: mainnet, sepolia"},
		{"a gas cap above EIP-7825's", b, []string{"-wallet", ethAccount, "-max-gas-limit", "16777217"}, "max_gas_limit 16777217"},
		{"a Safe that is a token", ethGenesis(t), append(slices.Clone(ethAccountFlags), "-safe", ethUSDC, "-safe-version", "1.3.0"), "is the Safe"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := draftFlags(t, tt.cur, false, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v; want %q", err, tt.want)
			}
		})
	}
}

// signWith signs a re-derived transaction's one digest with the test
// root's child key, as a committee would.
func signWith(t *testing.T, r *testRoot, tx *chain.Tx) [][64]byte {
	t.Helper()
	if len(tx.Sign) != 1 {
		t.Fatalf("%d digests, want 1", len(tx.Sign))
	}
	var k, tweak btcec.ModNScalar
	k.Set(&r.priv.Key)
	tweak.SetBytes(&tx.Sign[0].Tweak)
	k.Add(&tweak)
	compact := ecdsa.SignCompact(btcec.PrivKeyFromScalar(&k), tx.Sign[0].Message, false)
	return [][64]byte{[64]byte(compact[1:])}
}

// TestBuildEthereum builds an ETH and a USDC transfer and a Safe's SafeTx
// from the wallets' rules in a bundle, as 'withdraw build -chain ethereum'
// does, and checks each with the nodes' own ethereum.Chain{}.Rederive
// under the policy's fee cap; then signs each as a committee would and
// checks the result as 'withdraw submit -follow' does, and that a result
// altered anywhere does not pass.
func TestBuildEthereum(t *testing.T) {
	_, b := ethBundle(t)
	root := newTestRoot()
	key := bitcoin.NeutralKey(root.key)
	base := func(wallet, asset, amount string, nonce uint64) *buildFlags {
		return &buildFlags{wallet: wallet, id: "wd-" + strings.ToLower(asset) + "-1", chain: ethereum.Name, asset: asset, to: ethDest, amount: amount,
			feeCap: "5000000000000000", nonce: nonce, maxFeePerGas: "30000000000", priorityFee: "1000000000", given: map[string]bool{"nonce": true}}
	}
	dest, _ := ethereum.ParseAddress(ethDest)
	usdcContract, _ := ethereum.ParseAddress(ethUSDC)

	for _, tt := range []struct {
		name    string
		b       *buildFlags
		check   func(t *testing.T, raw []byte, tx *chain.Tx)
		outflow chain.Amounts
	}{
		{"ETH", base(ethAccount, "ETH", "250000000000000000", 7), func(t *testing.T, raw []byte, tx *chain.Tx) {
			d, err := ethereum.ParseDynamicFeeTx(raw)
			if err != nil || d.To == nil || *d.To != dest || !d.Value.Equal(chain.MustAmount("250000000000000000")) || len(d.Data) != 0 || d.GasLimit != 21_000 ||
				d.Nonce != 7 || !d.ChainID.Equal(chain.AmountOf(11155111)) {
				t.Errorf("%+v, %v", d, err)
			}
		}, chain.Amounts{"ETH": chain.MustAmount("250630000000000000")}},
		{"USDC", base(ethAccount, "USDC", "25000000", 8), func(t *testing.T, raw []byte, tx *chain.Tx) {
			d, err := ethereum.ParseDynamicFeeTx(raw)
			if err != nil || d.To == nil || *d.To != usdcContract || !d.Value.IsZero() || !bytes.Equal(d.Data, ethereum.TransferCalldata(dest, chain.AmountOf(25_000_000))) ||
				d.GasLimit != 65_000 {
				t.Errorf("%+v, %v", d, err)
			}
		}, chain.Amounts{"ETH": chain.MustAmount("1950000000000000"), "USDC": chain.AmountOf(25_000_000)}},
		{"Safe", &buildFlags{wallet: ethOwner, id: "wd-safe-1", asset: "ETH", to: ethDest, amount: "1000000000000000000", feeCap: "1", nonce: 12,
			safeTxGas: 40_000, given: map[string]bool{"nonce": true, "safe-tx-gas": true}}, func(t *testing.T, raw []byte, tx *chain.Tx) {
			s, err := ethereum.ParseSafeTx(raw)
			if err != nil || s.Safe.String() != ethSafe || s.To != dest || !s.Operation.IsZero() || !s.Nonce.Equal(chain.AmountOf(12)) || !s.SafeTxGas.Equal(chain.AmountOf(40_000)) {
				t.Fatalf("%+v, %v", s, err)
			}
			if h, err := s.Hash("1.3.0"); err != nil || h.String() != tx.ID {
				t.Errorf("SafeTx hash %s (%v), Rederive's id %s", h, err, tx.ID)
			}
		}, chain.Amounts{"ETH": chain.MustAmount("1000000000000000000")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rules := b.Wallets[tt.b.wallet]
			in, raw, err := ethBuild(rules, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if in.Version != chain.IntentV2 || in.Chain != "ethereum" || in.Network != "sepolia" || in.Asset != tt.b.asset || in.WalletID != tt.b.wallet {
				t.Errorf("intent %+v", in)
			}
			ch, params := rules.ChainOf()
			tx, err := ch.Rederive(in, raw, key, params, chain.Limits{MaxFee: rules.FeeCap()})
			if err != nil {
				t.Fatalf("Rederive refuses what withdraw build built: %v", err)
			}
			tt.check(t, raw, tx)
			if len(tx.Outflow) != len(tt.outflow) {
				t.Errorf("outflow %v, want %v", tx.Outflow, tt.outflow)
			}
			for asset, want := range tt.outflow {
				if !tx.Outflow[asset].Equal(want) {
					t.Errorf("outflow of %s %s, want %s", asset, tx.Outflow[asset], want)
				}
			}
			if tx.Nonce == nil || tx.Nonce.Nonce != tt.b.nonce {
				t.Errorf("nonce %+v, want %d", tx.Nonce, tt.b.nonce)
			}
			// The unsigned file reads back raw or in hex.
			dir := t.TempDir()
			for name, content := range map[string][]byte{"raw": raw, "hex": []byte(hex.EncodeToString(raw) + "\n"), "0x": []byte("0x" + hex.EncodeToString(raw))} {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, content, 0o644); err != nil {
					t.Fatal(err)
				}
				if got, err := readUnsignedTx(path); err != nil || !bytes.Equal(got, raw) {
					t.Errorf("readUnsignedTx(%s): %x, %v", name, got, err)
				}
			}

			// Signed as a committee would: the result checks, and carries the signature back.
			fin, err := tx.Finish(signWith(t, root, tx))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := checkFinished(tx, raw, fin.Raw, fin.TxID); err != nil || got != fin.TxID {
				t.Fatalf("checkFinished of the signed result: %s, %v", got, err)
			}
			if raw[0] == ethereum.TypeSafeTx {
				if len(fin.Raw) != ethereum.SafeSignatureLen || fin.TxID != tx.ID {
					t.Errorf("owner signature %x, id %s", fin.Raw, fin.TxID)
				}
			} else if fin.Raw[0] != ethereum.TypeDynamicFee || fin.TxID == tx.ID {
				t.Errorf("signed %x, tx hash %s (the signing hash is %s)", fin.Raw, fin.TxID, tx.ID)
			}
			if _, err := checkFinished(tx, raw, fin.Raw, strings.Repeat("0", 64)); err == nil {
				t.Error("checkFinished accepts another id than the result's")
			}
			for i := range fin.Raw {
				bad := bytes.Clone(fin.Raw)
				bad[i] ^= 0x01
				if _, err := checkFinished(tx, raw, bad, fin.TxID); err == nil {
					t.Fatalf("checkFinished accepts the result with byte %d altered", i)
				}
			}
			other := newTestRoot()
			other.priv, _ = btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
			if forged, err := tx.Finish(signWith(t, other, tx)); err == nil {
				t.Errorf("Finish takes another key's signature: %x", forged.Raw)
			}
		})
	}

	for _, tt := range []struct {
		name string
		edit func(b *buildFlags)
		want string
	}{
		{"a Safe owner with a gas price", func(b *buildFlags) {
			b.wallet, b.given["max-fee-per-gas"] = ethOwner, true
		}, "a SafeTx carries no gas price"},
		{"an account with safeTxGas", func(b *buildFlags) { b.given["safe-tx-gas"] = true }, "pays from its own account"},
		{"no max fee per gas", func(b *buildFlags) { b.maxFeePerGas = "" }, "-max-fee-per-gas is required"},
		{"a priority fee above the max fee", func(b *buildFlags) { b.priorityFee = "40000000000" }, "above the max fee"},
		{"a gas limit above the policy's", func(b *buildFlags) { b.gasLimit = 95_000 }, "gas limit 95000, want 21000..90000"},
		{"a fee cap below the worst-case fee", func(b *buildFlags) { b.feeCap = "1000" }, "worst-case fee"},
		{"a token not registered", func(b *buildFlags) { b.asset = "DAI" }, "intent.asset"},
		{"a destination not in EIP-55", func(b *buildFlags) { b.to = strings.ToLower(ethDest) }, "intent.destination_noncanonical"},
		{"an amount of wei in ETH", func(b *buildFlags) { b.amount = "0.25" }, "-amount"},
		{"a safeTxGas above the Safe's cap", func(b *buildFlags) {
			b.wallet, b.safeTxGas, b.given["safe-tx-gas"] = ethOwner, 60_000, true
		}, "above the Safe's max_safe_tx_gas 50000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bf := base(ethAccount, "ETH", "1000", 7)
			tt.edit(bf)
			if _, _, err := ethBuild(b.Wallets[bf.wallet], bf); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v; want %q", err, tt.want)
			}
		})
	}
}
