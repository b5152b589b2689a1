package policy_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/keys"
	"github.com/countersign/countersign/policy/policytest"
	"golang.org/x/crypto/ssh"
)

// fullBundle uses every feature of a bundle: a cold wallet with approval
// tiers, a hot wallet with hours and a rule.
func fullBundle() policy.Bundle {
	cold := coldWallet()
	cold.ApprovalTiers = []policy.Tier{
		{MinAmountSat: 100_000, Approvals: 2, Group: "treasury"},
		{MinAmountSat: 500_000, Approvals: 1, Group: "security"},
	}
	hot := hotWallet()
	hot.Destinations = []policy.Destination{{Address: other, Label: "bank"}}
	hot.Hours = &policy.Hours{From: "22:00", To: "06:00", Weekdays: []string{"mon", "fri"}}
	hot.Rules = []policy.Rule{{Name: "small", Expr: "amount_sat < 100000", Message: "hot wallet pays small amounts"}}
	hot.AllowRBF, hot.MaxLockTime = true, 800_000
	b := testBundle(cold)
	b.Wallets[hotID] = hot
	return b
}

func TestParseBundle(t *testing.T) {
	raw := policytest.Marshal(t, fullBundle())
	b, err := policy.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Raw(), raw) || b.Hash() != sha256.Sum256(raw) {
		t.Fatal("the bundle does not keep its exact bytes")
	}
	b.Raw()[0] = 'x'
	if !bytes.Equal(b.Raw(), raw) {
		t.Fatal("Raw returns the bundle's own buffer")
	}
	if len(b.Wallets) != 2 || b.Wallets[hotID].Hours == nil || b.Wallets[walletID].ApprovalTiers[1].Group != "security" {
		t.Fatalf("wallets not read: %+v", b.Wallets)
	}
	if o, ok := b.Officer("bob"); !ok || !o.Key.Equal(policytest.Bob.Key()) {
		t.Fatal("Officer(bob)")
	}
	if _, ok := b.Officer("mallory"); ok {
		t.Fatal("Officer(mallory)")
	}
	if !b.InGroup("carol", "security") || b.InGroup("alice", "security") || b.InGroup("alice", "nobody") {
		t.Fatal("InGroup")
	}
}

