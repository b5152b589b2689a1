package mpc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

var (
	update        = flag.Bool("update", false, "rewrite the keygen fixture in ../testdata")
	genPreParams  = flag.Bool("gen-preparams", false, "regenerate the pre-parameter fixtures (slow)")
	fixtureDir    = filepath.Join("..", "testdata")
	fixtureNodes3 = []string{"node-1", "node-2", "node-3"}
)

// protocol is what Keygen and Signing have in common.
type protocol interface {
	Start() ([]Message, error)
	Check(from string, m Message) error
	Deliver(from string, m Message) ([]Message, error)
}

type envelope struct {
	from, to string
	m        Message
}

// run drives parties in memory until no message is left, the way the
// session layer does over the network: Check, then Deliver.
func run(t testing.TB, parties map[string]protocol, tamper func(e *envelope)) error {
	t.Helper()
	var queue []envelope
	send := func(from string, msgs []Message) {
		for _, m := range msgs {
			to := m.To
			if m.Broadcast {
				to = nil
				for id := range parties {
					if id != from {
						to = append(to, id)
					}
				}
				slices.Sort(to)
			}
			for _, r := range to {
				queue = append(queue, envelope{from, r, m})
			}
		}
	}
	for _, id := range sortedKeys(parties) {
		msgs, err := parties[id].Start()
		if err != nil {
			return err
		}
		send(id, msgs)
	}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if tamper != nil {
			tamper(&e)
		}
		p := parties[e.to]
		if err := p.Check(e.from, e.m); err != nil {
			return err
		}
		msgs, err := p.Deliver(e.from, e.m)
		if err != nil {
			return err
		}
		send(e.to, msgs)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func loadPreParams(t testing.TB, node string) *PreParams {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "preparams", node+".json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePreParams(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newKeygens(t testing.TB, members []string, threshold int) map[string]*Keygen {
	t.Helper()
	sid := make([]byte, 32)
	rand.Read(sid)
	out := map[string]*Keygen{}
	for _, m := range members {
		k, err := NewKeygen(sid, m, members, threshold, loadPreParams(t, m))
		if err != nil {
			t.Fatal(err)
		}
		out[m] = k
	}
	return out
}

func asProtocols[P protocol](m map[string]P) map[string]protocol {
	out := map[string]protocol{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

type walletFixture struct {
	PublicKey string `json:"public_key"`
	ChainCode string `json:"chain_code"`
	Threshold int    `json:"threshold"`
}

// loadWallet returns the fixture 2-of-3 wallet's shares and root.
func loadWallet(t testing.TB) (map[string]*Share, [33]byte) {
	t.Helper()
	shares := map[string]*Share{}
	for _, n := range fixtureNodes3 {
		b, err := os.ReadFile(filepath.Join(fixtureDir, "keygen-2of3", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseShare(b)
		if err != nil {
			t.Fatal(err)
		}
		shares[n] = s
	}
	return shares, shares["node-1"].PublicKey()
}

func TestKeygenFixture(t *testing.T) {
	if testing.Short() && !*update {
		t.Skip("keygen takes seconds")
	}
	ks := newKeygens(t, fixtureNodes3, 2)
	if err := run(t, asProtocols(ks), nil); err != nil {
		t.Fatal(err)
	}
	first := ks["node-1"].Result()
	if first == nil {
		t.Fatal("no result")
	}
	for _, n := range fixtureNodes3 {
		r := ks[n].Result()
		if r == nil || r.PublicKey != first.PublicKey || r.ChainCode != first.ChainCode {
			t.Fatalf("%s disagrees on the key or chain code", n)
		}
	}
	if _, err := btcec.ParsePubKey(first.PublicKey[:]); err != nil {
		t.Fatal(err)
	}
	if !*update {
		return
	}
	dir := filepath.Join(fixtureDir, "keygen-2of3")
	os.MkdirAll(dir, 0o755)
	for _, n := range fixtureNodes3 {
		if err := os.WriteFile(filepath.Join(dir, n+".json"), ks[n].Result().Share.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := json.MarshalIndent(walletFixture{hex.EncodeToString(first.PublicKey[:]), hex.EncodeToString(first.ChainCode[:]), 2}, "", "  ")
	os.WriteFile(filepath.Join(dir, "wallet.json"), w, 0o644)
}

func TestGenerateFixtures(t *testing.T) {
	if !*genPreParams {
		t.Skip("run with -gen-preparams to regenerate the pre-parameter fixtures")
	}
	for i := 1; i <= 5; i++ {
		p, err := GeneratePreParams(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(fixtureDir, "preparams", fmt.Sprintf("node-%d.json", i)), p.Bytes(), 0o644)
	}
}

func signers(t testing.TB, shares map[string]*Share, members []string, tweak [32]byte, hashes [][32]byte) map[string]*Signing {
	t.Helper()
	var digests []Digest
	for _, h := range hashes {
		digests = append(digests, Digest{Hash: h, Tweak: tweak})
	}
	out := map[string]*Signing{}
	for _, m := range members {
		s, err := NewSigning(m, members, shares[m], 2, digests)
		if err != nil {
			t.Fatal(err)
		}
		out[m] = s
	}
	return out
}

func TestSignUnderChildKey(t *testing.T) {
	shares, pub := loadWallet(t)
	root, _ := btcec.ParsePubKey(pub[:])
	var tweak [32]byte
	rand.Read(tweak[:])
	tweak[0] &= 0x7f
	digests := [][32]byte{sha256.Sum256([]byte("a")), {0, 0, 1}} // leading zeros must survive
	for _, committee := range [][]string{{"node-1", "node-2"}, {"node-1", "node-3"}, {"node-2", "node-3"}, fixtureNodes3} {
		t.Run(fmt.Sprint(committee), func(t *testing.T) {
			ss := signers(t, shares, committee, tweak, digests)
			if err := run(t, asProtocols(ss), nil); err != nil {
				t.Fatal(err)
			}
			// expected child key: root + tweak*G, computed independently of tss-lib
			var tw btcec.ModNScalar
			tw.SetBytes(&tweak)
			var tg, rootJ, sum btcec.JacobianPoint
			btcec.ScalarBaseMultNonConst(&tw, &tg)
			root.AsJacobian(&rootJ)
			btcec.AddNonConst(&rootJ, &tg, &sum)
			sum.ToAffine()
			child := btcec.NewPublicKey(&sum.X, &sum.Y)
			for _, n := range committee {
				if ss[n].ChildKey(0) != [33]byte(child.SerializeCompressed()) {
					t.Fatalf("%s derived another child key", n)
				}
				sigs := ss[n].Result()
				if len(sigs) != len(digests) {
					t.Fatalf("%s: %d signatures", n, len(sigs))
				}
				for i, sig := range sigs {
					var r, s btcec.ModNScalar
					r.SetByteSlice(sig[:32])
					s.SetByteSlice(sig[32:])
					if !btcecdsa.NewSignature(&r, &s).Verify(digests[i][:], child) {
						t.Fatalf("%s: signature %d does not verify", n, i)
					}
				}
			}
		})
	}
}

func TestSigningRefusesBadCommittee(t *testing.T) {
	shares, _ := loadWallet(t)
	d := [][32]byte{{1}}
	cases := map[string][]string{
		"too few":     {"node-1"},
		"unsorted":    {"node-2", "node-1"},
		"outsider":    {"node-1", "node-9"},
		"duplicate":   {"node-1", "node-1"},
		"not sorted3": {"node-3", "node-1", "node-2"},
	}
	for name, members := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSigning("node-1", members, shares["node-1"], 2, []Digest{{Hash: d[0]}}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestBadMessages sends each kind of bad message to an honest party, which
// must refuse it in Check, before tss-lib sees it, and name the sender.
func TestBadMessages(t *testing.T) {
	type tc struct {
		name   string
		keygen bool
		match  func(e *envelope) bool
		mutate func(t *testing.T, e *envelope)
	}
	from2to1 := func(typ string) func(e *envelope) bool {
		return func(e *envelope) bool { return e.from == "node-2" && e.to == "node-1" && e.m.Type == typ }
	}
	rewrap := func(t *testing.T, e *envelope, edit func(m proto.Message)) {
		var a anypb.Any
		if err := proto.Unmarshal(e.m.Payload, &a); err != nil {
			t.Fatal(err)
		}
		msg, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		edit(msg)
		b, _ := anypb.New(msg)
		e.m.Payload, _ = proto.Marshal(b)
	}
	cases := []tc{
		{"short VSS commitment vector", true, from2to1(kgRound2M2), func(t *testing.T, e *envelope) {
			rewrap(t, e, func(m proto.Message) {
				r := m.(*keygen.KGRound2Message2)
				r.DeCommitment = r.DeCommitment[:3]
			})
		}},
		{"Paillier-Blum proof with gcd(W, N) != 1", true, from2to1(kgRound2M2), func(t *testing.T, e *envelope) {
			p := loadPreParams(t, "node-2")
			rewrap(t, e, func(m proto.Message) {
				m.(*keygen.KGRound2Message2).ModProof[0] = p.p.PaillierSK.P.Bytes()
			})
		}},
		{"missing Paillier-Blum proof", true, from2to1(kgRound2M2), func(t *testing.T, e *envelope) {
			rewrap(t, e, func(m proto.Message) { m.(*keygen.KGRound2Message2).ModProof = nil })
		}},
		{"missing factorization proof", true, func(e *envelope) bool { return e.from == "node-2" && e.to == "node-1" && e.m.Type == kgRound2M1 }, func(t *testing.T, e *envelope) {
			rewrap(t, e, func(m proto.Message) { m.(*keygen.KGRound2Message1).FacProof = nil })
		}},
		{"type not in protocol", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound3Message"), func(t *testing.T, e *envelope) {
			e.m.Type = "0/binance.tsslib.ecdsa.keygen.KGRound3Message"
		}},
		{"payload of another type", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound3Message"), func(t *testing.T, e *envelope) {
			e.m.Type = "0/binance.tsslib.ecdsa.signing.SignRound4Message"
		}},
		{"broadcast flag flipped", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound3Message"), func(t *testing.T, e *envelope) {
			e.m.Broadcast = false
		}},
		{"round too far ahead", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound1Message2"), func(t *testing.T, e *envelope) {
			e.m.Type = "0/binance.tsslib.ecdsa.signing.SignRound9Message"
		}},
		{"digest index out of range", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound3Message"), func(t *testing.T, e *envelope) {
			e.m.Type = "7/binance.tsslib.ecdsa.signing.SignRound3Message"
		}},
		{"oversize", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound3Message"), func(t *testing.T, e *envelope) {
			e.m.Payload = make([]byte, MaxMessageSize+1)
		}},
		{"garbage payload", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound3Message"), func(t *testing.T, e *envelope) {
			e.m.Payload = []byte{0xff, 0xff, 0xff}
		}},
		{"empty content", false, from2to1("0/binance.tsslib.ecdsa.signing.SignRound9Message"), func(t *testing.T, e *envelope) {
			rewrap(t, e, func(m proto.Message) { proto.Reset(m) })
		}},
	}
	shares, _ := loadWallet(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var parties map[string]protocol
			if c.keygen {
				parties = asProtocols(newKeygens(t, fixtureNodes3, 2))
			} else {
				parties = asProtocols(signers(t, shares, []string{"node-1", "node-2"}, [32]byte{}, [][32]byte{{9}}))
			}
			hit := false
			err := run(t, parties, func(e *envelope) {
				if !hit && c.match(e) {
					hit = true
					c.mutate(t, e)
				}
			})
			if !hit {
				t.Fatal("the message to tamper with was never sent")
			}
			var me *Error
			if !errors.Is(err, ErrBadMessage) || !errors.As(err, &me) || !slices.Equal(me.Culprits, []string{"node-2"}) {
				t.Fatalf("got %v, want a bad message blamed on node-2", err)
			}
		})
	}
}

