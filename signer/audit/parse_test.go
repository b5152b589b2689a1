package audit

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseBody(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		kind Kind
		body string
		want any
		err  error
	}{
		{"peer head", KindPeerHead, `{"peer":"node-2","seq":7,"hash":"` + hash + `"}`,
			&PeerHead{Peer: "node-2", Seq: 7, Hash: hash}, nil},
		{"peer head with a session", KindPeerHead, `{"peer":"node-2","seq":7,"hash":"` + hash + `","session_id":"00"}`,
			&PeerHead{Peer: "node-2", Seq: 7, Hash: hash, SessionID: "00"}, nil},
		{"field added by a newer writer", KindWithdrawalFailed, `{"withdrawal_id":"wd-1","reason":"r","later":1}`,
			&WithdrawalFailed{WithdrawalID: "wd-1", Reason: "r"}, nil},
		{"decision", KindWithdrawalDecided, `{"withdrawal_id":"wd-1","request_hash":"00","allowed":false,"rule":"policy.x","policy_hash":"ff"}`,
			&WithdrawalDecided{WithdrawalID: "wd-1", RequestHash: "00", Rule: "policy.x", PolicyHash: "ff"}, nil},
		{"unknown kind", "policy.proposed", `{}`, nil, ErrUnknownKind},
		{"not JSON", KindSessionEnded, `{`, nil, ErrMalformed},
		{"an array", KindSessionEnded, `[]`, nil, ErrMalformed},
		{"two objects", KindSessionEnded, `{}{}`, nil, ErrMalformed},
		{"wrong type", KindPeerHead, `{"peer":"node-2","seq":"7","hash":"` + hash + `"}`, nil, ErrMalformed},
		{"peer head, upper-case hash", KindPeerHead, `{"peer":"node-2","seq":7,"hash":"` + strings.ToUpper(hash) + `"}`, nil, ErrMalformed},
		{"peer head, short hash", KindPeerHead, `{"peer":"node-2","seq":7,"hash":"abab"}`, nil, ErrMalformed},
		{"peer head, zero hash", KindPeerHead, `{"peer":"node-2","seq":7,"hash":"` + strings.Repeat("0", 64) + `"}`, nil, ErrMalformed},
		{"peer head, no peer", KindPeerHead, `{"seq":7,"hash":"` + hash + `"}`, nil, ErrMalformed},
		{"peer head, bad peer", KindPeerHead, `{"peer":"Node 2","seq":7,"hash":"` + hash + `"}`, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBody(tt.kind, []byte(tt.body))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, %v; want an error wrapping %v", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestParseBodyKnowsEveryKind parses what Body writes for every kind.
func TestParseBodyKnowsEveryKind(t *testing.T) {
	for kind, newBody := range bodyTypes {
		v := newBody()
		switch v := v.(type) {
		case *PeerHead:
			v.Peer, v.Hash = "node-1", strings.Repeat("01", 32)
		case *WithdrawalReceived:
			v.Intent = []byte(`{"v":1}`)
		}
		b, err := Body(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseBody(kind, b)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s: got %#v, want %#v", kind, got, v)
		}
		if !kind.Known() {
			t.Errorf("%s: not Known", kind)
		}
	}
}

func FuzzParseBody(f *testing.F) {
	f.Add(string(KindPeerHead), []byte(`{"peer":"node-2","seq":7,"hash":"`+strings.Repeat("ab", 32)+`"}`))
	f.Add(string(KindWithdrawalDecided), []byte(`{"withdrawal_id":"wd-1","allowed":true,"digests":["00"]}`))
	f.Add(string(KindGenesis), []byte(`{"node_id":"a","cert_der":"AQID","format":1}`))
	f.Add("policy.accepted", []byte(`{}`))
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		v, err := ParseBody(Kind(kind), body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKind) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnknownKind", err)
			}
			return
		}
		// What parses is stable: its canonical encoding parses, and encodes
		// to the same bytes again.
		b, err := Body(v)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseBody(Kind(kind), b)
		if err != nil {
			t.Fatalf("re-encoded body %s does not parse: %v", b, err)
		}
		b2, err := Body(again)
		if err != nil || string(b2) != string(b) {
			t.Fatalf("round trip changed the body: %s, then %s (%v)", b, b2, err)
		}
		if ph, ok := v.(*PeerHead); ok {
			h, err := ph.Head()
			if err != nil || h.Seq != ph.Seq || h.Hash == ([32]byte{}) {
				t.Fatalf("a parsed peer head gives %v, %v", h, err)
			}
		}
	})
}
