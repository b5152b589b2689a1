package policy_test

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
	"github.com/countersign/countersign/policy/policytest"
)

const (
	cluster  = "test"
	walletID = "w-00112233aabbccdd"
	hotID    = "w-ffeeddccbbaa9988"
	// coinValue is what the test wallet's one coin holds.
	coinValue = 5_000_000
)

// Regtest P2WPKH addresses of G and 2G, and a mainnet address.
var (
	allowed = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
	other   = func() string {
		_, pub := btcec.PrivKeyFromBytes([]byte{2})
		a, err := bitcoin.P2WPKHAddress([33]byte(pub.SerializeCompressed()), bitcoin.Regtest)
		if err != nil {
			panic(err)
		}
		return a
	}()
	// lookalike is the P2PKH address of the very key hash that allowed
	// pays: another script, so another destination.
	lookalike = func() string {
		a, err := btcutil.DecodeAddress(allowed, &chaincfg.RegressionNetParams)
		if err != nil {
			panic(err)
		}
		p, err := btcutil.NewAddressPubKeyHash(a.ScriptAddress(), &chaincfg.RegressionNetParams)
		if err != nil {
			panic(err)
		}
		return p.EncodeAddress()
	}()
	mainnetAddr = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
)

// tuesdayNoon is when test requests are decided.
var tuesdayNoon = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

const allowedLabel = "exchange hot wallet"

// coldWallet is the rules of a cold wallet that pays allowed only.
func coldWallet() *policy.WalletRules {
	return &policy.WalletRules{
		Name: "cold storage", Network: string(bitcoin.Regtest), Role: policy.RoleCold,
		Destinations: []policy.Destination{{Address: allowed, Label: allowedLabel}},
		MaxAmountSat: 1_000_000, DailyCapSat: 2_000_000, WeeklyCapSat: 5_000_000, MaxFeeSat: 10_000,
		Originators: []policy.Originator{policytest.Ledger.Originator()},
	}
}

// hotWallet is the rules of a hot wallet that pays anyone.
func hotWallet() *policy.WalletRules {
	w := coldWallet()
	w.Name, w.Role, w.AnyDestination, w.Destinations = "hot", policy.RoleHot, true, nil
	return w
}

// testBundle is policytest's genesis bundle with w as wallet walletID.
// testBundle is a format 1 bundle (Bitcoin, satoshis) with w, as the
// bundles written before format 2 are: decisions under them must not
// change.
func testBundle(w *policy.WalletRules) policy.Bundle {
	b := policytest.Genesis(cluster)
	b.Format = policy.BundleFormat1
	b.Wallets[walletID] = w
	return b
}

// parse marshals b and parses it back, as a node reads it.
func parse(t testing.TB, b policy.Bundle) *policy.Bundle {
	t.Helper()
	raw := policytest.Marshal(t, b)
	pb, err := policy.ParseBundle(raw)
	if err != nil {
		t.Fatalf("ParseBundle: %v\n%s", err, raw)
	}
	return pb
}

// withdrawal builds a real PSBT of a test wallet paying dest from one coin
// of coinValue sats.
func withdrawal(t testing.TB, dest string, amount int64) (chain.Intent, []byte, chain.Key) {
	t.Helper()
	priv, _ := btcec.PrivKeyFromBytes([]byte("policy test wallet key, 32 bytes"))
	key := bitcoin.Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: [32]byte{9}}
	child, err := key.Derive(bitcoin.ReceivePath(0))
	if err != nil {
		t.Fatal(err)
	}
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{1}, 0), nil, nil))
	prev.AddTxOut(wire.NewTxOut(coinValue, bitcoin.P2WPKHScript(child.PublicKey)))
	in := bitcoin.Intent{WithdrawalID: "wd-1", WalletID: walletID, Network: bitcoin.Regtest, Asset: "BTC", Destination: dest, Amount: amount, FeeCap: 5_000}
	raw, err := bitcoin.BuildWithdrawal(in, key, []bitcoin.UTXO{{PrevTx: prev, Index: 0, Path: bitcoin.ReceivePath(0)}}, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	return bitcoin.NeutralIntent(in), raw, bitcoin.NeutralKey(key)
}