func TestNonMemberAndSelf(t *testing.T) {
	shares, _ := loadWallet(t)
	ss := signers(t, shares, []string{"node-1", "node-2"}, [32]byte{}, [][32]byte{{9}})
	msgs, err := ss["node-2"].Start()
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"node-3", "node-1", ""} {
		if err := ss["node-1"].Check(from, msgs[0]); !errors.Is(err, ErrBadMessage) {
			t.Fatalf("from %q: got %v", from, err)
		}
	}
}

func TestSecretsRedact(t *testing.T) {
	shares, _ := loadWallet(t)
	s := shares["node-1"]
	if got := fmt.Sprint(s); got != "mpc.Share(REDACTED)" {
		t.Fatal(got)
	}
	if _, err := json.Marshal(s); err == nil {
		t.Fatal("share marshalled to JSON")
	}
	if _, err := json.Marshal(loadPreParams(t, "node-1")); err == nil {
		t.Fatal("pre-parameters marshalled to JSON")
	}
}

func TestParseRefusesBadSecrets(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("{}"), []byte(`{"Xi":1}`), []byte("not json")} {
		if _, err := ParseShare(b); !errors.Is(err, ErrBadShare) {
			t.Fatalf("share %q: %v", b, err)
		}
		if _, err := ParsePreParams(b); !errors.Is(err, ErrBadPreParams) {
			t.Fatalf("preparams %q: %v", b, err)
		}
	}
}

func TestPartyKeysDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := range 64 {
		k := partyKey(fmt.Sprintf("node-%d", i))
		if k.Sign() == 0 || seen[k.String()] {
			t.Fatal("party key collision")
		}
		seen[k.String()] = true
	}
}

// TestSignDigestsUnderDifferentKeys signs three digests in one session,
// each under another child key (the root's among them), as a transaction
// spending from several addresses does.
func TestSignDigestsUnderDifferentKeys(t *testing.T) {
	shares, _ := loadWallet(t)
	var t1, t2 [32]byte
	rand.Read(t1[:])
	rand.Read(t2[:])
	t1[0], t2[0] = 0x11, 0x22
	digests := []Digest{{sha256.Sum256([]byte("in0")), t1}, {sha256.Sum256([]byte("in1")), [32]byte{}}, {sha256.Sum256([]byte("in2")), t2}}
	members := []string{"node-2", "node-3"}
	ss := map[string]*Signing{}
	for _, m := range members {
		s, err := NewSigning(m, members, shares[m], 2, digests)
		if err != nil {
			t.Fatal(err)
		}
		ss[m] = s
	}
	if err := run(t, asProtocols(ss), nil); err != nil {
		t.Fatal(err)
	}
	for i, d := range digests {
		pub, err := btcec.ParsePubKey(func() []byte { k := ss["node-2"].ChildKey(i); return k[:] }())
		if err != nil {
			t.Fatal(err)
		}
		sig := ss["node-3"].Result()[i]
		var r, s btcec.ModNScalar
		r.SetByteSlice(sig[:32])
		s.SetByteSlice(sig[32:])
		if !btcecdsa.NewSignature(&r, &s).Verify(d.Hash[:], pub) {
			t.Fatalf("digest %d does not verify under its own child key", i)
		}
	}
	if ss["node-2"].ChildKey(0) == ss["node-2"].ChildKey(1) || ss["node-2"].ChildKey(1) != shares["node-2"].PublicKey() {
		t.Fatal("child keys are not per digest")
	}
}
