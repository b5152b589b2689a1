package mpc

import (
	"errors"
	"testing"
)

// FuzzCheck feeds arbitrary messages from a committee member to a started
// signing party and a started key generation party. Check must never panic
// and must refuse with a bad-message error naming the sender; what it
// accepts is delivered to a fresh party, which must not panic either.
func FuzzCheck(f *testing.F) {
	shares, _ := loadWallet(f)
	members := []string{"node-1", "node-2"}
	newSigner := func(self string) *Signing {
		s, err := NewSigning(self, members, shares[self], 2, []Digest{{Hash: [32]byte{1}}})
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	peer := newSigner("node-2")
	seeds, err := peer.Start()
	if err != nil {
		f.Fatal(err)
	}
	kgs := newKeygens(f, fixtureNodes3, 2)
	kgSeeds, err := kgs["node-2"].Start()
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range append(seeds, kgSeeds...) {
		f.Add(m.Type, m.Payload, m.Broadcast)
	}
	f.Add("0/binance.tsslib.ecdsa.signing.SignRound9Message", []byte{}, true)
	f.Add(kgRound2M2, []byte{0x0a}, true)
	signer := newSigner("node-1")
	if _, err := signer.Start(); err != nil {
		f.Fatal(err)
	}
	kg := kgs["node-1"]
	if _, err := kg.Start(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ string, payload []byte, broadcast bool) {
		m := Message{Type: typ, Payload: payload, Broadcast: broadcast}
		for _, p := range []protocol{signer, kg} {
			err := p.Check("node-2", m)
			var me *Error
			if err != nil && (!errors.Is(err, ErrBadMessage) || !errors.As(err, &me) || len(me.Culprits) != 1 || me.Culprits[0] != "node-2") {
				t.Fatalf("Check failed with %v, not a bad-message error blaming node-2", err)
			}
		}
		if signer.Check("node-2", m) == nil {
			fresh := newSigner("node-1")
			if _, err := fresh.Start(); err != nil {
				t.Fatal(err)
			}
			_, _ = fresh.Deliver("node-2", m) // may fail; must not panic
		}
	})
}

// FuzzParseShare and FuzzParsePreParams: the plaintext of sealed secrets
// is checked before use.
func FuzzParseShare(f *testing.F) {
	f.Add([]byte(`{"Xi":1,"ShareID":2,"Ks":[1,2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseShare(b); err == nil {
			_ = s.PublicKey()
			_ = s.data()
		}
		_, _ = ParsePreParams(b)
	})
}
