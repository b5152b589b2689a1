package main

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/policytest"
)

const testWallet = "w-0123456789abcdef"

// parsed is b as a node reads it: the diff reads the normalized rules
// that only ParseBundle fills in.
func parsed(t *testing.T, b policy.Bundle) *policy.Bundle {
	t.Helper()
	out, err := policy.ParseBundle(policytest.Marshal(t, b))
	if err != nil {
		t.Fatalf("test bundle: %v", err)
	}
	return out
}

// format1 is a Bitcoin bundle of format 1, in satoshis.
func format1() policy.Bundle {
	b := policytest.Genesis("lab")
	b.Format = policy.BundleFormat1
	b.Wallets = map[string]*policy.WalletRules{testWallet: {
		Name: "hot-1", Network: string(bitcoin.Regtest), Role: policy.RoleWarm,
		Destinations: []policy.Destination{{Address: allowedDest, Label: "cold storage"}},
		MaxAmountSat: 50_000_000, DailyCapSat: 100_000_000, WeeklyCapSat: 200_000_000, MaxFeeSat: 20_000,
		ApprovalTiers: []policy.Tier{{MinAmountSat: 10_000_000, Approvals: 2, Group: "treasury"}},
		Originators:   []policy.Originator{policytest.Ledger.Originator()},
	}}
	return b
}

// format2 is the same rules in format 2: the chain named, caps per asset.
func format2() policy.Bundle {
	b := policytest.Genesis("lab")
	b.Wallets = map[string]*policy.WalletRules{testWallet: {
		Name: "hot-1", Chain: bitcoin.Name, Network: string(bitcoin.Regtest), Role: policy.RoleWarm,
		Destinations: []policy.Destination{{Address: allowedDest, Label: "cold storage"}},
		Assets: []policy.AssetLimits{{Asset: bitcoin.Asset, MaxAmount: chain.AmountOf(50_000_000),
			DailyCap: chain.AmountOf(100_000_000), WeeklyCap: chain.AmountOf(200_000_000)}},
		MaxFee:        chain.AmountOf(20_000),
		ApprovalTiers: []policy.Tier{{Asset: bitcoin.Asset, MinAmount: chain.AmountOf(10_000_000), Approvals: 2, Group: "treasury"}},
		Originators:   []policy.Originator{policytest.Ledger.Originator()},
	}}
	return b
}