// TestParseBundleAcceptsEdges: what is at a limit, not over it, parses.
func TestParseBundleAcceptsEdges(t *testing.T) {
	cases := []struct {
		name string
		edit func(*policy.Bundle, *policy.WalletRules)
	}{
		{"daily cap equal to the per-withdrawal cap", func(_ *policy.Bundle, w *policy.WalletRules) { w.DailyCapSat = w.MaxAmountSat }},
		{"weekly cap equal to the daily cap", func(_ *policy.Bundle, w *policy.WalletRules) { w.WeeklyCapSat = w.DailyCapSat }},
		{"all of bitcoin", func(_ *policy.Bundle, w *policy.WalletRules) {
			w.MaxAmountSat, w.DailyCapSat, w.WeeklyCapSat, w.MaxFeeSat = bitcoin.MaxSatoshi, bitcoin.MaxSatoshi, bitcoin.MaxSatoshi, bitcoin.MaxSatoshi
		}},
		{"quorum of all officers", func(b *policy.Bundle, _ *policy.WalletRules) { b.ChangeQuorum = len(b.Officers) }},
		{"one officer", func(b *policy.Bundle, w *policy.WalletRules) {
			b.Officers, b.ChangeQuorum, b.Groups, w.ApprovalTiers = b.Officers[:1], 1, nil, nil
		}},
		{"approvals equal to the group's size", func(_ *policy.Bundle, w *policy.WalletRules) {
			w.ApprovalTiers = []policy.Tier{{MinAmountSat: 1, Approvals: 3, Group: "treasury"}, {MinAmountSat: bitcoin.MaxSatoshi, Approvals: 1, Group: "security"}}
		}},
		{"a hot wallet with any_destination and no list", func(_ *policy.Bundle, w *policy.WalletRules) { *w = *hotWallet() }},
		{"a warm wallet with any_destination", func(_ *policy.Bundle, w *policy.WalletRules) {
			*w = *hotWallet()
			w.Role = policy.RoleWarm
		}},
		{"every network", func(b *policy.Bundle, _ *policy.WalletRules) {
			for i, n := range []bitcoin.Network{bitcoin.Mainnet, bitcoin.Testnet, bitcoin.Signet, bitcoin.Regtest} {
				w := hotWallet()
				w.Network = string(n)
				b.Wallets[fmt.Sprintf("w-%016x", i+100)] = w
			}
		}},
		{"a mainnet destination on a mainnet wallet", func(_ *policy.Bundle, w *policy.WalletRules) {
			w.Network, w.Destinations[0].Address = string(bitcoin.Mainnet), mainnetAddr
		}},
		{"hours from midnight to the last minute", func(_ *policy.Bundle, w *policy.WalletRules) {
			w.Hours = &policy.Hours{From: "00:00", To: "23:59", Weekdays: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
		}},
		{"the highest lock time", func(_ *policy.Bundle, w *policy.WalletRules) { w.MaxLockTime = bitcoin.LockTimeThreshold - 1 }},
		{"no wallets", func(b *policy.Bundle, _ *policy.WalletRules) { b.Wallets = nil }},
		{"a label of 64 bytes", func(_ *policy.Bundle, w *policy.WalletRules) { w.Destinations[0].Label = strings.Repeat("l", 64) }},
		{"a name of 32 bytes", func(b *policy.Bundle, _ *policy.WalletRules) { b.Cluster = "c" + strings.Repeat("-", 31) }},
		{"the most rules", func(_ *policy.Bundle, w *policy.WalletRules) {
			for i := range policy.MaxRules {
				w.Rules = append(w.Rules, policy.Rule{Name: fmt.Sprintf("r%d", i), Expr: "true"})
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := fullBundle()
			tc.edit(&b, b.Wallets[walletID])
			parse(t, b)
		})
	}
}

func TestParseBundleRefuses(t *testing.T) {
	cold := func(b *policy.Bundle) *policy.WalletRules { return b.Wallets[walletID] }
	hot := func(b *policy.Bundle) *policy.WalletRules { return b.Wallets[hotID] }
	cases := []struct {
		name string
		edit func(*policy.Bundle)
		want string // in the error
	}{
		{"format 0", func(b *policy.Bundle) { b.Format = 0 }, "format 0"},
		{"a future format", func(b *policy.Bundle) { b.Format = policy.BundleFormat + 1 }, "format 3"},
		{"version 0", func(b *policy.Bundle) { b.Version = 0 }, "version 0"},
		{"a negative version", func(b *policy.Bundle) { b.Version = -1 }, "version -1"},
		{"no cluster", func(b *policy.Bundle) { b.Cluster = "" }, "cluster"},
		{"a cluster in capitals", func(b *policy.Bundle) { b.Cluster = "Test" }, "cluster"},
		{"a cluster with a space", func(b *policy.Bundle) { b.Cluster = "test 2" }, "cluster"},
		{"a cluster starting with a digit", func(b *policy.Bundle) { b.Cluster = "1test" }, "cluster"},
		{"a cluster name of 33 bytes", func(b *policy.Bundle) { b.Cluster = "c" + strings.Repeat("x", 32) }, "cluster"},
		{"no officers", func(b *policy.Bundle) { b.Officers, b.Groups = nil, nil }, "officers"},
		{"quorum 0", func(b *policy.Bundle) { b.ChangeQuorum = 0 }, "change_quorum 0"},
		{"quorum above the officers", func(b *policy.Bundle) { b.ChangeQuorum = 4 }, "change_quorum 4"},
		{"an officer named twice", func(b *policy.Bundle) {
			b.Officers = append(b.Officers, policy.Officer{Name: "alice", Key: policytest.Mallory.Key()})
		}, "alice is named twice"},
		{"two officers with one key", func(b *policy.Bundle) {
			b.Officers = append(b.Officers, policy.Officer{Name: "dave", Key: policytest.Alice.Key()})
		}, "the key of alice"},
		{"an officer's name in capitals", func(b *policy.Bundle) { b.Officers[0].Name = "Alice" }, "officers[0].name"},
		{"a group naming a non-officer", func(b *policy.Bundle) { b.Groups["treasury"] = append(b.Groups["treasury"], "mallory") }, `"mallory" is not an officer`},
		{"an empty group", func(b *policy.Bundle) { b.Groups["empty"] = nil }, "groups.empty"},
		{"a group listing an officer twice", func(b *policy.Bundle) { b.Groups["security"] = []string{"carol", "carol"} }, "listed twice"},
		{"a group's name in capitals", func(b *policy.Bundle) { b.Groups["Ops"] = []string{"alice"} }, `key "Ops"`},
		{"a wallet id not of the form", func(b *policy.Bundle) { b.Wallets["wallet-1"] = hotWallet() }, "wallets.wallet-1"},
		{"a wallet id in capitals", func(b *policy.Bundle) { b.Wallets["w-00112233AABBCCDD"] = hotWallet() }, `key "w-00112233AABBCCDD"`},
		{"a wallet without a name", func(b *policy.Bundle) { cold(b).Name = "" }, "name"},
		{"a wallet name of 65 bytes", func(b *policy.Bundle) { cold(b).Name = strings.Repeat("n", 65) }, "name"},
		{"an unknown network", func(b *policy.Bundle) { cold(b).Network = "bitcoin" }, `network "bitcoin"`},
		{"an unknown role", func(b *policy.Bundle) { cold(b).Role = "frozen" }, `role "frozen"`},
		{"no role", func(b *policy.Bundle) { cold(b).Role = "" }, `role ""`},
		{"a cold wallet with any_destination", func(b *policy.Bundle) { cold(b).AnyDestination = true }, "any_destination is not allowed"},
		{"a cold wallet with any_destination and no list", func(b *policy.Bundle) {
			cold(b).AnyDestination, cold(b).Destinations = true, nil
		}, "any_destination is not allowed"},
		{"a warm wallet with no destinations", func(b *policy.Bundle) {
			cold(b).Role, cold(b).Destinations = policy.RoleWarm, nil
		}, "no destinations"},
		{"a cold wallet with no destinations", func(b *policy.Bundle) { cold(b).Destinations = nil }, "no destinations"},
		{"a destination that is not an address", func(b *policy.Bundle) { cold(b).Destinations[0].Address = "exchange hot wallet" }, "destinations[0]"},
		{"a destination of another network", func(b *policy.Bundle) { cold(b).Destinations[0].Address = mainnetAddr }, "not an address of regtest"},
		{"a destination listed twice", func(b *policy.Bundle) {
			cold(b).Destinations = append(cold(b).Destinations, policy.Destination{Address: allowed, Label: "again"})
		}, "listed twice"},
		{"a destination listed twice, spelled two ways", func(b *policy.Bundle) {
			cold(b).Destinations = append(cold(b).Destinations, policy.Destination{Address: strings.ToUpper(allowed), Label: "again"})
		}, "listed twice"},
		{"a destination without a label", func(b *policy.Bundle) { cold(b).Destinations[0].Label = "" }, "label"},
		{"a label of 65 bytes", func(b *policy.Bundle) { cold(b).Destinations[0].Label = strings.Repeat("l", 65) }, "label"},
		{"no per-withdrawal cap", func(b *policy.Bundle) { cold(b).MaxAmountSat = 0 }, "max_amount_sat"},
		{"a negative per-withdrawal cap", func(b *policy.Bundle) { cold(b).MaxAmountSat = -1 }, "max_amount_sat"},
		{"a per-withdrawal cap above all bitcoin", func(b *policy.Bundle) {
			w := cold(b)
			w.MaxAmountSat, w.DailyCapSat, w.WeeklyCapSat = bitcoin.MaxSatoshi+1, bitcoin.MaxSatoshi+1, bitcoin.MaxSatoshi+1
		}, "max_amount_sat"},
		{"a daily cap below the per-withdrawal cap", func(b *policy.Bundle) { cold(b).DailyCapSat = cold(b).MaxAmountSat - 1 }, "daily_cap_sat"},
		{"a weekly cap below the daily cap", func(b *policy.Bundle) { cold(b).WeeklyCapSat = cold(b).DailyCapSat - 1 }, "weekly_cap_sat"},
		{"no weekly cap", func(b *policy.Bundle) { cold(b).WeeklyCapSat = 0 }, "weekly_cap_sat"},
		{"no fee cap", func(b *policy.Bundle) { cold(b).MaxFeeSat = 0 }, "max_fee_sat"},
		{"a lock time that is a timestamp", func(b *policy.Bundle) { cold(b).MaxLockTime = bitcoin.LockTimeThreshold }, "max_lock_time"},
		{"a tier of 0 sat", func(b *policy.Bundle) { cold(b).ApprovalTiers[0].MinAmountSat = 0 }, "approval_tiers[0].min_amount_sat"},
		{"tiers out of order", func(b *policy.Bundle) {
			t := cold(b).ApprovalTiers
			t[0], t[1] = t[1], t[0]
		}, "approval_tiers[1]: tiers must be in increasing"},
		{"two tiers at one amount", func(b *policy.Bundle) { cold(b).ApprovalTiers[1].MinAmountSat = cold(b).ApprovalTiers[0].MinAmountSat }, "approval_tiers[1]: tiers must be in increasing"},
		{"a tier of an unknown group", func(b *policy.Bundle) { cold(b).ApprovalTiers[0].Group = "board" }, `group "board" is not a group`},
		{"a tier of no approvals", func(b *policy.Bundle) { cold(b).ApprovalTiers[0].Approvals = 0 }, "approvals 0"},
		{"a tier needing more approvals than its group has officers", func(b *policy.Bundle) { cold(b).ApprovalTiers[1].Approvals = 2 }, "approvals 2"},
		{"hours without a leading zero", func(b *policy.Bundle) { hot(b).Hours.From = "9:00" }, "hours"},
		{"hours at 24:00", func(b *policy.Bundle) { hot(b).Hours.To = "24:00" }, "hours"},
		{"hours at minute 60", func(b *policy.Bundle) { hot(b).Hours.To = "06:60" }, "hours"},
		{"hours with seconds", func(b *policy.Bundle) { hot(b).Hours.To = "06:00:00" }, "hours"},
		{"hours of no length", func(b *policy.Bundle) { hot(b).Hours.To = hot(b).Hours.From }, "equal"},
		{"hours with no from", func(b *policy.Bundle) { hot(b).Hours.From = "" }, "hours"},
		{"a weekday spelled out", func(b *policy.Bundle) { hot(b).Hours.Weekdays = []string{"monday"} }, `weekday "monday"`},
		{"a weekday in capitals", func(b *policy.Bundle) { hot(b).Hours.Weekdays = []string{"Mon"} }, `weekday "Mon"`},
		{"no originators", func(b *policy.Bundle) { cold(b).Originators = nil }, "originators"},
		{"an originator named twice", func(b *policy.Bundle) {
			cold(b).Originators = append(cold(b).Originators, policy.Originator{Name: "ledger", Key: policytest.Bob.Key()})
		}, "originators[1]"},
		{"an originator's name in capitals", func(b *policy.Bundle) { cold(b).Originators[0].Name = "Ledger" }, "originators[0]"},
		{"too many rules", func(b *policy.Bundle) {
			for i := range policy.MaxRules + 1 {
				cold(b).Rules = append(cold(b).Rules, policy.Rule{Name: fmt.Sprintf("r%d", i), Expr: "true"})
			}
		}, "rules: at most"},
		{"a rule that does not parse", func(b *policy.Bundle) { hot(b).Rules[0].Expr = "amount_sat <" }, "rules[0] (small)"},
		{"a rule that is not a bool", func(b *policy.Bundle) { hot(b).Rules[0].Expr = "amount_sat + 1" }, "want bool"},
		{"a rule of a string", func(b *policy.Bundle) { hot(b).Rules[0].Expr = `"true"` }, "want bool"},
		{"a rule naming an unknown variable", func(b *policy.Bundle) { hot(b).Rules[0].Expr = "amount < 100" }, "rules[0] (small)"},
		{"a rule comparing types that differ", func(b *policy.Bundle) { hot(b).Rules[0].Expr = `amount_sat == "100"` }, "rules[0] (small)"},
		{"an empty rule", func(b *policy.Bundle) { hot(b).Rules[0].Expr = "" }, "rules[0] (small)"},
		{"a rule too long", func(b *policy.Bundle) { hot(b).Rules[0].Expr = "true" + strings.Repeat(" && true", 512) }, "rules[0] (small)"},
		{"a rule named twice", func(b *policy.Bundle) { hot(b).Rules = append(hot(b).Rules, policy.Rule{Name: "small", Expr: "true"}) }, "rules[1]"},
		{"a rule's name with a dot", func(b *policy.Bundle) { hot(b).Rules[0].Name = "small.amounts" }, "rules[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := fullBundle()
			parse(t, b) // the bundle is good before the edit
			tc.edit(&b)
			raw := policytest.Marshal(t, b)
			checkRefused(t, raw, tc.want)
		})
	}
}

// checkRefused fails t unless ParseBundle refuses raw with an error
// wrapping ErrBundle, only, that says want.
func checkRefused(t *testing.T, raw []byte, want string) {
	t.Helper()
	b, err := policy.ParseBundle(raw)
	switch {
	case err == nil:
		t.Fatalf("accepted version %d\n%s", b.Version, raw)
	case b != nil:
		t.Fatal("a bundle returned with an error")
	case !errors.Is(err, policy.ErrBundle):
		t.Fatalf("%v does not wrap ErrBundle", err)
	case errors.Is(err, policy.ErrSignatures) || errors.Is(err, policy.ErrVersion):
		t.Fatalf("%v wraps ErrSignatures or ErrVersion", err)
	case !strings.Contains(err.Error(), want):
		t.Fatalf("%v does not say %q", err, want)
	}
	t.Logf("refused: %v", err)
}

// TestParseBundleStrict: the file is strict JSON.
func TestParseBundleStrict(t *testing.T) {
	good := string(policytest.Marshal(t, fullBundle()))
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("the bundle does not contain %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	// dropKey is good without p's "key" member, wherever p is named.
	dropKey := func(p policytest.Party) string {
		t.Helper()
		re := regexp.MustCompile(`,\s*"key": "` + regexp.QuoteMeta(p.Key().String()) + `"`)
		if !re.MatchString(good) {
			t.Fatalf("the bundle does not name %s's key", p.Name)
		}
		return re.ReplaceAllString(good, "")
	}
	cases := []struct {
		name string
		raw  string
		want string
	}{
		{"empty", "", "EOF"},
		{"null", "null", "format 0"},
		{"an array", "[]", "cannot unmarshal"},
		{"an unknown field", replace(`"format": 1,`, `"format": 1, "owner": "ops",`), `unknown field "owner"`},
		{"an unknown wallet field", replace(`"role": "cold",`, `"role": "cold", "frozen": false,`), `unknown field "frozen"`},
		{"an unknown tier field", replace(`"approvals": 2,`, `"approvals": 2, "timeout": 60,`), `unknown field "timeout"`},
		{"an unknown destination field", replace(`"label": "exchange hot wallet"`, `"label": "exchange hot wallet", "memo": "x"`), `unknown field "memo"`},
		{"a version as a string", replace(`"version": 1,`, `"version": "1",`), "cannot unmarshal"},
		{"a fractional version", replace(`"version": 1,`, `"version": 1.5,`), "cannot unmarshal"},
		{"an amount as a float", replace(`"max_amount_sat": 1000000,`, `"max_amount_sat": 1e6,`), "cannot unmarshal"},
		{"an officer key that is not a key", replace(policytest.Alice.Key().String(), "ssh-ed25519 AAAA"), "bad public key"},
		{"an officer without a key", replace(`"key": "`+policytest.Alice.Key().String()+`"`, `"key": ""`), "bad public key"},
		{"an officer with no key", dropKey(policytest.Alice), "officers[0] (alice): no key"},
		{"an originator with no key", dropKey(policytest.Ledger), "originators[0]"},
		{"an RSA officer key", replace(policytest.Alice.Key().String(), rsaKey), "ssh-rsa keys are not accepted"},
		{"a null wallet", replace(`"wallets": {`, `"wallets": {"w-0000000000000009": null,`), "empty"},
		{"trailing data", good + "{}", "trailing data"},
		{"a trailing brace", good + "}", "trailing data"},
		{"a trailing bracket", good + "]", "trailing data"},
		{"trailing text", good + "x", "trailing data"},
		{"a second bundle", good + good, "trailing data"},
		{"too large", good + strings.Repeat(" ", policy.MaxBundleSize), "bytes, at most"},
		{"not closed", good[:len(good)-3], "EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkRefused(t, []byte(tc.raw), tc.want)
		})
	}
	// White space around the object is not data.
	for _, ws := range []string{" ", "\n\n", "\t", "\r\n"} {
		if _, err := policy.ParseBundle([]byte(ws + good + ws)); err != nil {
			t.Errorf("white space %q: %v", ws, err)
		}
	}
}

// TestParseBundleOneMeaning: what officers read is what nodes enforce. A
// key given twice, or spelled in other case, could make a reviewer's tool
// and a node read two different policies from one signed file.
func TestParseBundleOneMeaning(t *testing.T) {
	good := string(policytest.Marshal(t, fullBundle()))
	for name, raw := range map[string]string{
		"a field given twice":      strings.Replace(good, `"version": 1,`, `"version": 1, "version": 9,`, 1),
		"a wallet field twice":     strings.Replace(good, `"max_amount_sat": 1000000,`, `"max_amount_sat": 1000000, "max_amount_sat": 2000000,`, 1),
		"a field in capitals":      strings.Replace(good, `"version"`, `"Version"`, 1),
		"a field with Kelvin sign": strings.Replace(good, `"key"`, "\"\u212aey\"", 1),
	} {
		t.Run(name, func(t *testing.T) {
			checkRefused(t, []byte(raw), "")
		})
	}
}

// rsaKey is an RSA public key, a type officers may not use.
var rsaKey = func() string {
	n := new(big.Int).Lsh(big.NewInt(1), 2047)
	pub, err := ssh.NewPublicKey(&rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537})
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}()

