package ethereum_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

// TestSigningHashKnownAnswers checks signing hashes that go-ethereum
// v1.17.10's types.NewLondonSigner(chainID).Hash computes for the same
// transactions (internal/ethcheck recomputes them on many more).
func TestSigningHashKnownAnswers(t *testing.T) {
	usdt := mustAddress(t, "0xdAC17F958D2ee523a2206206994597C13D831ec7")
	dest := mustAddress(t, testDest)
	tests := []struct {
		name string
		tx   ethereum.DynamicFeeTx
		want string
	}{
		{"USDT transfer on mainnet", ethereum.DynamicFeeTx{
			ChainID: chain.AmountOf(1), Nonce: 42, MaxPriorityFeePerGas: chain.AmountOf(2 * gwei), MaxFeePerGas: chain.AmountOf(40 * gwei),
			GasLimit: 65000, To: &usdt, Data: ethereum.TransferCalldata(dest, chain.AmountOf(1_500_000)),
		}, "c73bad4e3f2550ccc987b54350ac56c3b977ddaef17612edf339dbf51d2eaf0e"},
		{"1 wei on sepolia", ethereum.DynamicFeeTx{
			ChainID: chain.AmountOf(11155111), MaxFeePerGas: chain.AmountOf(1), GasLimit: 21000, To: &dest, Value: chain.AmountOf(1),
		}, "eb9f91c1cb3960011894fa79613abd68105d93619d0d0a1d0c6e5215d08129cc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tx.SigningHash().String(); got != tc.want {
				t.Fatalf("SigningHash = %s, want %s", got, tc.want)
			}
			back, err := ethereum.ParseDynamicFeeTx(tc.tx.Unsigned())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Unsigned(), tc.tx.Unsigned()) || back.SigningHash().String() != tc.want {
				t.Fatal("the transaction does not decode to itself")
			}
		})
	}
}

// TestDescribe checks the display of transactions Rederive would refuse.
func TestDescribe(t *testing.T) {
	a := newAdversary(t, baseToken)
	a.tx.Data = selectorCall("approve(address,uint256)", a.tx.Data[4:36], a.tx.Data[36:])
	a.tx.To = nil
	facts, err := ethereum.Describe(a.encode())
	if err != nil {
		t.Fatal(err)
	}
	byLabel := map[string]chain.Fact{}
	for _, f := range facts {
		byLabel[f.Label] = f
	}
	if f := byLabel["To"]; !f.Risk || !strings.Contains(f.Value, "creates a contract") {
		t.Errorf("To: %+v", f)
	}
	if f := byLabel["Data"]; !strings.HasPrefix(f.Value, "approve(address,uint256): 095ea7b3") {
		t.Errorf("Data: %+v", f)
	}
	if f := byLabel["Max fee per gas"]; f.Value != "30 gwei (30000000000 wei)" {
		t.Errorf("Max fee per gas: %+v", f)
	}
	b := newAdversary(t, baseToken)
	facts, _ = ethereum.Describe(b.encode())
	for _, f := range facts {
		if f.Label == "Data" && f.Value != "transfer("+testDest+", 1500000)" {
			t.Errorf("Data: %+v", f)
		}
		if f.Risk {
			t.Errorf("a valid transfer's fact %+v is marked Risk", f)
		}
	}
	if _, err := ethereum.Describe([]byte{0x04, 0xc0}); refusalRule(err) != ethereum.RuleTxSetCode {
		t.Errorf("Describe of a set-code transaction: %v", err)
	}
}

// TestBuildRefuses checks that the builders refuse what Rederive would.
func TestBuildRefuses(t *testing.T) {
	p := parseTestParams(t, "sepolia", testParams(false))
	ps := parseTestParams(t, "sepolia", testParams(true))
	in := testIntent("USDC", 1_500_000, 5_000_000*gwei)
	one, thirty := chain.AmountOf(gwei), chain.AmountOf(30*gwei)
	tests := []struct {
		name string
		err  func() error
		rule chain.Rule // "" for ErrBuild
	}{
		{"Safe wallet", func() error { _, err := ethereum.BuildTransfer(ps, in, 0, one, thirty, 65000); return err }, ""},
		{"no Safe", func() error { _, err := ethereum.BuildSafeTx(p, in, 0, 0); return err }, ""},
		{"priority above max", func() error { _, err := ethereum.BuildTransfer(p, in, 0, thirty, one, 65000); return err }, ""},
		{"gas over the cap", func() error { _, err := ethereum.BuildTransfer(p, in, 0, one, thirty, 100_001); return err }, ""},
		{"fee over the intent's cap", func() error {
			_, err := ethereum.BuildTransfer(p, in, 0, one, chain.AmountOf(1000*gwei), 65000)
			return err
		}, ""},
		{"nonce over MaxNonce", func() error { _, err := ethereum.BuildTransfer(p, in, 1<<63, one, thirty, 65000); return err }, ""},
		{"safeTxGas over the cap", func() error { _, err := ethereum.BuildSafeTx(ps, in, 0, 50_001); return err }, ""},
		{"bad intent", func() error {
			bad := in
			bad.Asset = "USDT"
			_, err := ethereum.BuildTransfer(p, bad, 0, one, thirty, 65000)
			return err
		}, chain.RuleIntentAsset},
		{"zero params", func() error { _, err := ethereum.BuildSafeTx(&ethereum.Params{}, in, 0, 0); return err }, ethereum.RuleParamsInvalid},
	}
	for _, tc := range tests {
		err := tc.err()
		switch {
		case tc.rule == "" && !errors.Is(err, ethereum.ErrBuild):
			t.Errorf("%s: %v, want ErrBuild", tc.name, err)
		case tc.rule != "" && refusalRule(err) != tc.rule:
			t.Errorf("%s: %v, want %s", tc.name, err, tc.rule)
		}
	}
}
