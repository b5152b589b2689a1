package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Regtest destinations: one the tests allow, one an attacker's.
const (
	allowedDest  = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	attackerDest = "bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m" // P2WPKH of 2G
)

// testRoot is a wallet root whose private key the tests know, so that they
// can sign for any child: childPriv = rootPriv + tweak (mod n).
type testRoot struct {
	priv *btcec.PrivateKey
	key  bitcoin.Key
}

func newTestRoot() *testRoot {
	seed := sha256.Sum256([]byte("signerctl tests: root private key"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	r := &testRoot{priv: priv}
	r.key.PublicKey = [33]byte(priv.PubKey().SerializeCompressed())
	r.key.ChainCode = sha256.Sum256([]byte("signerctl tests: chain code"))
	return r
}

// sign returns the signed transaction of wd, as a committee would make it.
func (r *testRoot) sign(t *testing.T, wd *bitcoin.Withdrawal) []byte {
	t.Helper()
	sigs := make([][64]byte, len(wd.Digests))
	for i, d := range wd.Digests {
		var k, tweak btcec.ModNScalar
		k.Set(&r.priv.Key)
		tweak.SetBytes(&wd.Inputs[i].Tweak)
		k.Add(&tweak)
		compact := ecdsa.SignCompact(btcec.PrivKeyFromScalar(&k), d[:], true)
		sigs[i] = [64]byte(compact[1:])
	}
	signed, err := wd.Finalize(sigs)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// nodeLimits are the limits a node's policy gives Rederive for rules like
// those of TestDevCluster.
func nodeLimits() bitcoin.Limits {
	return bitcoin.Limits{MaxFee: 20_000, MaxInputs: policy.MaxInputs, MaxOutputs: bitcoin.MaxOutputs, ChangeIndexMax: bitcoin.MaxChangeIndex}
}

func TestWithdrawUsageErrors(t *testing.T) {
	ethBuildArgs := []string{"withdraw", "build", "-chain", "ethereum", "-wallet", "w-0123456789abcdef", "-id", "wd-1", "-to", "0x52908400098527886E0F7030069857D2E4169EE7", "-amount", "1000", "-fee-cap", "500"}
	build := []string{"withdraw", "build", "-wallet", "w-0123456789abcdef", "-id", "wd-1", "-to", allowedDest, "-amount", "1000", "-fee-cap", "500", "-utxos", "u.json"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"fund without paths", []string{"fund", "-wallet", "w-1"}, "-paths and -amounts are required"},
		{"fund without wallet", []string{"fund", "-paths", "m/0/0", "-amounts", "1"}, "-wallet is required"},
		{"fund with fewer amounts", []string{"fund", "-wallet", "w-1", "-paths", "m/0/0,m/0/1", "-amounts", "5"}, "-paths lists 2 paths and -amounts 1 amounts"},
		{"fund with a hardened path", []string{"fund", "-wallet", "w-1", "-paths", "m/0'/1", "-amounts", "5"}, "hardened"},
		{"fund with a path twice", []string{"fund", "-wallet", "w-1", "-paths", "m/0/1,m/0/1", "-amounts", "5,6"}, "m/0/1 is given twice"},
		{"fund with no satoshis", []string{"fund", "-wallet", "w-1", "-paths", "m/0/1", "-amounts", "0"}, `"0" is not a whole number of satoshis`},
		{"fund with a fraction", []string{"fund", "-wallet", "w-1", "-paths", "m/0/1", "-amounts", "0.5"}, `"0.5" is not a whole number`},
		{"fund on litecoin", []string{"fund", "-wallet", "w-1", "-paths", "m/0/1", "-amounts", "5", "-network", "litecoin"}, `-network "litecoin"`},
		{"build without utxos", build[:len(build)-2], "-utxos is required"},
		{"build without id", []string{"withdraw", "build", "-wallet", "w-1"}, "-id is required"},
		{"build with a zero fee rate", append(slices.Clone(build), "-fee-rate", "0"), "-fee-rate 0: want 1 to 10000"},
		{"build with a bad amount", append(slices.Clone(build), "-amount", "-5"), `-amount: "-5" is not`},
		{"build to a mainnet address on regtest", append(slices.Clone(build), "-to", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"), "intent.destination_network"},
		{"build to nothing valid", append(slices.Clone(build), "-to", "not-an-address"), "intent.destination_invalid"},
		{"build with a bad id", append(slices.Clone(build), "-id", "wd 1"), "intent.withdrawal_id"},
		{"build with a change index too high", append(slices.Clone(build), "-change-index", "16777216"), "-change-index 16777216: at most 16777215"},
		{"submit without files", []string{"withdraw", "submit"}, "-intent and -tx are required"},
		{"submit with two intent signatures", []string{"withdraw", "submit", "-intent", "i", "-psbt", "p", "-originator-key", "k", "-intent-signature", "s"}, "-originator-key and -intent-signature exclude each other"},
		{"signed-out without follow", []string{"withdraw", "submit", "-intent", "i", "-psbt", "p", "-signed-out", "s"}, "-signed-out needs -follow"},
		{"show without id", []string{"withdraw", "show"}, "which withdrawal?"},
		{"watch with two ids", []string{"withdraw", "watch", "a", "b"}, `unexpected argument "b"`},
		{"list too many", []string{"withdraw", "list", "-limit", "1001"}, "-limit 1001: want 1 to 1000"},
		{"withdraw alone", []string{"withdraw"}, "withdraw needs a subcommand: withdraw build, withdraw submit, withdraw show, withdraw list, withdraw watch"},
		{"propose without wallet", []string{"policy", "propose", "-o", "p.json", "-to", allowedDest, "-label", "x"}, "-wallet is required"},
		{"propose without output", []string{"policy", "propose", "-wallet", "w-0123456789abcdef"}, "-o is required"},
		{"propose a destination without label", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-to", allowedDest}, "-to and -label go together"},
		{"propose a label without destination", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-label", "x"}, "-to and -label go together"},
		{"propose a tier of two parts", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-tier", "10000000:2"}, "want [ASSET=]MIN:K:GROUP"},
		{"propose a tier of words", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-tier", "lots:2:treasury"}, "with MIN (base units) and K numbers"},
		{"propose a tier of no satoshis", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-tier", "0:2:treasury"}, "MIN 0: want at least 1"},
		{"propose a negative cap", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-max-amount", "-5"}, `invalid value "-5" for flag -max-amount`},
		{"propose a cap above every bitcoin", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-daily-cap", "2100000000000001"}, "-daily-cap 2100000000000001: at most 2100000000000000 satoshis"},
		{"build on litecoin", append(slices.Clone(build), "-network", "litecoin"), `-network "litecoin"`},
		{"propose an originator without name", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-originator", "ledger.pub"}, "want NAME=KEYFILE.pub"},
		{"build on ethereum without a nonce", ethBuildArgs, "-nonce is required for Ethereum"},
		{"build on ethereum from coins", append(slices.Clone(ethBuildArgs), "-nonce", "0", "-utxos", "u.json"), "-utxos is not a flag of ethereum withdrawals"},
		{"build on bitcoin at a nonce", append(slices.Clone(build), "-nonce", "3"), "-nonce is not a flag of bitcoin withdrawals"},
		{"build on ethereum in ETH", append(slices.Clone(ethBuildArgs), "-nonce", "0", "-amount", "0.5"), `-amount "0.5": want a whole number of base units`},
		{"build on bitcoin in ETH", append(slices.Clone(build), "-asset", "ETH"), "-asset ETH: a Bitcoin wallet pays BTC"},
		{"build on ethereum on goerli", append(slices.Clone(ethBuildArgs), "-nonce", "0", "-network", "goerli"), `-network "goerli": want mainnet, sepolia, holesky or dev`},
		{"build on dogecoin", append(slices.Clone(build), "-chain", "dogecoin"), `-chain "dogecoin": want one of bitcoin, ethereum`},
		{"submit with two transactions", []string{"withdraw", "submit", "-intent", "i", "-tx", "t", "-psbt", "p"}, "-tx and -psbt are one file"},
		{"propose a token without decimals", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-token", "USDC=0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"}, "want SYMBOL=CONTRACT:DECIMALS"},
		{"propose a token not in EIP-55", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-token", "USDC=0x1c7d4b196cb0c7b01d743fbc6116a902379c7238:6"}, "USDC's contract: ethereum: address not spelled in EIP-55"},
		{"propose a token of 99 decimals", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-token", "USDC=0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238:99"}, `USDC's decimals "99": want 0 to 36`},
		{"propose caps of two parts", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-cap", "ETH=1:2"}, "want ASSET=MAX:DAILY:WEEKLY"},
		{"propose a cap of nothing", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-cap", "ETH=0:1:1"}, `"0": want a whole number of base units`},
		{"propose no fee", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-max-fee", "0"}, "want a whole number of base units, at least 1"},
		{"propose a tier of no asset", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-tier", "=5:2:treasury"}, "want [ASSET=]MIN:K:GROUP"},
		{"propose on dogecoin", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-chain", "dogecoin"}, `-chain "dogecoin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			r := runCLI(t, nil, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit code %d, stderr:\n%s\nwant 2 and %q", r.code, r.stderr, tt.want)
			}
			if entries, _ := os.ReadDir("."); len(entries) > 0 {
				t.Errorf("a usage error wrote %s", entries[0].Name())
			}
		})
	}
}

// TestFundThenBuild fabricates a funding transaction as 'fund' does, passes
// its coins through the UTXO file, builds a withdrawal from them as
// 'withdraw build' does, and checks that Rederive, under the limits a node
// uses, accepts the PSBT and finds exactly the intent in it.
func TestFundThenBuild(t *testing.T) {
	dir := t.TempDir()
	root := newTestRoot()
	outs, err := parseFundingOutputs("m/0/0, m/0/7", "40000000,30000000")
	if err != nil {
		t.Fatal(err)
	}
	tx, utxos, err := fundingTx(root.key, outs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		child, _ := root.key.Derive(o.path)
		if tx.TxOut[i].Value != o.amount || !bytes.Equal(tx.TxOut[i].PkScript, bitcoin.P2WPKHScript(child.PublicKey)) {
			t.Fatalf("output %d does not pay %d sat to %s", i, o.amount, o.path)
		}
	}
	if _, again, _ := fundingTx(root.key, outs); again[0].PrevTx.TxHash() == tx.TxHash() {
		t.Error("two funding transactions have one id: their coins would be the same")
	}

	list, err := utxosToJSON(utxos)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(list)
	utxoFile := filepath.Join(dir, "utxos.json")
	if err := os.WriteFile(utxoFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := readUTXOs(utxoFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 2 || read[1].Index != 1 || read[1].Path.String() != "m/0/7" || read[0].PrevTx.TxHash() != tx.TxHash() {
		t.Fatalf("the UTXO file does not round-trip: %+v", read)
	}

	in := bitcoin.Intent{WithdrawalID: "wd-1", WalletID: "w-0123456789abcdef", Network: bitcoin.Regtest, Asset: bitcoin.Asset,
		Destination: allowedDest, Amount: 25_000_000, FeeCap: 10_000}
	psbtRaw, err := bitcoin.BuildWithdrawal(in, root.key, read, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := bitcoin.Rederive(in, psbtRaw, root.key, nodeLimits())
	if err != nil {
		t.Fatalf("Rederive refuses the PSBT built: %v", err)
	}
	if wd.Destination.Address != allowedDest || wd.Destination.Value != in.Amount || len(wd.Inputs) != 2 ||
		len(wd.Change) != 1 || wd.Change[0].Path.String() != "m/1/3" || wd.Fee <= 0 || wd.Fee > in.FeeCap {
		t.Errorf("re-derived %+v", wd)
	}
	if got := wd.Fee + wd.Destination.Value + wd.Change[0].Value; got != 70_000_000 {
		t.Errorf("fee, payment and change add up to %d, want the 70000000 funded", got)
	}

	// The intent file is the canonical bytes and reads back as the very
	// intent, and the PSBT reads binary or base64.
	intentFile := filepath.Join(dir, "intent.json")
	canonical := bitcoin.NeutralIntent(in).Canonical()
	if err := os.WriteFile(intentFile, canonical, 0o644); err != nil {
		t.Fatal(err)
	}
	back, raw2, err := readIntent(intentFile)
	if err != nil || !bytes.Equal(raw2, canonical) || back.Chain != bitcoin.Name || back.Version != chain.IntentV2 {
		t.Fatalf("readIntent = %+v, %q, %v; want the v2 Bitcoin intent %q", back, raw2, err, canonical)
	}
	if bin, err := bitcoin.IntentOf(back); err != nil || bin != in {
		t.Errorf("the intent read back is %+v (%v), want %+v", bin, err, in)
	}
	const want = `{"v":2,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","chain":"bitcoin","network":"regtest","asset":"BTC",` +
		`"destination":"` + allowedDest + `","amount":"25000000","fee_cap":"10000"}`
	if string(canonical) != want {
		t.Errorf("the intent file is\n%s\nwant\n%s", canonical, want)
	}
	for name, content := range map[string][]byte{
		"binary": psbtRaw,
		"base64": []byte(base64.StdEncoding.EncodeToString(psbtRaw) + "\n"),
	} {
		p := filepath.Join(dir, name+".psbt")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := readPSBT(p); err != nil || !bytes.Equal(got, psbtRaw) {
			t.Errorf("readPSBT(%s): %v", name, err)
		}
	}

	// What a committee signs verifies here; anything else does not.
	signed := root.sign(t, wd)
	txid, vsize, err := verifySigned(psbtRaw, signed)
	if err != nil || txid != wd.TxID.String() || vsize <= 0 || vsize > wd.VSize {
		t.Errorf("verifySigned = %s, %d, %v; want %s and at most %d vB", txid, vsize, err, wd.TxID, wd.VSize)
	}
	tampered := func(edit func(tx *wire.MsgTx)) []byte {
		tx := wire.NewMsgTx(2)
		if err := tx.Deserialize(bytes.NewReader(signed)); err != nil {
			t.Fatal(err)
		}
		edit(tx)
		var b bytes.Buffer
		_ = tx.Serialize(&b)
		return b.Bytes()
	}
	for name, bad := range map[string][]byte{
		"another destination": tampered(func(tx *wire.MsgTx) { tx.TxOut[0].Value-- }),
		"a forged signature":  tampered(func(tx *wire.MsgTx) { tx.TxIn[1].Witness[0][10] ^= 1 }),
		"swapped witnesses":   tampered(func(tx *wire.MsgTx) { tx.TxIn[0].Witness, tx.TxIn[1].Witness = tx.TxIn[1].Witness, tx.TxIn[0].Witness }),
		"not a transaction":   []byte{1, 2, 3},
	} {
		if _, _, err := verifySigned(psbtRaw, bad); err == nil {
			t.Errorf("verifySigned accepts %s", name)
		}
	}
}

func TestReadFilesRefuseStrangers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, content := range map[string]string{
		"unknown field": `[{"prev_tx_hex":"00","index":0,"path":"m/0/0","value":5}]`,
		"empty list":    `[]`,
		"bad hex":       `[{"prev_tx_hex":"zz","index":0,"path":"m/0/0"}]`,
		"not a tx":      `[{"prev_tx_hex":"0102","index":0,"path":"m/0/0"}]`,
		"two lists":     `[] []`,
	} {
		if _, err := readUTXOs(write("u.json", content)); err == nil {
			t.Errorf("readUTXOs accepts %s", name)
		}
	}
	canonical := `{"v":2,"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"` +
		allowedDest + `","amount":"25000000","fee_cap":"10000"}`
	if _, raw, err := readIntent(write("i.json", canonical)); err != nil || string(raw) != canonical {
		t.Fatalf("readIntent refuses the canonical intent: %v", err)
	}
	for _, tt := range []struct {
		name, content, want string
	}{
		{"a trailing newline", canonical + "\n", "white space around it"},
		{"indented", strings.ReplaceAll(canonical, ",", ", "), "not a canonical intent"},
		{"an unknown field", strings.Replace(canonical, `}`, `,"memo":"hi"}`, 1), "not a canonical intent"},
		{"fields out of order", `{"v":2,"wallet_id":"w-0123456789abcdef","withdrawal_id":"wd-1","chain":"bitcoin","network":"regtest","asset":"BTC","destination":"x","amount":"1","fee_cap":"1"}`, "not a canonical intent"},
		{"an amount as a number", strings.Replace(canonical, `"amount":"25000000"`, `"amount":25000000`, 1), "not a canonical intent"},
		{"a leading zero", strings.Replace(canonical, `"amount":"25000000"`, `"amount":"025000000"`, 1), "not a canonical intent"},
		{"trailing content", canonical + ` {}`, "not a canonical intent"},
		{"an unknown version", strings.Replace(canonical, `"v":2`, `"v":3`, 1), "not a canonical intent"},
		{"the JSON of an older signerctl", `{"withdrawal_id":"a","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":1,"fee_cap_sat":1}`, "an older signerctl"},
		{"nothing", ``, "not a canonical intent"},
	} {
		_, _, err := readIntent(write("i.json", tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(hintFor(err), "withdraw build -intent-out") {
			t.Errorf("readIntent of %s: %v (hint %q); want an error saying %q and how to make the file", tt.name, err, hintFor(err), tt.want)
		}
	}
	if _, err := readPSBT(write("p.psbt", "cHNidA==")); err == nil {
		t.Error("readPSBT accepts base64 of something else")
	}
}

// TestCallFailedReadsRule: the rule of a refusal comes from the status's
// ErrorInfo detail, never from parsing its message.
func TestCallFailedReadsRule(t *testing.T) {
	c := &client{node: roster.Node{ID: "node-1", Address: "127.0.0.1:1"}}
	st, err := status.New(codes.FailedPrecondition, "refused: withdrawal wd-3 refused (policy.destination_not_allowed): x").
		WithDetails(&errdetails.ErrorInfo{Reason: "policy.destination_not_allowed", Domain: roster.ErrorDomain})
	if err != nil {
		t.Fatal(err)
	}
	var ce *callError
	if !errors.As(callFailed(context.Background(), "withdraw submit", c, pki.RoleBackend, st.Err()), &ce) || ce.rule != "policy.destination_not_allowed" {
		t.Fatalf("got %+v", ce)
	}
	other, _ := status.New(codes.FailedPrecondition, "refused (policy.destination_not_allowed)").
		WithDetails(&errdetails.ErrorInfo{Reason: "x.y", Domain: "elsewhere"})
	if errors.As(callFailed(context.Background(), "withdraw submit", c, pki.RoleBackend, other.Err()), &ce) && ce.rule != "" {
		t.Fatalf("a detail of another domain, or a rule in the text, was read as the rule: %q", ce.rule)
	}
}

// TestSubmitRefusesAFileNotCanonical: withdraw submit reads the intent
// file before it calls anyone, and says how to make one that reads.
func TestSubmitRefusesAFileNotCanonical(t *testing.T) {
	dir := t.TempDir()
	intent := filepath.Join(dir, "intent.json")
	old := `{"withdrawal_id":"wd-1","wallet_id":"w-0123456789abcdef","network":"regtest","asset":"BTC","destination":"x","amount_sat":1,"fee_cap_sat":1}`
	if err := os.WriteFile(intent, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "withdraw", "submit", "-intent", intent, "-psbt", filepath.Join(dir, "none.psbt"), "-cluster", filepath.Join(dir, "none"), "-yes")
	if r.code != 1 || !strings.Contains(r.stderr, "an older signerctl") || !strings.Contains(r.stderr, "hint: build it again with 'signerctl withdraw build -intent-out FILE'") {
		t.Errorf("submit of an old intent file: exit code %d\n%s", r.code, r.stderr)
	}
}

// TestDraft drafts policy versions offline, as 'policy propose' does:
// format 2 out, satoshis in, the nodes' own checks, and a bundle in force
// of format 1 rewritten with the same rules.
func TestDraft(t *testing.T) {
	const id = "w-0123456789abcdef"
	sat := func(v uint64) chain.Amount { return chain.AmountOf(v) }
	parse := func(b policy.Bundle) *policy.Bundle {
		t.Helper()
		got, err := policy.ParseBundle(policytest.Marshal(t, b))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	genesis := parse(policytest.Genesis("test"))
	tier, err := parseTier("30000000:2:treasury")
	if err != nil {
		t.Fatal(err)
	}
	newWallet := walletChange{wallet: id, network: "regtest", to: allowedDest, label: "cold storage", maxAmount: 50_000_000,
		dailyCap: 100_000_000, weeklyCap: 300_000_000, maxFee: chain.AmountOf(20_000), tiers: []policy.Tier{tier},
		originators: []policy.Originator{policytest.Alice.Originator()}}

	raw, next, err := draft(genesis, newWallet, false)
	if err != nil {
		t.Fatal(err)
	}
	w := next.Wallets[id]
	if next.Format != policy.BundleFormat || next.Version != 2 || w.ChainName() != bitcoin.Name || w.Network != "regtest" || w.Role != policy.RoleCold {
		t.Fatalf("draft: format %d, version %d, wallet %+v", next.Format, next.Version, w)
	}
	if got := w.AssetLimits(); !sameLimits(got, []policy.AssetLimits{{Asset: "BTC", MaxAmount: sat(50_000_000), DailyCap: sat(100_000_000), WeeklyCap: sat(300_000_000)}}) ||
		!w.FeeCap().Equal(sat(20_000)) {
		t.Errorf("limits %+v, fee cap %s", got, w.FeeCap())
	}
	if tiers := w.Tiers(); len(tiers) != 1 || tiers[0].Asset != "BTC" || !tiers[0].MinAmount.Equal(sat(30_000_000)) || tiers[0].Approvals != 2 {
		t.Errorf("tiers %+v", tiers)
	}
	for _, want := range []string{`"chain": "bitcoin"`, `"asset": "BTC"`, `"max_amount": "50000000"`, `"daily_cap": "100000000"`,
		`"weekly_cap": "300000000"`, `"max_fee": "20000"`, `"min_amount": "30000000"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the draft does not say %s:\n%s", want, raw)
		}
	}
	if bytes.Contains(raw, []byte("_sat")) {
		t.Errorf("the draft has format 1 fields:\n%s", raw)
	}
	var shown bytes.Buffer
	printBundle(&shown, next)
	for _, want := range []string{"wallet " + id + ` "` + id + `" (bitcoin regtest, cold)`, "BTC          at most 0.5 BTC (50000000 sat) a withdrawal; 1 BTC (100000000 sat) a day, 3 BTC (300000000 sat) a week",
		"fee          at most 0.0002 BTC (20000 sat)", "tier         from 0.3 BTC (30000000 sat): 2 approvals of group treasury", `pays         "cold storage" ` + allowedDest, "originator   alice"} {
		if !strings.Contains(shown.String(), want) {
			t.Errorf("printBundle does not say %q:\n%s", want, shown.String())
		}
	}

	// The next draft changes one cap, and keeps the rest.
	_, next2, err := draft(next, walletChange{wallet: id, weeklyCap: 400_000_000}, false)
	if err != nil {
		t.Fatal(err)
	}
	if l := next2.Wallets[id].Limits("BTC"); l == nil || !l.WeeklyCap.Equal(sat(400_000_000)) || !l.DailyCap.Equal(sat(100_000_000)) || next2.Version != 3 {
		t.Errorf("after -weekly-cap: %+v, version %d", l, next2.Version)
	}
	if l := next.Wallets[id].Limits("BTC"); !l.WeeklyCap.Equal(sat(300_000_000)) {
		t.Errorf("drafting changed the bundle it started from: %+v", l)
	}

	// Format 1 in force: the draft is format 2 with the same rules.
	old := policytest.Genesis("test")
	old.Format = policy.BundleFormat1
	old.Wallets = map[string]*policy.WalletRules{id: {Name: "cold", Network: "regtest", Role: policy.RoleCold,
		Destinations: []policy.Destination{{Address: allowedDest, Label: "cold storage"}}, MaxAmountSat: 50_000_000, DailyCapSat: 100_000_000,
		WeeklyCapSat: 300_000_000, MaxFeeSat: 20_000, AllowRBF: true, ApprovalTiers: []policy.Tier{{MinAmountSat: 30_000_000, Approvals: 2, Group: "treasury"}},
		Originators: []policy.Originator{policytest.Alice.Originator()}}}
	cur := parse(old)
	raw, up, err := draft(cur, walletChange{wallet: id, name: "cold-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	was, now := cur.Wallets[id], up.Wallets[id]
	if up.Format != policy.BundleFormat || now.Name != "cold-1" || !sameLimits(now.AssetLimits(), was.AssetLimits()) || !now.FeeCap().Equal(was.FeeCap()) ||
		now.MaxAmountSat != 0 || len(now.Tiers()) != 1 || now.Tiers()[0].Asset != "BTC" || !now.Tiers()[0].MinAmount.Equal(was.Tiers()[0].MinAmount) {
		t.Errorf("format 1 rewritten: %+v\nfrom %+v", now, was)
	}
	if _, p := now.ChainOf(); !p.(bitcoin.Params).AllowRBF || !bytes.Contains(raw, []byte(`"allow_rbf": true`)) {
		t.Errorf("allow_rbf is lost: params %+v\n%s", p, raw)
	}

	for _, tt := range []struct {
		name string
		ch   walletChange
		want string
	}{
		{"a new wallet without a network", walletChange{wallet: "w-00000000000000ff", to: allowedDest, label: "x"}, "is new to the policy: -network is required"},
		{"a new wallet on litecoin", walletChange{wallet: "w-00000000000000ff", network: "litecoin"}, `-network "litecoin"`},
		{"another network", walletChange{wallet: id, network: "testnet"}, "a wallet's network does not change"},
		{"a weekly cap below the daily cap", walletChange{wallet: id, weeklyCap: 1000}, "assets.BTC.weekly_cap must be at least daily_cap"},
		{"a tier of a group that is not", walletChange{wallet: id, tiers: []policy.Tier{{Asset: "BTC", MinAmount: sat(1), Approvals: 1, Group: "nobody"}}}, `group "nobody" is not a group`},
	} {
		if _, _, err := draft(next, tt.ch, false); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("draft with %s: %v; want %q", tt.name, err, tt.want)
		}
	}
}

// sameLimits reports whether a and b are the same caps of the same assets.
func sameLimits(a, b []policy.AssetLimits) bool {
	return slices.EqualFunc(a, b, func(x, y policy.AssetLimits) bool {
		return x.Asset == y.Asset && x.MaxAmount.Equal(y.MaxAmount) && x.DailyCap.Equal(y.DailyCap) && x.WeeklyCap.Equal(y.WeeklyCap)
	})
}

func TestAmountText(t *testing.T) {
	for _, tt := range []struct {
		chain, network, asset string
		amount                chain.Amount
		want                  string
	}{
		{"bitcoin", "regtest", "BTC", chain.AmountOf(25_000_000), "0.25 BTC (25000000 sat)"},
		{"bitcoin", "mainnet", "BTC", chain.AmountOf(1), "0.00000001 BTC (1 sat)"},
		{"bitcoin", "mainnet", "BTC", chain.AmountOf(2_100_000_000_000_000), "21000000 BTC (2100000000000000 sat)"},
		{"bitcoin", "regtest", "USDC", chain.AmountOf(2_500_000), "2500000 base units of USDC"},
		{"dogecoin", "mainnet", "DOGE", chain.MustAmount("1000000000000000000000"), "1000000000000000000000 base units of DOGE"},
	} {
		if got := amountText(tt.chain, tt.network, tt.amount, tt.asset); got != tt.want {
			t.Errorf("amountText(%s %s, %s %s) = %q, want %q", tt.chain, tt.network, tt.amount, tt.asset, got, tt.want)
		}
	}
	if got := sats(1410); got != "0.0000141 BTC (1410 sat)" {
		t.Errorf("sats(1410) = %q", got)
	}
}

// TestWithdrawalOutput: a withdrawal as a node serves it, for programs and
// for people: the intent's fields from its canonical bytes, amounts with
// their asset and base units, the transaction's id and its fee's asset.
func TestWithdrawalOutput(t *testing.T) {
	in := bitcoin.NeutralIntent(bitcoin.Intent{WithdrawalID: "wd-1", WalletID: "w-0123456789abcdef", Network: bitcoin.Regtest, Asset: "BTC",
		Destination: allowedDest, Amount: 45_000_000, FeeCap: 10_000, RequestedBy: "carol"})
	txid := strings.Repeat("ab", 32)
	w := &pb.Withdrawal{WithdrawalId: "wd-1", WalletId: "w-0123456789abcdef", Chain: "bitcoin", Network: "regtest", Intent: in.Canonical(),
		Status: pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL, Tx: &pb.TxRef{Id: txid, Fee: "1410", FeeAsset: "BTC"},
		DestinationLabel: "cold storage", Originator: "ledger", PolicyVersion: 2,
		Approval: &pb.ApprovalState{Required: 2, Group: "treasury", TierAsset: "BTC", TierMinAmount: "30000000", Approvers: []string{"alice"},
			Problems: map[string]string{"carol": "asked for the withdrawal"}}}
	wj := withdrawalToJSON(w, "node-1")
	if wj.Asset != "BTC" || wj.Amount != "45000000" || wj.FeeCap != "10000" || wj.Fee != "1410" || wj.FeeAsset != "BTC" || wj.TxID != txid ||
		wj.RequestedBy != "carol" || wj.Destination != allowedDest || wj.Approval == nil || wj.Approval.TierMinAmount != "30000000" {
		t.Errorf("withdrawalToJSON = %+v", wj)
	}
	var out bytes.Buffer
	printWithdrawal(&out, wj)
	for _, want := range []string{"status       AWAITING_APPROVAL", "wallet       w-0123456789abcdef (bitcoin regtest)", "destination  " + allowedDest + "  (cold storage)",
		"amount       0.45 BTC (45000000 sat)", "fee          0.0000141 BTC (1410 sat); the intent's cap is 0.0001 BTC (10000 sat)", "txid         " + txid,
		"asked by     carol", "approval     2 of group treasury (from 0.3 BTC (30000000 sat)); counted: alice", "carol's does not count: asked for the withdrawal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("withdraw show does not say %q:\n%s", want, out.String())
		}
	}
	if got := statusLine(&pb.Withdrawal{Status: pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED, Tx: &pb.TxRef{Id: txid}}); got != "SIGNED, txid "+txid {
		t.Errorf("statusLine = %q", got)
	}

	// Before a node re-derived it, there is no fee yet; the cap is in the chain's fee asset.
	w.Tx = nil
	out.Reset()
	printWithdrawal(&out, withdrawalToJSON(w, "node-1"))
	if !strings.Contains(out.String(), "fee cap      0.0001 BTC (10000 sat)") {
		t.Errorf("withdraw show of a withdrawal without its transaction:\n%s", out.String())
	}
}