func TestParseSignatures(t *testing.T) {
	raw := policytest.Marshal(t, policytest.Genesis(cluster))
	sigs := policytest.SignBundle(t, raw, policytest.Alice, policytest.Bob)
	got, err := policy.ParseSignatures(policytest.SignaturesFile(t, sigs))
	if err != nil || !slices.Equal(got, sigs) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	many := make([]policy.Signature, policy.MaxSignatures+1)
	for i := range many {
		many[i] = sigs[0]
	}
	for name, file := range map[string][]byte{
		"an unknown field":    []byte(`[{"officer":"alice","signature":"x","date":"today"}]`),
		"an object":           []byte(`{"officer":"alice","signature":"x"}`),
		"not JSON":            []byte(`-----BEGIN SSH SIGNATURE-----`),
		"too many signatures": policytest.SignaturesFile(t, many),
	} {
		if _, err := policy.ParseSignatures(file); !errors.Is(err, policy.ErrBundle) {
			t.Errorf("%s: got %v, want ErrBundle", name, err)
		}
	}
}

// genesis is the accepted first bundle of the test cluster: officers
// Alice, Bob and Carol, quorum 2.
func genesis(t *testing.T) *policy.Bundle {
	t.Helper()
	raw := policytest.Marshal(t, testBundle(coldWallet()))
	b, err := policy.AcceptGenesis(raw, policytest.SignBundle(t, raw, policytest.Alice, policytest.Bob))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// next is a proposed bundle after current: version+1, edited by edit.
func next(t *testing.T, current *policy.Bundle, edit func(*policy.Bundle)) []byte {
	t.Helper()
	b, err := policy.ParseBundle(current.Raw())
	if err != nil {
		t.Fatal(err)
	}
	b.Version++
	b.Description = fmt.Sprintf("version %d", b.Version)
	if edit != nil {
		edit(b)
	}
	return policytest.Marshal(t, *b)
}

// sigKind says which errors a refusal must wrap.
type sigKind int

const (
	accepted sigKind = iota
	badSignatures
	badVersion
	badBundle
)

func checkAccept(t *testing.T, err error, want sigKind) {
	t.Helper()
	if want == accepted {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	switch {
	case err == nil:
		t.Fatal("accepted")
	case !errors.Is(err, policy.ErrBundle):
		t.Fatalf("%v does not wrap ErrBundle", err)
	case errors.Is(err, policy.ErrSignatures) != (want == badSignatures):
		t.Fatalf("%v: wraps ErrSignatures: %t", err, errors.Is(err, policy.ErrSignatures))
	case errors.Is(err, policy.ErrVersion) != (want == badVersion):
		t.Fatalf("%v: wraps ErrVersion: %t", err, errors.Is(err, policy.ErrVersion))
	}
}

func TestAcceptGenesis(t *testing.T) {
	raw := policytest.Marshal(t, testBundle(coldWallet()))
	alice, bob, carol, mallory := policytest.Alice, policytest.Bob, policytest.Carol, policytest.Mallory
	forged := policytest.SignBundle(t, raw, mallory)[0]
	forged.Officer = "bob"
	cases := []struct {
		name string
		raw  []byte
		sigs []policy.Signature
		want sigKind
	}{
		{"a quorum", raw, policytest.SignBundle(t, raw, alice, bob), accepted},
		{"all officers", raw, policytest.SignBundle(t, raw, carol, bob, alice), accepted},
		{"too few signatures", raw, policytest.SignBundle(t, raw, alice), badSignatures},
		{"no signatures", raw, nil, badSignatures},
		{"the same officer twice", raw, policytest.SignBundle(t, raw, alice, alice), badSignatures},
		{"a non-officer beside a quorum", raw, policytest.SignBundle(t, raw, alice, bob, mallory), badSignatures},
		{"Mallory's signature claiming to be Bob's", raw, append(policytest.SignBundle(t, raw, alice), forged), badSignatures},
		{"a signature over other bytes", raw, append(policytest.SignBundle(t, raw, alice), policytest.SignBundle(t, append(bytes.Clone(raw), ' '), bob)...), badSignatures},
		{"signatures over the bundle re-indented", bytes.TrimSuffix(raw, []byte("\n")), policytest.SignBundle(t, raw, alice, bob), badSignatures},
		{"a bundle that does not parse", []byte(`{"format":1}`), nil, badBundle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := policy.AcceptGenesis(tc.raw, tc.sigs)
			checkAccept(t, err, tc.want)
			if (b != nil) != (tc.want == accepted) {
				t.Fatalf("bundle %v with error %v", b, err)
			}
		})
	}
}

func TestAccept(t *testing.T) {
	alice, bob, carol, mallory := policytest.Alice, policytest.Bob, policytest.Carol, policytest.Mallory
	v1 := genesis(t)
	v2 := next(t, v1, nil)
	forged := policytest.SignBundle(t, v2, mallory)[0]
	forged.Officer = "bob"
	inIntentNamespace, err := bob.Signer.Sign(keys.NamespaceIntent, v2)
	if err != nil {
		t.Fatal(err)
	}
	withMallory := next(t, v1, func(b *policy.Bundle) {
		b.Officers = append(b.Officers, mallory.Officer())
	})
	onlyMallory := next(t, v1, func(b *policy.Bundle) {
		b.Officers, b.ChangeQuorum, b.Groups = []policy.Officer{mallory.Officer()}, 1, nil
		b.Wallets[walletID].ApprovalTiers = nil
	})
	quorumOne := next(t, v1, func(b *policy.Bundle) { b.ChangeQuorum = 1 })
	same := next(t, v1, func(b *policy.Bundle) { b.Version = v1.Version })
	otherCluster := next(t, v1, func(b *policy.Bundle) { b.Cluster = "prod" })
	cases := []struct {
		name    string
		raw     []byte
		sigs    []policy.Signature
		want    sigKind
		signers []string
	}{
		{"a quorum", v2, policytest.SignBundle(t, v2, alice, bob), accepted, []string{"alice", "bob"}},
		{"all officers", v2, policytest.SignBundle(t, v2, carol, alice, bob), accepted, []string{"carol", "alice", "bob"}},
		{"too few signatures", v2, policytest.SignBundle(t, v2, alice), badSignatures, nil},
		{"no signatures", v2, nil, badSignatures, nil},
		{"the same officer twice", v2, policytest.SignBundle(t, v2, alice, alice), badSignatures, nil},
		{"an officer twice beside a quorum", v2, policytest.SignBundle(t, v2, alice, bob, alice), badSignatures, nil},
		{"a non-officer beside a quorum", v2, policytest.SignBundle(t, v2, alice, bob, mallory), badSignatures, nil},
		{"Mallory's signature claiming to be Bob's", v2, append(policytest.SignBundle(t, v2, alice), forged), badSignatures, nil},
		{"Bob's signature over the bundle in force", v2, append(policytest.SignBundle(t, v2, alice), policytest.SignBundle(t, v1.Raw(), bob)...), badSignatures, nil},
		{"Bob's signature over the same bundle in other bytes", v2, append(policytest.SignBundle(t, v2, alice), policytest.SignBundle(t, append(bytes.Clone(v2), '\n'), bob)...), badSignatures, nil},
		{"Bob's signature in the intent namespace", v2, append(policytest.SignBundle(t, v2, alice), policy.Signature{Officer: "bob", Signature: string(inIntentNamespace)}), badSignatures, nil},
		{"a signature that is not one", v2, append(policytest.SignBundle(t, v2, alice), policy.Signature{Officer: "bob", Signature: "bob approves"}), badSignatures, nil},
		// Officers of the bundle in force sign the next one, not
		// officers the proposal adds.
		{"an officer the proposal adds", withMallory, policytest.SignBundle(t, withMallory, alice, mallory), badSignatures, nil},
		{"only officers the proposal names", onlyMallory, policytest.SignBundle(t, onlyMallory, mallory), badSignatures, nil},
		{"the officers in force hand over to new ones", onlyMallory, policytest.SignBundle(t, onlyMallory, alice, carol), accepted, []string{"alice", "carol"}},
		{"the quorum in force counts, not the proposal's", quorumOne, policytest.SignBundle(t, quorumOne, alice), badSignatures, nil},
		{"the same version", same, policytest.SignBundle(t, same, alice, bob), badVersion, nil},
		{"another cluster", otherCluster, policytest.SignBundle(t, otherCluster, alice, bob), badVersion, nil},
		{"a bundle that does not parse", []byte("{}"), policytest.SignBundle(t, []byte("{}"), alice, bob), badBundle, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Signatures travel as a signatures file.
			sigs, err := policy.ParseSignatures(policytest.SignaturesFile(t, tc.sigs))
			if err != nil {
				t.Fatal(err)
			}
			b, signers, err := policy.Accept(v1, tc.raw, sigs)
			checkAccept(t, err, tc.want)
			if !slices.Equal(signers, tc.signers) {
				t.Fatalf("signers %v, want %v", signers, tc.signers)
			}
			if tc.want == accepted && (b == nil || !bytes.Equal(b.Raw(), tc.raw) || b.Version != v1.Version+1) {
				t.Fatalf("accepted %v", b)
			}
			if tc.want != accepted && b != nil {
				t.Fatal("a refused bundle was returned")
			}
		})
	}
}