// request is a withdrawal of amount to dest, signed by the ledger, decided
// on a Tuesday at noon with nothing spent before.
func request(t testing.TB, dest string, amount int64) policy.Request {
	t.Helper()
	in, psbt, key := withdrawal(t, dest, amount)
	return policy.Request{Intent: in, IntentSignature: policytest.SignIntent(t, in, policytest.Ledger), UnsignedTx: psbt, Wallet: key, Now: tuesdayNoon}
}

// resign has the ledger sign r's intent again, after a test changed it.
func resign(t testing.TB, r *policy.Request) {
	t.Helper()
	r.IntentSignature = policytest.SignIntent(t, r.Intent, policytest.Ledger)
}

// checkDecision fails t unless d is the decision of b with rule (allowed
// if empty) and label, and is consistent with itself.
func checkDecision(t *testing.T, b *policy.Bundle, r policy.Request, d policy.Decision, rule, label string) {
	t.Helper()
	if d.Allowed != (rule == "") || d.Rule != rule || d.DestinationLabel != label {
		t.Fatalf("got allowed=%t rule=%q label=%q (%s), want rule %q label %q", d.Allowed, d.Rule, d.DestinationLabel, d.Reason, rule, label)
	}
	if d.PolicyHash != b.Hash() || d.PolicyVersion != b.Version {
		t.Fatalf("the decision names policy %x version %d, want %x version %d", d.PolicyHash, d.PolicyVersion, b.Hash(), b.Version)
	}
	if !d.Allowed {
		if d.Reason == "" {
			t.Fatal("a refusal without a reason")
		}
		return
	}
	if d.Reason != "" {
		t.Fatalf("allowed with reason %q", d.Reason)
	}
	if want, _ := r.Intent.Amount.Add(d.Tx.Fee); d.Tx == nil || d.Tx.Fee.Sign() <= 0 || !d.Outflow["BTC"].Equal(want) {
		t.Fatalf("allowed with transaction %v and outflow %v", d.Tx, d.Outflow)
	}
	if d.Originator == "" {
		t.Fatal("allowed without naming the originator")
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		wallet func(*policy.WalletRules) // edits coldWallet(); nil keeps it
		dest   string
		amount int64
		req    func(*testing.T, *policy.Request) // edits the request; nil keeps it
		rule   string
		label  string
	}{
		{name: "allowed destination, with its label", dest: allowed, amount: 500_000, label: allowedLabel},
		{name: "destination not on the allowlist", dest: other, amount: 500_000, rule: policy.RuleDestinationNotAllowed},
		{
			name: "not on the allowlist, whoever the intent says asked", dest: other, amount: 500_000,
			req: func(t *testing.T, r *policy.Request) {
				r.Intent.RequestedBy = "alice"
				resign(t, r)
			},
			rule: policy.RuleDestinationNotAllowed,
		},
		{
			name:   "a destination that is another destination's label",
			wallet: func(w *policy.WalletRules) { w.Destinations[0].Label = other },
			dest:   other, amount: 500_000, rule: policy.RuleDestinationNotAllowed,
		},
		{name: "the P2PKH lookalike of an allowed P2WPKH destination", dest: lookalike, amount: 500_000, rule: policy.RuleDestinationNotAllowed},
		{
			name:   "the allowlist matches by script, not spelling",
			wallet: func(w *policy.WalletRules) { w.Destinations[0].Address = strings.ToUpper(allowed) },
			dest:   allowed, amount: 500_000, label: allowedLabel,
		},
		{
			name: "a second destination",
			wallet: func(w *policy.WalletRules) {
				w.Destinations = append(w.Destinations, policy.Destination{Address: other, Label: "bank"})
			},
			dest: other, amount: 500_000, label: "bank",
		},
		{
			name:   "a hot wallet with any_destination pays anyone",
			wallet: func(w *policy.WalletRules) { *w = *hotWallet() },
			dest:   other, amount: 500_000,
		},
		{
			name: "a hot wallet with any_destination still names listed destinations",
			wallet: func(w *policy.WalletRules) {
				*w = *hotWallet()
				w.Destinations = []policy.Destination{{Address: allowed, Label: allowedLabel}}
			},
			dest: allowed, amount: 500_000, label: allowedLabel,
		},
		{
			name: "a warm wallet without any_destination pays its allowlist only",
			wallet: func(w *policy.WalletRules) {
				w.Role = policy.RoleWarm
			},
			dest: other, amount: 500_000, rule: policy.RuleDestinationNotAllowed,
		},
		{name: "at the per-withdrawal cap", dest: allowed, amount: 1_000_000, label: allowedLabel},
		{name: "over the per-withdrawal cap", dest: allowed, amount: 1_000_001, rule: policy.RuleAmountOverCap, label: allowedLabel},
		{
			name: "a wallet the policy does not name", dest: allowed, amount: 500_000,
			req: func(t *testing.T, r *policy.Request) {
				r.Intent.WalletID = "w-0000000000000001"
				resign(t, r)
			},
			rule: policy.RuleWalletUnknown,
		},
		{
			name: "an intent on another network than the wallet's", dest: allowed, amount: 500_000,
			req: func(t *testing.T, r *policy.Request) {
				r.Intent.Network = "testnet"
				resign(t, r)
			},
			rule: policy.RuleNetworkMismatch,
		},
		{
			name: "a testnet wallet and a regtest intent", dest: other, amount: 500_000,
			wallet: func(w *policy.WalletRules) {
				*w = *hotWallet()
				w.Network = "testnet"
			},
			rule: policy.RuleNetworkMismatch,
		},
		{
			name: "the transaction is re-derived: a PSBT for another intent", dest: allowed, amount: 500_000,
			req: func(t *testing.T, r *policy.Request) {
				_, r.UnsignedTx, _ = withdrawal(t, allowed, 400_000)
			},
			rule: string(bitcoin.RuleOutputDestinationAmount),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := coldWallet()
			if tc.wallet != nil {
				tc.wallet(w)
			}
			b := parse(t, testBundle(w))
			r := request(t, tc.dest, tc.amount)
			if tc.req != nil {
				tc.req(t, &r)
			}
			d := b.Decide(r)
			checkDecision(t, b, r, d, tc.rule, tc.label)
			if d.Allowed && d.Originator != policytest.Ledger.Name {
				t.Fatalf("originator %q, want %q", d.Originator, policytest.Ledger.Name)
			}
			if d.Allowed && d.Approval != nil {
				t.Fatalf("a wallet without approval tiers asks for %+v", *d.Approval)
			}
		})
	}
}

