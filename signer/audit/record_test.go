package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	ec := ecdsaLog()
	ed := buildLog(t, newEd25519(1), 8)
	empty, err := Next(ed.recs[7], "test.empty_body", nil, t0, ed.key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Record
	}{
		{"ECDSA genesis", ec.recs[0]},
		{"ECDSA record", ec.recs[999]},
		{"Ed25519 genesis", ed.recs[0]},
		{"Ed25519 record", ed.recs[7]},
		{"empty body", empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.r.Encode()
			if want := 61 + len(tt.r.Kind) + len(tt.r.Body) + len(tt.r.Sig); len(b) != want {
				t.Errorf("encoding is %d bytes, want %d", len(b), want)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.r) {
				t.Errorf("Decode(Encode(r)) = %+v, want %+v", got, tt.r)
			}
			if again := got.Encode(); !bytes.Equal(again, b) {
				t.Errorf("Encode(Decode(b)) differs from b")
			}
			if got.Hash() != tt.r.Hash() {
				t.Errorf("hash changed in a round trip")
			}
		})
	}
}

func TestDecodeDoesNotRetainInput(t *testing.T) {
	b := ecdsaLog().recs[5].Encode()
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := r.Encode()
	for i := range b {
		b[i] = 0xff
	}
	if !bytes.Equal(r.Encode(), want) {
		t.Error("decoded record changed with its input bytes")
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := ecdsaLog().recs[3]
	enc := func(edit func(*Record)) []byte {
		r := *valid
		r.Body = append([]byte(nil), valid.Body...)
		r.Sig = append([]byte(nil), valid.Sig...)
		edit(&r)
		return r.Encode()
	}
	kindAt := headerSize
	bodyLenAt := func(b []byte) int { return kindAt + 4 + int(binary.BigEndian.Uint32(b[kindAt:])) }
	patch := func(b []byte, at int, v uint32) []byte {
		binary.BigEndian.PutUint32(b[at:], v)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		msg  string
	}{
		{"empty", nil, "shorter than a record header"},
		{"header only", valid.Encode()[:headerSize], "before the kind length"},
		{"version 0", func() []byte { b := valid.Encode(); b[0] = 0; return b }(), "format version 0"},
		{"version 2", func() []byte { b := valid.Encode(); b[0] = 2; return b }(), "format version 2"},
		{"kind too short", enc(func(r *Record) { r.Kind = "a." }), "kind length 2"},
		{"kind too long", enc(func(r *Record) { r.Kind = Kind("a." + strings.Repeat("b", 63)) }), "kind length 65"},
		{"kind upper case", enc(func(r *Record) { r.Kind = "Wallet.created" }), "invalid kind"},
		{"kind without a dot", enc(func(r *Record) { r.Kind = "walletcreated" }), "invalid kind"},
		{"kind length past the end", func() []byte { b := valid.Encode(); return patch(b, kindAt, 60)[:kindAt+10] }(), "ends inside the kind"},
		{"body too long", enc(func(r *Record) { r.Body = make([]byte, MaxBody+1) }), "body length 1048577"},
		{"body length huge", func() []byte { b := valid.Encode(); return patch(b, bodyLenAt(b), 0xffffffff) }(), "body length 4294967295"},
		{"body cut short", func() []byte { b := valid.Encode(); return b[:bodyLenAt(b)+10] }(), "ends inside the body"},
		{"no signature", enc(func(r *Record) { r.Sig = nil }), "signature length 0"},
		{"signature too long", enc(func(r *Record) { r.Sig = make([]byte, MaxSig+1) }), "signature length 129"},
		{"signature cut short", func() []byte { b := valid.Encode(); return b[:len(b)-1] }(), "ends inside the signature"},
		{"signature length missing", func() []byte { b := valid.Encode(); return b[:len(b)-len(valid.Sig)-2] }(), "before the signature length"},
		{"trailing byte", append(valid.Encode(), 0), "1 bytes after the signature"},
		{"two records", append(valid.Encode(), valid.Encode()...), "after the signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(tt.b)
			if err == nil {
				t.Fatalf("decoded %+v", r)
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %q, want ErrMalformed saying %q", err, tt.msg)
			}
		})
	}
}

