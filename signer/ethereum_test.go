package signer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// updateEthcheck rewrites the signed Ethereum withdrawals that the nested
// module internal/ethcheck checks with go-ethereum.
var updateEthcheck = flag.Bool("update-ethcheck", false, "rewrite internal/ethcheck/testdata/cluster.json from a real cluster run")

// ethFixture writes TestEthereumWithdrawals' audit logs, wallet keys and
// node keys, for cmd/auditor's replay tests (its testdata/ethereum).
var ethFixture = flag.String("ethereum-fixture", "", "write the audit logs, wallet keys and node keys of TestEthereumWithdrawals' cluster to this `directory`")

// Test addresses on Sepolia. The token contract is only a name in the
// policy's registry: nodes see no chain.
const (
	ethDest      = "0x52908400098527886E0F7030069857D2E4169EE7"
	ethAttacker  = "0x8617E340B3D01FA5F11F306F4090FD50E238070D"
	ethUSDC      = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
	ethSafe      = "0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe"
	ethWallet    = "w-e1e1e1e1e1e1e1e1"
	ethSafeOwner = "w-5afe5afe5afe5afe"
)

// ethRules are an Ethereum wallet's rules on Sepolia: ETH and USDC to the
// one allowlisted destination, USDC transfers of 100 USDC or more wait
// for two treasury officers; safe makes the wallet an owner of ethSafe.
func ethRules(t testing.TB, safe bool) policy.WalletRules {
	params := map[string]any{
		"chain_id": 11155111, "first_nonce": 0, "max_gas_limit": 100_000, "allow_replacement": !safe,
		"tokens": []any{map[string]any{"symbol": "USDC", "contract": ethUSDC, "decimals": 6}},
	}
	if safe {
		params["safe"] = map[string]any{"address": ethSafe, "version": "1.3.0", "first_nonce": 12, "max_safe_tx_gas": 50_000}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return policy.WalletRules{
		Name: "eth hot", Chain: ethereum.Name, Network: "sepolia", Role: policy.RoleHot,
		Destinations: []policy.Destination{{Address: ethDest, Label: "exchange cold storage"}},
		Assets: []policy.AssetLimits{
			{Asset: "ETH", MaxAmount: chain.MustAmount("5000000000000000000"), DailyCap: chain.MustAmount("10000000000000000000"), WeeklyCap: chain.MustAmount("20000000000000000000")},
			{Asset: "USDC", MaxAmount: chain.AmountOf(1_000_000_000), DailyCap: chain.AmountOf(2_000_000_000), WeeklyCap: chain.AmountOf(5_000_000_000)},
		},
		MaxFee:        chain.MustAmount("10000000000000000"), // 0.01 ETH
		Params:        raw,
		ApprovalTiers: []policy.Tier{{Asset: "USDC", MinAmount: chain.AmountOf(100_000_000), Approvals: 2, Group: "treasury"}},
		Originators:   []policy.Originator{policytest.Ledger.Originator()},
	}
}

// ethIntent is a withdrawal of amount base units of asset to dest.
func ethIntent(id, walletID, asset, dest string, amount chain.Amount) chain.Intent {
	return chain.Intent{Version: chain.IntentV2, WithdrawalID: id, WalletID: walletID, Chain: ethereum.Name, Network: "sepolia",
		Asset: asset, Destination: dest, Amount: amount, FeeCap: chain.MustAmount("5000000000000000")}
}

// ethTransfer builds the unsigned EIP-1559 transaction paying in at nonce,
// with a worst-case fee of 30 gwei × 60000 gas.
func ethTransfer(t testing.TB, p *ethereum.Params, in chain.Intent, nonce uint64, maxFee uint64) []byte {
	t.Helper()
	raw, err := ethereum.BuildTransfer(p, in, nonce, chain.AmountOf(1_000_000_000), chain.AmountOf(maxFee), 60_000)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// ethSigned is one signed withdrawal for internal/ethcheck to decode with
// go-ethereum.
type ethSigned struct {
	WithdrawalID string `json:"withdrawal_id"`
	Kind         string `json:"kind"` // "transaction" or "safe_signature"
	Intent       string `json:"intent"`
	UnsignedTx   string `json:"unsigned_tx"` // hex
	Signed       string `json:"signed"`      // hex
	TxID         string `json:"txid"`
	From         string `json:"from"` // the sender, or the Safe's owner
	ChainID      uint64 `json:"chain_id"`
	SafeVersion  string `json:"safe_version,omitempty"`
}

// TestEthereumWithdrawals signs ETH, ERC-20 and Safe withdrawals with a
// 2-of-3 cluster over mutual TLS, and attacks the nonce discipline, the
// id binding, the calldata and the Safe's operation on every node.
func TestEthereumWithdrawals(t *testing.T) {
	c := newTestCluster(t, 3, 2)
	c.importFixtureWalletAs(t, ethWallet)
	c.importFixtureWalletAs(t, ethSafeOwner)
	raw := c.nextPolicy(t, func(b *policy.Bundle) {
		r, s := ethRules(t, false), ethRules(t, true)
		b.Wallets[ethWallet], b.Wallets[ethSafeOwner] = &r, &s
	})
	sigs := policytest.SignBundle(t, raw, policytest.Alice, policytest.Bob)
	for _, id := range c.ids {
		if _, err := c.submitPolicy(id, raw, sigs); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	bundle, err := policy.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, cp := bundle.Wallets[ethWallet].ChainOf()
	_, sp := bundle.Wallets[ethSafeOwner].ChainOf()
	params, safeParams := cp.(*ethereum.Params), sp.(*ethereum.Params)
	root, err := c.nodes["node-1"].node.WalletRoot(ethWallet)
	if err != nil {
		t.Fatal(err)
	}
	from, err := ethereum.Chain{}.Address(bitcoin.NeutralKey(root), "sepolia", bip32.ReceivePath(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids { // every node derives the same address
		got, err := pb.NewWalletServiceClient(c.dial(id, pki.RoleBackend)).DeriveAddress(t.Context(),
			&pb.DeriveAddressRequest{WalletId: ethWallet, Chain: "ethereum", Network: "sepolia", Index: 0})
		if err != nil || got.Address != from {
			t.Fatalf("%s: address %v, %v; want %s", id, got, err, from)
		}
	}
	submit := func(node string, in chain.Intent, unsigned []byte) (*pb.Withdrawal, error) {
		return c.submitNeutral(node, in, unsigned, policytest.SignIntent(t, in, policytest.Ledger))
	}
	var golden []ethSigned
	signed := func(in chain.Intent, unsigned []byte, kind string, p *ethereum.Params) *pb.Withdrawal {
		t.Helper()
		if _, err := submit("node-1", in, unsigned); err != nil {
			t.Fatalf("%s: %v", in.WithdrawalID, err)
		}
		w := c.await(t, "node-1", in.WithdrawalID)
		if w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%s: %v %s", in.WithdrawalID, w.Status, w.Reason)
		}
		e := ethSigned{WithdrawalID: in.WithdrawalID, Kind: kind, Intent: string(in.Canonical()), UnsignedTx: hex.EncodeToString(unsigned),
			Signed: hex.EncodeToString(w.SignedTx), TxID: w.GetTx().GetId(), From: from, ChainID: p.ChainID()}
		if s, ok := p.Safe(); ok {
			e.SafeVersion = s.Version
		}
		golden = append(golden, e)
		return w
	}

	t.Run("ETH, then USDC, at the next nonces", func(t *testing.T) {
		in := ethIntent("wd-eth-1", ethWallet, "ETH", ethDest, chain.MustAmount("250000000000000000"))
		w := signed(in, ethTransfer(t, params, in, 0, 30_000_000_000), "transaction", params)
		if w.SignedTx[0] != ethereum.TypeDynamicFee || w.GetNonce().GetNonce() != 0 || w.GetTx().GetFeeAsset() != "ETH" || w.GetTx().GetFee() != "1800000000000000" {
			t.Fatalf("signed %x, tx %v, nonce %v", w.SignedTx, w.Tx, w.Nonce)
		}
		usdc := ethIntent("wd-usdc-1", ethWallet, "USDC", ethDest, chain.AmountOf(25_000_000))
		signed(usdc, ethTransfer(t, params, usdc, 1, 30_000_000_000), "transaction", params)
		for _, id := range c.ids { // the committee recorded the same signatures
			if got := c.get(t, id, "wd-usdc-1"); got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED && got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_RECEIVED {
				t.Fatalf("%s: %v", id, got.Status)
			}
		}
	})

	t.Run("a signed nonce is never signed again, nor one ahead, on any node", func(t *testing.T) {
		for i, id := range c.ids {
			reuse := ethIntent("wd-reuse-"+id, ethWallet, "ETH", ethDest, chain.AmountOf(1_000_000))
			_, err := submit(id, reuse, ethTransfer(t, params, reuse, 1, 30_000_000_000))
			wantRefused(t, err, codes.FailedPrecondition, policy.RuleNonceReused)
			gap := ethIntent("wd-gap-"+id, ethWallet, "ETH", ethDest, chain.AmountOf(1_000_000))
			_, err = submit(id, gap, ethTransfer(t, params, gap, uint64(3+i), 30_000_000_000))
			wantRefused(t, err, codes.FailedPrecondition, policy.RuleNonceGap)
		}
	})

	t.Run("the same id with other bytes is refused on every node", func(t *testing.T) {
		in := ethIntent("wd-eth-1", ethWallet, "ETH", ethDest, chain.MustAmount("250000000000000000"))
		other := ethTransfer(t, params, in, 0, 40_000_000_000) // "the last one was stuck: sign this"
		for _, id := range c.ids {
			_, err := submit(id, in, other)
			wantRefused(t, err, codes.FailedPrecondition, "withdrawal.id_reused")
		}
	})

	t.Run("a replacement takes the nonce over at a higher fee", func(t *testing.T) {
		in := ethIntent("wd-eth-2", ethWallet, "ETH", ethDest, chain.AmountOf(1_000_000))
		if _, err := submit("node-2", in, ethTransfer(t, params, in, 2, 20_000_000_000)); err != nil {
			t.Fatal(err)
		}
		if w := c.await(t, "node-2", "wd-eth-2"); w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%v %s", w.Status, w.Reason)
		}
		cheaper := ethIntent("wd-eth-2b", ethWallet, "ETH", ethDest, chain.AmountOf(1_000_000))
		cheaper.Replaces = "wd-eth-2"
		_, err := submit("node-3", cheaper, ethTransfer(t, params, cheaper, 2, 20_000_000_000))
		wantRefused(t, err, codes.FailedPrecondition, policy.RuleNonceReplacementInvalid)
		elsewhere := ethIntent("wd-eth-2c", ethWallet, "ETH", ethAttacker, chain.AmountOf(1_000_000))
		elsewhere.Replaces = "wd-eth-2"
		_, err = submit("node-3", elsewhere, ethTransfer(t, params, elsewhere, 2, 40_000_000_000))
		wantRefused(t, err, codes.FailedPrecondition, policy.RuleDestinationNotAllowed)
		bump := ethIntent("wd-eth-2d", ethWallet, "ETH", ethDest, chain.AmountOf(1_000_000))
		bump.Replaces = "wd-eth-2"
		signed(bump, ethTransfer(t, params, bump, 2, 40_000_000_000), "transaction", params)
	})

	t.Run("approve, calldata tricks and contract creation are refused", func(t *testing.T) {
		usdc, _ := ethereum.ParseAddress(ethUSDC)
		dest, _ := ethereum.ParseAddress(ethDest)
		in := ethIntent("wd-approve", ethWallet, "USDC", ethDest, chain.AmountOf(1_000_000))
		good := ethereum.TransferCalldata(dest, chain.AmountOf(1_000_000))
		approve := append([]byte{0x09, 0x5e, 0xa7, 0xb3}, good[4:]...) // approve(dest, amount): Radiant Capital
		dirty := bytes.Clone(good)
		dirty[4] = 0xff // a dirty high byte in the address word
		for name, tc := range map[string]struct {
			data []byte
			to   *ethereum.Address
			rule string
		}{
			"approve":           {approve, &usdc, string(ethereum.RuleDataSelector)},
			"dirty address":     {dirty, &usdc, string(ethereum.RuleDataAddressWord)},
			"trailing calldata": {append(bytes.Clone(good), 0), &usdc, string(ethereum.RuleDataLength)},
			"contract creation": {good, nil, string(ethereum.RuleTxContractCreation)},
		} {
			tx := &ethereum.DynamicFeeTx{ChainID: chain.AmountOf(11155111), Nonce: 3, MaxPriorityFeePerGas: chain.AmountOf(1), MaxFeePerGas: chain.AmountOf(1_000_000_000),
				GasLimit: 60_000, To: tc.to, Data: tc.data}
			in.WithdrawalID = "wd-" + name[:5] + "-x"
			_, err := submit("node-1", in, tx.Unsigned())
			wantRefused(t, err, codes.FailedPrecondition, tc.rule)
		}
	})

	t.Run("USDC from 100 waits for two officers, then signs", func(t *testing.T) {
		in := ethIntent("wd-usdc-big", ethWallet, "USDC", ethDest, chain.AmountOf(150_000_000))
		w, err := submit("node-1", in, ethTransfer(t, params, in, 3, 30_000_000_000))
		if err != nil {
			t.Fatal(err)
		}
		if w.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_AWAITING_APPROVAL || w.GetApproval().GetTierAsset() != "USDC" || w.GetApproval().GetTierMinAmount() != "100000000" {
			t.Fatalf("%v %v", w.Status, w.Approval)
		}
		for _, p := range []policytest.Party{policytest.Alice, policytest.Bob} {
			if err := c.approve(t, policytest.Approve(t, p, statement(w, policy.VerdictApprove, time.Now().Add(time.Hour)))); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.await(t, "node-1", in.WithdrawalID); got.Status != pb.WithdrawalStatus_WITHDRAWAL_STATUS_SIGNED {
			t.Fatalf("%v %s", got.Status, got.Reason)
		}
		golden = append(golden, ethSigned{WithdrawalID: in.WithdrawalID, Kind: "transaction", Intent: string(in.Canonical()),
			UnsignedTx: hex.EncodeToString(ethTransfer(t, params, in, 3, 30_000_000_000)), Signed: hex.EncodeToString(c.get(t, "node-1", in.WithdrawalID).SignedTx),
			TxID: c.get(t, "node-1", in.WithdrawalID).GetTx().GetId(), From: from, ChainID: 11155111})
	})

	t.Run("a Safe owner signs a SafeTx it computed itself; Bybit's is refused", func(t *testing.T) {
		in := ethIntent("wd-safe-1", ethSafeOwner, "ETH", ethDest, chain.MustAmount("1000000000000000000"))
		unsigned, err := ethereum.BuildSafeTx(safeParams, in, 12, 0)
		if err != nil {
			t.Fatal(err)
		}
		w := signed(in, unsigned, "safe_signature", safeParams)
		st, err := ethereum.ParseSafeTx(unsigned)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := st.Hash("1.3.0")
		if err != nil {
			t.Fatal(err)
		}
		owner, err := ethereum.RecoverSafeSignature(hash, w.SignedTx)
		if err != nil || owner.String() != from || w.GetTx().GetId() != hash.String() || len(w.SignedTx) != ethereum.SafeSignatureLen {
			t.Fatalf("owner %v (%v), want %s; tx %v", owner, err, from, w.Tx)
		}
		// Bybit, 21 Feb 2025: a delegatecall to a contract that replaced the
		// Safe's code, shown to the owners as a routine transfer.
		bybit := *st
		bybit.Operation = chain.AmountOf(1)
		bybit.Nonce = chain.AmountOf(13)
		bybitIn := ethIntent("wd-bybit", ethSafeOwner, "ETH", ethDest, chain.MustAmount("1000000000000000000"))
		for _, id := range c.ids {
			bybitIn.WithdrawalID = "wd-bybit-" + id
			_, err := submit(id, bybitIn, bybit.Encode())
			wantRefused(t, err, codes.FailedPrecondition, string(ethereum.RuleSafeOperation))
		}
		selfCall := *st
		safe, _ := ethereum.ParseAddress(ethSafe)
		selfCall.To, selfCall.Nonce = safe, chain.AmountOf(13)
		bybitIn.WithdrawalID = "wd-safe-self"
		_, err = submit("node-2", bybitIn, selfCall.Encode())
		wantRefused(t, err, codes.FailedPrecondition, string(ethereum.RuleSafeSelfCall))
	})

	if *ethFixture != "" {
		safeRoot, err := c.nodes["node-1"].node.WalletRoot(ethSafeOwner)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range c.ids {
			c.stop(id)
		}
		writeReplayFixture(t, c, *ethFixture, map[string]bitcoin.Key{ethWallet: root, ethSafeOwner: safeRoot})
	}
	if *updateEthcheck {
		slices.SortFunc(golden, func(a, b ethSigned) int { return bytes.Compare([]byte(a.WithdrawalID), []byte(b.WithdrawalID)) })
		out, err := json.MarshalIndent(golden, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("..", "internal", "ethcheck", "testdata", "cluster.json")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