// TestDecideIsPure: the same request gets the same decision, and the
// decision depends on nothing else.
func TestDecideIsPure(t *testing.T) {
	b := parse(t, testBundle(coldWallet()))
	r := request(t, allowed, 500_000)
	d1, d2 := b.Decide(r), b.Decide(r)
	if d1.Allowed != d2.Allowed || d1.Rule != d2.Rule || !d1.Outflow["BTC"].Equal(d2.Outflow["BTC"]) || d1.Tx.ID != d2.Tx.ID {
		t.Fatalf("two decisions of one request differ: %+v, %+v", d1, d2)
	}
}

func TestDecideCaps(t *testing.T) {
	// fee is what the test wallet's PSBT pays for a withdrawal of amount.
	fee := func(t *testing.T, amount int64) int64 {
		b := parse(t, testBundle(coldWallet()))
		d := b.Decide(request(t, allowed, amount))
		if !d.Allowed {
			t.Fatalf("%s: %s", d.Rule, d.Reason)
		}
		fee, _ := d.Tx.Fee.Int64()
		return fee
	}
	const amount = 1_000_000
	f := fee(t, amount)
	outflow := int64(amount) + f
	w := coldWallet() // daily 2_000_000, weekly 5_000_000
	cases := []struct {
		name   string
		wallet func(*policy.WalletRules)
		spent  policy.Velocity
		rule   string
	}{
		{name: "nothing spent", spent: policy.Velocity{}},
		{name: "at the daily cap, fee included", spent: vel(w.DailyCapSat-outflow, w.DailyCapSat-outflow)},
		{name: "over the daily cap by the fee's last sat", spent: vel(w.DailyCapSat-outflow+1, w.DailyCapSat-outflow+1), rule: policy.RuleDailyCapExceeded},
		{name: "the daily cap counts what was spent today", spent: vel(w.DailyCapSat, w.DailyCapSat), rule: policy.RuleDailyCapExceeded},
		{name: "at the weekly cap", spent: vel(w.WeeklyCapSat - outflow)},
		{name: "over the weekly cap", spent: vel(w.WeeklyCapSat - outflow + 1), rule: policy.RuleWeeklyCapExceeded},
		{name: "the daily cap is checked first", spent: vel(w.DailyCapSat, w.WeeklyCapSat), rule: policy.RuleDailyCapExceeded},
		{name: "the fee cap comes from policy: at it", wallet: func(w *policy.WalletRules) { w.MaxFeeSat = f }},
		{name: "the fee cap comes from policy: below the fee", wallet: func(w *policy.WalletRules) { w.MaxFeeSat = f - 1 }, rule: string(bitcoin.RuleFeeOverPolicy)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := coldWallet()
			if tc.wallet != nil {
				tc.wallet(w)
			}
			b := parse(t, testBundle(w))
			r := request(t, allowed, amount)
			r.Spent = tc.spent
			d := b.Decide(r)
			label := allowedLabel
			if tc.rule == string(bitcoin.RuleFeeOverPolicy) {
				label = "" // refused before the destination is looked up
			}
			checkDecision(t, b, r, d, tc.rule, label)
			if d.Allowed && !d.Outflow["BTC"].Equal(chain.AmountOf(uint64(outflow))) {
				t.Fatalf("outflow %v, want %d", d.Outflow, outflow)
			}
		})
	}
}