func TestDiffBundles(t *testing.T) {
	w := func(b *policy.Bundle) *policy.WalletRules { return b.Wallets[testWallet] }
	const testnetDest = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
	for _, tc := range []struct {
		name   string
		base   func() policy.Bundle
		change func(b *policy.Bundle)
		// want are the changes expected besides the version, in order;
		// "!! " marks those that must be risky.
		want []string
	}{
		{"new destination", format1, func(b *policy.Bundle) {
			w(b).Destinations = append(w(b).Destinations, policy.Destination{Address: otherDest, Label: "b"})
		}, []string{"!! NEW DESTINATION " + otherDest}},
		{"destination spelled otherwise", format2, func(b *policy.Bundle) {
			w(b).Destinations[0].Address = strings.ToUpper(allowedDest)
		}, nil},
		{"any destination", format1, func(b *policy.Bundle) { w(b).AnyDestination = true }, []string{"!! ANY DESTINATION ALLOWED"}},
		{"cap raised", format1, func(b *policy.Bundle) { w(b).WeeklyCapSat *= 2 }, []string{"!! BTC 7d cap RAISED 2 BTC -> 4 BTC"}},
		{"cap lowered", format1, func(b *policy.Bundle) { w(b).MaxAmountSat /= 2 }, []string{"BTC per-withdrawal cap lowered 0.5 BTC -> 0.25 BTC"}},
		{"fee cap raised", format1, func(b *policy.Bundle) { w(b).MaxFeeSat *= 2 }, []string{"!! fee cap RAISED 0.0002 BTC -> 0.0004 BTC"}},
		{"RBF allowed", format1, func(b *policy.Bundle) { w(b).AllowRBF = true }, []string{"!! RBF ALLOWED"}},
		{"lock time raised", format1, func(b *policy.Bundle) { w(b).MaxLockTime = 800_000 }, []string{"!! lock time 0 only -> up to block 800000"}},
		{"tier threshold raised", format1, func(b *policy.Bundle) { w(b).ApprovalTiers[0].MinAmountSat *= 2 }, []string{"!! APPROVAL TIERS WEAKENED: from 0.1 BTC 2 of treasury -> from 0.2 BTC 2 of treasury"}},
		{"tier threshold lowered", format1, func(b *policy.Bundle) { w(b).ApprovalTiers[0].MinAmountSat /= 2 }, []string{"approval tiers changed"}},
		{"tier approvals raised", format1, func(b *policy.Bundle) { w(b).ApprovalTiers[0].Approvals = 3 }, []string{"approval tiers changed"}},
		{"tier moved to another group", format1, func(b *policy.Bundle) {
			w(b).ApprovalTiers[0].Group, w(b).ApprovalTiers[0].Approvals = "security", 1
		}, []string{"!! APPROVAL TIERS WEAKENED"}},
		{"tiers removed", format1, func(b *policy.Bundle) { w(b).ApprovalTiers = nil }, []string{"!! APPROVAL TIERS WEAKENED"}},
		{"officer key changed", format1, func(b *policy.Bundle) { b.Officers[2].Key = policytest.Mallory.Key() }, []string{"!! OFFICER KEY CHANGED: carol"}},
		{"officer added", format1, func(b *policy.Bundle) { b.Officers = append(b.Officers, policytest.Mallory.Officer()) }, []string{"!! NEW OFFICER mallory"}},
		{"quorum lowered", format1, func(b *policy.Bundle) { b.ChangeQuorum = 1 }, []string{"!! CHANGE QUORUM LOWERED: 2 -> 1"}},
		{"quorum raised", format1, func(b *policy.Bundle) { b.ChangeQuorum = 3 }, []string{"change quorum raised"}},
		{"group gains", format1, func(b *policy.Bundle) { b.Groups["security"] = []string{"carol", "alice"} }, []string{"!! group security GAINS alice"}},
		{"originator added", format1, func(b *policy.Bundle) {
			w(b).Originators = append(w(b).Originators, policytest.Mallory.Originator())
		}, []string{"!! NEW ORIGINATOR mallory"}},
		{"cold to hot", format1, func(b *policy.Bundle) { w(b).Role = policy.RoleHot }, []string{"!! role warm -> hot"}},
		{"nothing else", format1, func(b *policy.Bundle) {}, nil},

		// Format 2: the same rules read the same; per-asset caps, the
		// chain's parameters, the chain and network.
		{"format 1 to 2, same rules", format1, func(b *policy.Bundle) { *b = format2() }, []string{"bundle format 1 -> 2"}},
		{"format 2, nothing else", format2, func(b *policy.Bundle) {}, nil},
		{"format 2 asset cap raised", format2, func(b *policy.Bundle) {
			w(b).Assets[0].DailyCap = chain.AmountOf(150_000_000)
		}, []string{"!! BTC 24h cap RAISED 1 BTC -> 1.5 BTC"}},
		{"format 2 asset cap lowered", format2, func(b *policy.Bundle) {
			w(b).Assets[0].WeeklyCap = chain.AmountOf(150_000_000)
		}, []string{"BTC 7d cap lowered 2 BTC -> 1.5 BTC"}},
		{"format 2 fee cap raised", format2, func(b *policy.Bundle) { w(b).MaxFee = chain.AmountOf(30_000) }, []string{"!! fee cap RAISED 0.0002 BTC -> 0.0003 BTC"}},
		{"format 2 params allow RBF", format2, func(b *policy.Bundle) { w(b).Params = json.RawMessage(`{"allow_rbf":true}`) }, []string{"!! RBF ALLOWED"}},
		{"format 2 params lower the lock time", format2, func(b *policy.Bundle) {
			w(b).Params = json.RawMessage(`{"max_lock_time":10}`)
			b.Format = policy.BundleFormat
		}, []string{"!! lock time 0 only -> up to block 10"}},
		{"format 2 tier lowered", format2, func(b *policy.Bundle) { w(b).ApprovalTiers[0].Approvals = 1 }, []string{"!! APPROVAL TIERS WEAKENED: from 0.1 BTC 2 of treasury -> from 0.1 BTC 1 of treasury"}},
		{"format 2 tier threshold raised", format2, func(b *policy.Bundle) {
			w(b).ApprovalTiers[0].MinAmount = chain.AmountOf(20_000_000)
		}, []string{"!! APPROVAL TIERS WEAKENED"}},
		{"format 2 network changed", format2, func(b *policy.Bundle) {
			w(b).Network = string(bitcoin.Testnet)
			w(b).Destinations = []policy.Destination{{Address: testnetDest, Label: "cold storage"}}
		}, []string{"!! NETWORK CHANGED regtest -> testnet", "!! NEW DESTINATION " + testnetDest, "destination removed: " + allowedDest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, next := tc.base(), tc.base()
			tc.change(&next)
			next.Version = 2
			changes := diffBundles(parsed(t, cur), parsed(t, next))
			if changes[0].text != "version 1 -> 2" || changes[0].risky {
				t.Errorf("first change %+v, want the version", changes[0])
			}
			changes = changes[1:]
			ok := len(changes) == len(tc.want)
			for i := 0; ok && i < len(changes); i++ {
				text, risky := strings.CutPrefix(tc.want[i], "!! ")
				ok = strings.Contains(changes[i].text, text) && changes[i].risky == risky
			}
			if !ok {
				t.Errorf("diff = %+v\nwant %q (!! marks risky)", changes, tc.want)
			}
		})
	}
}

