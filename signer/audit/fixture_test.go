package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"
)

// t0 is the time of record 0 in test logs; record i is i milliseconds later.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// A pair is one stored (key, value) pair.
type pair struct {
	key   uint64
	value []byte
}

// A testLog is a log built with Next, with its records and their encodings.
type testLog struct {
	key   crypto.Signer
	recs  []*Record
	pairs []pair
}

// pairsCopy returns a deep copy of the log's pairs, to tamper with.
func (l *testLog) pairsCopy() []pair {
	out := make([]pair, len(l.pairs))
	for i, p := range l.pairs {
		out[i] = pair{p.key, append([]byte(nil), p.value...)}
	}
	return out
}

// certFor returns a self-signed certificate for key. With an Ed25519 key
// the certificate is the same on every run.
func certFor(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "node-a"},
		DNSNames:     []string{"node-a"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func genesisBody(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	b, err := Body(Genesis{NodeID: "node-a", CertDER: certFor(tb, key), Format: Version})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testBody returns the body of record i of a test log.
func testBody(i int) (Kind, []byte) {
	var v any
	var k Kind
	switch i % 4 {
	case 0:
		k, v = KindSessionStarted, SessionStarted{SessionID: fmt.Sprintf("%032x", i), Kind: SessionSigning,
			WalletID: "w1", Committee: []string{"node-a", "node-b"}, Coordinator: "node-a", Purpose: fmt.Sprintf("withdrawal %d", i)}
	case 1:
		k, v = KindSessionEnded, SessionEnded{SessionID: fmt.Sprintf("%032x", i-1), Outcome: "signed", Signatures: []string{"3045"}}
	case 2:
		k, v = KindCallRefused, CallRefused{Caller: "backend", Role: "backend", Method: "/countersign.v1.Wallet/CreateWallet", Code: 7, Reason: "role may not create wallets"}
	default:
		k, v = KindPeerHead, PeerHead{Peer: "node-b", Seq: uint64(i), Hash: fmt.Sprintf("%064x", i)}
	}
	b, err := Body(v)
	if err != nil {
		panic(err)
	}
	return k, b
}

// buildLog builds a log of n records signed by key.
func buildLog(tb testing.TB, key crypto.Signer, n int) *testLog {
	tb.Helper()
	l := &testLog{key: key}
	var prev *Record
	for i := range n {
		kind, body := testBody(i)
		if i == 0 {
			kind, body = KindGenesis, genesisBody(tb, key)
		}
		r, err := Next(prev, kind, body, t0.Add(time.Duration(i)*time.Millisecond), key)
		if err != nil {
			tb.Fatalf("record %d: %v", i, err)
		}
		l.recs = append(l.recs, r)
		l.pairs = append(l.pairs, pair{r.Seq, r.Encode()})
		prev = r
	}
	return l
}

type failTB struct{ testing.TB }

func (failTB) Helper()                   {}
func (failTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (failTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// ecdsaLog is a 1000-record log signed with a fresh ECDSA P-256 key, shared
// by tests that only read it.
var ecdsaLog = sync.OnceValue(func() *testLog {
	return buildLog(failTB{}, newECDSA(), 1000)
})

func newECDSA() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func newEd25519(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed + byte(i)
	}
	return ed25519.NewKeyFromSeed(s)
}

// verifyPairs runs a Verifier over pairs. If peer is set, it then checks
// the log against that head with CheckHead.
func verifyPairs(pub crypto.PublicKey, pairs []pair, peer *Head) (Head, error) {
	v := NewVerifier(pub)
	var atPeer *Head
	for _, p := range pairs {
		if err := v.Add(p.key, p.value); err != nil {
			return Head{}, err
		}
		if peer != nil && p.key == peer.Seq {
			h, _ := v.Head()
			atPeer = &h
		}
	}
	head, err := v.Finish()
	if err != nil {
		return Head{}, err
	}
	if peer != nil {
		got := head
		if atPeer != nil {
			got = *atPeer
		}
		return head, CheckHead(got, *peer)
	}
	return head, nil
}

// wantVerifyError fails t unless err is a *VerifyError at seq wrapping want.
func wantVerifyError(t *testing.T, err error, seq uint64, want error) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v (%T), want a *VerifyError wrapping %v at record %d", err, err, want, seq)
	}
	if !errors.Is(err, want) || ve.Seq != seq {
		t.Fatalf("got %q (record %d, %v), want record %d, %v", err, ve.Seq, ve.Err, seq, want)
	}
}