func TestDecideIntentSignature(t *testing.T) {
	backupLedger := policytest.NewParty("backup-ledger")
	backup := backupLedger.Originator()
	cases := []struct {
		name       string
		req        func(*testing.T, *policy.Request)
		rule       string
		originator string
	}{
		{name: "signed by the ledger", originator: policytest.Ledger.Name},
		{
			name: "signed by the second originator",
			req: func(t *testing.T, r *policy.Request) {
				r.IntentSignature = policytest.SignIntent(t, r.Intent, backupLedger)
			},
			originator: backup.Name,
		},
		{name: "unsigned", req: func(t *testing.T, r *policy.Request) { r.IntentSignature = nil }, rule: policy.RuleIntentUnsigned},
		{name: "empty signature", req: func(t *testing.T, r *policy.Request) { r.IntentSignature = []byte{} }, rule: policy.RuleIntentUnsigned},
		{
			// The backend, compromised, raises the amount of a signed
			// intent and builds a PSBT that matches the new amount.
			name: "amount altered after signing",
			req: func(t *testing.T, r *policy.Request) {
				signed := r.Intent
				signed.Amount = chain.AmountOf(100_000)
				r.IntentSignature = policytest.SignIntent(t, signed, policytest.Ledger)
			},
			rule: policy.RuleIntentSignature,
		},
		{
			name: "destination altered after signing",
			req: func(t *testing.T, r *policy.Request) {
				signed := r.Intent
				signed.Destination = other
				r.IntentSignature = policytest.SignIntent(t, signed, policytest.Ledger)
			},
			rule: policy.RuleIntentSignature,
		},
		{
			name: "requested_by added after signing",
			req: func(t *testing.T, r *policy.Request) {
				r.Intent.RequestedBy = "bob"
			},
			rule: policy.RuleIntentSignature,
		},
		{name: "signed by Mallory", req: func(t *testing.T, r *policy.Request) {
			r.IntentSignature = policytest.SignIntent(t, r.Intent, policytest.Mallory)
		}, rule: policy.RuleIntentSignature},
		{name: "signed by an officer, not an originator", req: func(t *testing.T, r *policy.Request) {
			r.IntentSignature = policytest.SignIntent(t, r.Intent, policytest.Alice)
		}, rule: policy.RuleIntentSignature},
		{
			name: "signed by the ledger in the approval namespace",
			req: func(t *testing.T, r *policy.Request) {
				sig, err := policytest.Ledger.Signer.Sign(keys.NamespaceApproval, r.Intent.Canonical())
				if err != nil {
					t.Fatal(err)
				}
				r.IntentSignature = sig
			},
			rule: policy.RuleIntentSignature,
		},
		{name: "garbage", req: func(t *testing.T, r *policy.Request) { r.IntentSignature = []byte("signed, the ledger") }, rule: policy.RuleIntentSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := coldWallet()
			w.Originators = append(w.Originators, backup)
			b := parse(t, testBundle(w))
			r := request(t, allowed, 500_000)
			if tc.req != nil {
				tc.req(t, &r)
			}
			d := b.Decide(r)
			label := allowedLabel
			if tc.rule != "" {
				label = ""
			}
			checkDecision(t, b, r, d, tc.rule, label)
			if d.Originator != tc.originator {
				t.Fatalf("originator %q, want %q", d.Originator, tc.originator)
			}
			if !d.Allowed && d.Tx != nil {
				t.Fatal("an intent refused for its signature was re-derived")
			}
		})
	}
}