// TestAcceptChain: each bundle is checked against the one in force, so
// officers added by an accepted bundle sign the one after.
func TestAcceptChain(t *testing.T) {
	alice, bob, mallory := policytest.Alice, policytest.Bob, policytest.Mallory
	v1 := genesis(t)
	raw2 := next(t, v1, func(b *policy.Bundle) { b.Officers = append(b.Officers, mallory.Officer()) })
	v2, _, err := policy.Accept(v1, raw2, policytest.SignBundle(t, raw2, alice, bob))
	if err != nil {
		t.Fatal(err)
	}
	raw3 := next(t, v2, nil)
	v3, signers, err := policy.Accept(v2, raw3, policytest.SignBundle(t, raw3, mallory, alice))
	if err != nil || !slices.Equal(signers, []string{"mallory", "alice"}) {
		t.Fatalf("v3: %v, signed by %v", err, signers)
	}
	// No going back: v2, and v1 re-signed, are below v3.
	_, _, err = policy.Accept(v3, raw2, policytest.SignBundle(t, raw2, alice, bob))
	checkAccept(t, err, badVersion)
	_, _, err = policy.Accept(v3, v1.Raw(), policytest.SignBundle(t, v1.Raw(), alice, bob))
	checkAccept(t, err, badVersion)
	// Skipping versions is allowed.
	raw5 := next(t, v3, func(b *policy.Bundle) { b.Version = 5 })
	if _, _, err := policy.Accept(v3, raw5, policytest.SignBundle(t, raw5, bob, mallory)); err != nil {
		t.Fatal(err)
	}
}