func TestKindValid(t *testing.T) {
	tests := []struct {
		kind Kind
		want bool
	}{
		{KindGenesis, true},
		{KindWalletCreated, true},
		{KindCallRefused, true},
		{"withdrawal.policy_refused", true},
		{"a.b", true},
		{"a.b.c2", true},
		{Kind("a." + strings.Repeat("b", 62)), true},
		{Kind("a." + strings.Repeat("b", 63)), false},
		{"", false},
		{"wallet", false},
		{"wallet.", false},
		{".wallet", false},
		{"wallet..created", false},
		{"Wallet.created", false},
		{"wallet.2created", false},
		{"wallet._created", false},
		{"wallet-created.x", false},
		{"wallet.created ", false},
		{"wallet.créé", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := tt.kind.Valid(); got != tt.want {
				t.Errorf("Valid() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	key := newECDSA()
	g, err := Next(nil, KindGenesis, genesisBody(t, key), t0, key)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"wallet_id":"w1","reason":"test"}`)
	r, err := Next(g, KindWalletDiscarded, body, t0.Add(time.Second).In(time.FixedZone("X", 3600)), key)
	if err != nil {
		t.Fatal(err)
	}
	body[0] = 'X'
	switch {
	case g.Seq != 0 || g.Prev != [32]byte{}:
		t.Errorf("genesis seq %d prev %x, want 0 and zero", g.Seq, g.Prev)
	case r.Seq != 1 || r.Prev != g.Hash():
		t.Errorf("record seq %d prev %x, want 1 and %x", r.Seq, r.Prev, g.Hash())
	case r.Time != t0.Add(time.Second) || r.Time.Location() != time.UTC:
		t.Errorf("time %v, want %v in UTC", r.Time, t0.Add(time.Second))
	case string(r.Body) != `{"wallet_id":"w1","reason":"test"}`:
		t.Errorf("body %q shares memory with the caller's", r.Body)
	}
	if err := VerifySignature(r, key.Public()); err != nil {
		t.Error(err)
	}

	back, err := Next(r, KindWalletDiscarded, nil, t0, key)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(r.Time) {
		t.Errorf("clock stepped back: time %v, want the previous record's %v", back.Time, r.Time)
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	maxSeq := *r
	maxSeq.Seq = 1<<64 - 1
	tests := []struct {
		name string
		prev *Record
		kind Kind
		body []byte
		now  time.Time
		key  crypto.Signer
		want error  // sentinel, or nil for any error
		msg  string // part of the message
	}{
		{"log not starting with genesis", nil, KindWalletCreated, nil, t0, key, ErrNoGenesis, "a log starts with"},
		{"second genesis", r, KindGenesis, genesisBody(t, key), t0, key, ErrMalformed, "log.genesis after record 1"},
		{"genesis naming another key", nil, KindGenesis, genesisBody(t, newECDSA()), t0, key, ErrMalformed, "another key"},
		{"genesis body not JSON", nil, KindGenesis, []byte("node-a"), t0, key, ErrMalformed, "genesis body"},
		{"genesis of another format", nil, KindGenesis, []byte(`{"node_id":"a","cert_der":"","format":2}`), t0, key, ErrMalformed, "format 2"},
		{"invalid kind", r, "Wallet.Created", nil, t0, key, ErrMalformed, "invalid kind"},
		{"body too large", r, KindWalletCreated, make([]byte, MaxBody+1), t0, key, ErrMalformed, "limit 1048576"},
		{"time out of range", r, KindWalletCreated, nil, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), key, nil, "cannot be stored"},
		{"zero time", nil, KindGenesis, genesisBody(t, key), time.Time{}, key, nil, "cannot be stored"},
		{"seq exhausted", &maxSeq, KindWalletCreated, nil, t0, key, ErrOrder, "no seq after"},
		{"no key", r, KindWalletCreated, nil, t0, nil, nil, "no signing key"},
		{"P-384 key", r, KindWalletCreated, nil, t0, p384, nil, "other than P-256"},
		{"RSA key", r, KindWalletCreated, nil, t0, rsaKey, nil, "unsupported signing key *rsa.PublicKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Next(tt.prev, tt.kind, tt.body, tt.now, tt.key)
			if err == nil {
				t.Fatalf("built %+v", got)
			}
			if (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %q, want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
}

// brokenSigner signs with one key and claims another.
type brokenSigner struct {
	crypto.Signer
	pub crypto.PublicKey
}

func (s brokenSigner) Public() crypto.PublicKey { return s.pub }

func TestNextChecksItsSignature(t *testing.T) {
	l := ecdsaLog()
	s := brokenSigner{Signer: newECDSA(), pub: l.key.Public()}
	if _, err := Next(l.recs[999], KindWalletCreated, nil, t0, s); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("got %v, want an error saying the signature does not verify", err)
	}
}

func TestVerifySignature(t *testing.T) {
	ec := ecdsaLog()
	ed := buildLog(t, newEd25519(1), 2)
	edited := *ec.recs[10]
	edited.Body = []byte(`{}`)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Record
		pub  crypto.PublicKey
		ok   bool
	}{
		{"ECDSA", ec.recs[10], ec.key.Public(), true},
		{"Ed25519", ed.recs[1], ed.key.Public(), true},
		{"another ECDSA key", ec.recs[10], newECDSA().Public(), false},
		{"another Ed25519 key", ed.recs[1], newEd25519(9).Public(), false},
		{"key of another type", ed.recs[1], ec.key.Public(), false},
		{"edited record", &edited, ec.key.Public(), false},
		{"P-384 key", ec.recs[10], p384.Public(), false},
		{"nil key", ec.recs[10], nil, false},
		{"nil ECDSA key", ec.recs[10], (*ecdsa.PublicKey)(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.r, tt.pub)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantVerifyError(t, err, tt.r.Seq, ErrBadSignature)
		})
	}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"genesis", Genesis{NodeID: "node-a", CertDER: []byte{1, 2, 3}, Format: 1},
			`{"node_id":"node-a","cert_der":"AQID","format":1}`},
		{"wallet created", WalletCreated{WalletID: "w1", Label: "hot <btc>", PublicKey: "02ab", Threshold: 1, Nodes: []string{"a", "b", "c"}, SessionID: "00", ChainCodeHash: "ff"},
			`{"wallet_id":"w1","label":"hot \u003cbtc\u003e","public_key":"02ab","threshold":1,"nodes":["a","b","c"],"session_id":"00","chain_code_hash":"ff"}`},
		{"session aborted without culprits", SessionAborted{SessionID: "00", Reason: "timeout"},
			`{"session_id":"00","reason":"timeout"}`},
		{"call refused", CallRefused{Caller: "backend", Role: "backend", Method: "/m", Code: 7, Reason: "no"},
			`{"caller":"backend","role":"backend","method":"/m","code":7,"reason":"no"}`},
		{"peer head", PeerHead{Peer: "node-b", Seq: 12, Hash: "ab"},
			`{"peer":"node-b","seq":12,"hash":"ab"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Body(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
	if _, err := Body(func() {}); err == nil {
		t.Error("Body of a func: no error")
	}
}