func TestDecideHours(t *testing.T) {
	day := func(weekday time.Weekday, hh, mm int) time.Time {
		// 2026-11-22 is a Sunday.
		return time.Date(2026, 11, 22+int(weekday), hh, mm, 0, 0, time.UTC)
	}
	if day(time.Tuesday, 12, 0) != tuesdayNoon || day(time.Friday, 0, 0).Weekday() != time.Friday {
		t.Fatal("the test's calendar is wrong")
	}
	office := &policy.Hours{From: "09:00", To: "17:30"}
	weekdays := &policy.Hours{From: "09:00", To: "17:30", Weekdays: []string{"mon", "tue", "wed", "thu", "fri"}}
	night := &policy.Hours{From: "22:00", To: "06:00"}
	fridayNight := &policy.Hours{From: "22:00", To: "06:00", Weekdays: []string{"fri"}}
	cases := []struct {
		name  string
		hours *policy.Hours
		now   time.Time
		open  bool
	}{
		{"no window", nil, day(time.Sunday, 3, 0), true},
		{"inside", office, tuesdayNoon, true},
		{"at the opening minute", office, day(time.Tuesday, 9, 0), true},
		{"the minute before opening", office, day(time.Tuesday, 8, 59), false},
		{"the last minute", office, day(time.Tuesday, 17, 29).Add(59 * time.Second), true},
		{"at the closing minute", office, day(time.Tuesday, 17, 30), false},
		{"in UTC, whatever the time zone of now", office, time.Date(2026, 11, 24, 8, 0, 0, 0, time.FixedZone("UTC-2", -2*3600)), true},
		{"outside in UTC, inside in the time zone of now", office, time.Date(2026, 11, 24, 12, 0, 0, 0, time.FixedZone("UTC-10", -10*3600)), false},
		{"every day when no weekdays are listed", office, day(time.Sunday, 12, 0), true},
		{"on a listed weekday", weekdays, day(time.Friday, 12, 0), true},
		{"on a weekend", weekdays, day(time.Saturday, 12, 0), false},
		{"past midnight: late evening", night, day(time.Tuesday, 23, 0), true},
		{"past midnight: early morning", night, day(time.Wednesday, 5, 59), true},
		{"past midnight: at the closing minute", night, day(time.Wednesday, 6, 0), false},
		{"past midnight: noon", night, tuesdayNoon, false},
		{"past midnight: at midnight", night, day(time.Wednesday, 0, 0), true},
		{"friday night: friday evening", fridayNight, day(time.Friday, 22, 0), true},
		{"friday night: saturday morning belongs to friday", fridayNight, day(time.Saturday, 5, 0), true},
		{"friday night: saturday evening", fridayNight, day(time.Saturday, 23, 0), false},
		{"friday night: friday morning belongs to thursday", fridayNight, day(time.Friday, 5, 0), false},
		{"friday night: thursday evening", fridayNight, day(time.Thursday, 23, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := coldWallet()
			if tc.hours != nil {
				h := *tc.hours
				w.Hours = &h
			}
			b := parse(t, testBundle(w))
			r := request(t, allowed, 500_000)
			r.Now = tc.now
			rule := ""
			if !tc.open {
				rule = policy.RuleOutsideHours
			}
			checkDecision(t, b, r, b.Decide(r), rule, allowedLabel)
		})
	}
}