// TestWalletSummary shows a format 2 wallet with its chain and each
// asset's caps, and a format 1 wallet the same way.
func TestWalletSummary(t *testing.T) {
	for _, b := range []policy.Bundle{format1(), format2()} {
		var out strings.Builder
		writeSummary(&out, parsed(t, b))
		wantIn(t, "summary", out.String(),
			`wallet w-0123456789abcdef "hot-1": warm, bitcoin regtest`,
			"BTC          0.5 BTC (50,000,000 base units); 1 BTC per 24h; 2 BTC per 7d",
			"at most 0.0002 BTC (20,000 base units) per withdrawal",
			"RBF not allowed; lock time 0 only",
			"from 0.1 BTC: 2 of group treasury")
	}
}

func TestFlattenJSON(t *testing.T) {
	got, err := flattenJSON(json.RawMessage(`{"chain_id":1,"tokens":{"USDC":{"address":"0xA0b8","decimals":6}},"safe":{"owners":["0x1","0x2"]},"empty":[],"x":"\u001b[2J"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"chain_id": "1", "tokens.USDC.address": `"0xA0b8"`, "tokens.USDC.decimals": "6",
		"safe.owners[0]": `"0x1"`, "safe.owners[1]": `"0x2"`, "empty": "[]", "x": `"\u001b[2J"`}
	if !maps.Equal(got, want) {
		t.Errorf("flattenJSON = %v\nwant %v", got, want)
	}
	if got, err := flattenJSON(nil); err != nil || len(got) != 0 {
		t.Errorf("flattenJSON(nil) = %v, %v; want nothing", got, err)
	}
	if _, err := flattenJSON(json.RawMessage(`{"a":`)); err == nil {
		t.Error("flattenJSON of broken JSON: no error")
	}
}

func TestFormat(t *testing.T) {
	rules := parsed(t, format2()).Wallets[testWallet]
	for _, tc := range []struct{ got, want string }{
		{grouped("0"), "0"},
		{grouped("999"), "999"},
		{grouped("1000"), "1,000"},
		{grouped("25000000"), "25,000,000"},
		{amountText(rules, chain.AmountOf(1_410), "BTC"), "0.0000141 BTC (1,410 base units)"},
		{amountText(rules, chain.AmountOf(25_000_000), "BTC"), "0.25 BTC (25,000,000 base units)"},
		{amountText(rules, chain.AmountOf(7), "ETH"), "7 base units of ETH"},
		{amountText(nil, chain.AmountOf(7), "BTC"), "7 base units of BTC"},
		{printable("cold storage"), "cold storage"},
		{printable("a\x1b[2Jb"), `"a\x1b[2Jb"`},
		{printable("a\u202eb"), `"a\u202eb"`},
		{age(45 * time.Second), "45s"},
		{age(3*time.Hour + 5*time.Minute), "3h05m"},
		{age(50 * time.Hour), "2d02h"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestRequestHash pins the request hash to the node's definition:
// known-answer vectors, so a change on either side shows. A version 1
// intent keeps the hash it had before intents had versions.
func TestRequestHash(t *testing.T) {
	in := chain.Intent{Version: chain.IntentV1, WithdrawalID: "wd-1", WalletID: testWallet, Chain: bitcoin.Name, Network: "regtest", Asset: "BTC",
		Destination: allowedDest, Amount: chain.AmountOf(25_000_000), FeeCap: chain.AmountOf(10_000)}
	v2 := in
	v2.Version = chain.IntentV2
	// sha256 of the tag, length, intent and unsigned transaction, computed
	// independently.
	for _, tc := range []struct {
		in   chain.Intent
		want string
	}{
		{in, "3148aae4b83367f13ea8db75c02f00e54c761045b79dd3d40c550906dbe11938"},
		{v2, "c6472a8ee670861957ba7d3118aa2befc8abf762e0f7b52d6efe4c8713caab96"},
	} {
		got := policy.RequestHash(tc.in, []byte("psbt\xff"))
		if h := hex.EncodeToString(got[:]); h != tc.want {
			t.Errorf("request hash of a version %d intent = %s, want %s", tc.in.Version, h, tc.want)
		}
	}
}
