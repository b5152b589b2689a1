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
		{"submit without files", []string{"withdraw", "submit"}, "-intent and -psbt are required"},
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
		{"propose a tier of two parts", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-tier", "10000000:2"}, "want SATS:K:GROUP"},
		{"propose a tier of words", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-tier", "lots:2:treasury"}, "with SATS and K numbers"},
		{"propose an originator without name", []string{"policy", "propose", "-wallet", "w-1", "-o", "p.json", "-originator", "ledger.pub"}, "want NAME=KEYFILE.pub"},
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

	// The intent file round-trips, and the PSBT reads binary or base64.
	intentFile := filepath.Join(dir, "intent.json")
	ib, _ := json.Marshal(intentToJSON(in))
	if err := os.WriteFile(intentFile, ib, 0o644); err != nil {
		t.Fatal(err)
	}
	back, n, err := readIntent(intentFile)
	if err != nil || back != in || n.value != networks[3].value {
		t.Errorf("readIntent = %+v, %v, %v; want %+v on regtest", back, n, err, in)
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
	for name, content := range map[string]string{
		"unknown field":    `{"withdrawal_id":"a","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":1,"fee_cap_sat":1,"memo":"hi"}`,
		"unknown network":  `{"withdrawal_id":"a","wallet_id":"w","network":"bitcoin","asset":"BTC","destination":"x","amount_sat":1,"fee_cap_sat":1}`,
		"negative amount":  `{"withdrawal_id":"a","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":-1,"fee_cap_sat":1}`,
		"trailing content": `{"withdrawal_id":"a","wallet_id":"w","network":"regtest","asset":"BTC","destination":"x","amount_sat":1,"fee_cap_sat":1} {}`,
	} {
		if _, _, err := readIntent(write("i.json", content)); err == nil {
			t.Errorf("readIntent accepts %s", name)
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