func TestDecideApprovalTier(t *testing.T) {
	tiers := []policy.Tier{
		{MinAmountSat: 100_000, Approvals: 1, Group: "treasury"},
		{MinAmountSat: 500_000, Approvals: 2, Group: "treasury"},
		{MinAmountSat: 900_000, Approvals: 1, Group: "security"},
	}
	cases := []struct {
		amount int64
		tier   int // index in tiers, -1 for none
	}{
		{1_000, -1},
		{99_999, -1},
		{100_000, 0},
		{100_001, 0},
		{499_999, 0},
		{500_000, 1},
		{899_999, 1},
		{900_000, 2},
		{1_000_000, 2},
	}
	w := coldWallet()
	w.ApprovalTiers = tiers
	b := parse(t, testBundle(w))
	for _, tc := range cases {
		r := request(t, allowed, tc.amount)
		d := b.Decide(r)
		checkDecision(t, b, r, d, "", allowedLabel)
		switch {
		case tc.tier < 0 && d.Approval != nil:
			t.Errorf("%d sat: wants approval %+v, want none", tc.amount, *d.Approval)
		case tc.tier >= 0 && (d.Approval == nil || d.Approval.MinAmountSat != tiers[tc.tier].MinAmountSat || d.Approval.Asset != "BTC" ||
			!d.Approval.MinAmount.Equal(chain.AmountOf(uint64(tiers[tc.tier].MinAmountSat))) || d.Approval.Approvals != tiers[tc.tier].Approvals || d.Approval.Group != tiers[tc.tier].Group):
			t.Errorf("%d sat: wants approval %v, want %+v", tc.amount, d.Approval, tiers[tc.tier])
		}
	}
	// A refused withdrawal asks for no approval.
	r := request(t, other, 950_000)
	if d := b.Decide(r); d.Allowed || d.Approval != nil {
		t.Fatalf("refused withdrawal: allowed=%t approval=%v", d.Allowed, d.Approval)
	}
}

// TestDecideNamesPolicy: a decision names the bundle that made it, by the
// hash of its exact bytes and its version.
func TestDecideNamesPolicy(t *testing.T) {
	bb := testBundle(coldWallet())
	bb.Version = 42
	raw := policytest.Marshal(t, bb)
	b, err := policy.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if b.Hash() != sha256.Sum256(raw) {
		t.Fatal("Hash is not SHA-256 of the bundle's bytes")
	}
	for _, dest := range []string{allowed, other} {
		d := b.Decide(request(t, dest, 500_000))
		if d.PolicyHash != sha256.Sum256(raw) || d.PolicyVersion != 42 {
			t.Fatalf("%s: decision names policy %x version %d", dest, d.PolicyHash, d.PolicyVersion)
		}
	}
	// The same rules in other bytes are another policy.
	b2, err := policy.ParseBundle(append(raw, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if d := b2.Decide(request(t, allowed, 500_000)); d.PolicyHash == b.Hash() {
		t.Fatal("two bundle files share a hash")
	}
}

// TestDecideRequester: a requesting officer must be an officer of the
// bundle, or the rule that they cannot approve their own request could be
// dodged by another spelling of their name.
func TestDecideRequester(t *testing.T) {
	b := parse(t, testBundle(coldWallet()))
	for name, tc := range map[string]struct{ requester, rule string }{
		"an officer":            {"alice", ""},
		"not an officer":        {"mallory", policy.RuleRequesterUnknown},
		"an officer's name, Ca": {"Alice", policy.RuleRequesterUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			r := request(t, allowed, 500_000)
			r.Intent.RequestedBy = tc.requester
			resign(t, &r)
			if d := b.Decide(r); d.Allowed != (tc.rule == "") || d.Rule != tc.rule {
				t.Fatalf("got allowed=%t rule=%q (%s), want %q", d.Allowed, d.Rule, d.Reason, tc.rule)
			}
		})
	}
}

// TestDecideWithoutBundle: a bundle not read by ParseBundle (its rules not
// compiled, its bytes unknown) allows nothing, and neither does none.
func TestDecideWithoutBundle(t *testing.T) {
	r := request(t, allowed, 500_000)
	var none *policy.Bundle
	handMade := testBundle(coldWallet())
	for name, b := range map[string]*policy.Bundle{"nil": none, "hand-made": &handMade} {
		if d := b.Decide(r); d.Allowed || d.Rule != policy.RuleNoBundle {
			t.Errorf("%s: got allowed=%t rule=%q", name, d.Allowed, d.Rule)
		}
	}
}

// vel is a Velocity in satoshis: vel(day, week), or vel(week) for the week alone.

func vel(v ...int64) policy.Velocity {
	btc := func(x int64) chain.Amounts { return chain.Amounts{"BTC": chain.AmountOf(uint64(x))} }
	if len(v) == 1 {
		return policy.Velocity{Week: btc(v[0])}
	}
	return policy.Velocity{Day: btc(v[0]), Week: btc(v[1])}
}
