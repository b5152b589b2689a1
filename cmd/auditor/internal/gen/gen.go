// Package gen writes large, realistic, valid audit logs for measurements
// and tests: the log a busy coordinator node would keep, with withdrawals
// received, decided (some refused, by rule), signed in sessions with the
// peers' heads recorded, a few failures, aborted sessions and refused
// calls, in the proportions of real traffic. The node's certificate comes
// from a throwaway cluster CA returned with the log, so the log also
// verifies against a CA. Nothing here is a real key or a real
// transaction: the logs are for measurement and tests only.
//
// The hash chain is built in order on one goroutine (a record's hash does
// not cover its signature); records are signed on a worker pool and
// written in order.
package gen

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
)

// Limits of a generated log.
const (
	MaxRecords = 100_000_000
	batchSize  = 1024 // records signed together
)

// Options describe a log to generate.
type Options struct {
	Records uint64    // how many records, genesis included (at least 1)
	Start   time.Time // time of the genesis record
	Days    int       // how many days the log spans; 0 means 30
	Seed    uint64    // the same seed gives the same traffic (not the same signatures)
	Workers int       // signing goroutines; 0 means GOMAXPROCS
	Node    string    // the node id; "" means node-1
	// Progress, if not nil, is called now and then with the records written.
	Progress func(written uint64)
}

// Stats is what was generated.
type Stats struct {
	Kinds       map[audit.Kind]uint64
	Withdrawals uint64
	Head        audit.Head
	CAPEM       []byte // the throwaway CA that issued the node's certificate
}

// Write generates a log and writes it to a new audit-log database at path.
func Write(path string, o Options) (*Stats, error) {
	if o.Records == 0 || o.Records > MaxRecords {
		return nil, fmt.Errorf("gen: %d records, want 1 to %d", o.Records, MaxRecords)
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.Node == "" {
		o.Node = "node-1"
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Start.IsZero() {
		o.Start = time.Now().Add(-time.Duration(o.Days) * 24 * time.Hour)
	}
	ca, err := pki.NewCA("gen-ca", o.Start)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue(pki.Identity{Name: o.Node, Role: pki.RoleNode}, []string{"127.0.0.1"}, o.Start)
	if err != nil {
		return nil, err
	}
	cert, err := pki.ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := pki.SignerFromKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	w, err := store.CreateAuditLog(path)
	if err != nil {
		return nil, err
	}
	st := &Stats{Kinds: map[audit.Kind]uint64{}, CAPEM: ca.CertPEM()}
	if err := write(w, o, cert.Raw, key, st); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return st, nil
}

type batch struct {
	recs []*audit.Record
	done chan error
}

func write(w *store.AuditWriter, o Options, certDER []byte, key crypto.Signer, st *Stats) error {
	work := make(chan *batch, o.Workers*2)
	ordered := make(chan *batch, o.Workers*2)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				var err error
				for _, r := range b.recs {
					h := r.Hash()
					if r.Sig, err = key.Sign(rand.Reader, h[:], crypto.SHA256); err != nil {
						break
					}
				}
				b.done <- err
			}
		}()
	}
	// The chain builder: records in order, unsigned.
	go func() {
		defer close(ordered)
		defer close(work)
		t := newTraffic(o, certDER)
		var prev [32]byte
		b := &batch{done: make(chan error, 1)}
		for seq := uint64(0); seq < o.Records; seq++ {
			kind, body, at := t.next(seq)
			r := &audit.Record{Seq: seq, Time: at, Kind: kind, Body: body, Prev: prev}
			prev = r.Hash()
			st.Kinds[kind]++
			if seq == o.Records-1 {
				st.Head = audit.Head{Seq: seq, Hash: prev}
			}
			b.recs = append(b.recs, r)
			if len(b.recs) == batchSize || seq == o.Records-1 {
				ordered <- b
				work <- b
				b = &batch{done: make(chan error, 1)}
			}
		}
		st.Withdrawals = t.withdrawals
	}()
	var err error
	var written uint64
	for b := range ordered {
		if e := <-b.done; e != nil && err == nil {
			err = fmt.Errorf("gen: signing: %w", e)
		}
		for _, r := range b.recs {
			if err == nil {
				err = w.Put(r.Seq, r.Encode())
			}
		}
		written += uint64(len(b.recs))
		if o.Progress != nil && written%(100*batchSize) < batchSize {
			o.Progress(written)
		}
	}
	wg.Wait()
	return err
}

// traffic makes up the records of a busy node in a realistic mix.
type traffic struct {
	o           Options
	rnd         *mrand.Rand
	now         time.Time
	step        time.Duration // mean time between records
	queue       []item
	withdrawals uint64
	peers       []string
	peerSeq     map[string]uint64
	wallets     []string
	genesis     []byte
}

type item struct {
	kind audit.Kind
	body any
}

func newTraffic(o Options, certDER []byte) *traffic {
	g, _ := audit.Body(audit.Genesis{NodeID: o.Node, CertDER: certDER, Format: audit.Version})
	t := &traffic{
		o: o, rnd: mrand.New(mrand.NewPCG(o.Seed, 0x5eed)), now: o.Start.UTC(),
		step:    time.Duration(float64(o.Days) * float64(24*time.Hour) * 0.97 / float64(max(o.Records, 1))), // exponential gaps: stay within the span
		peers:   []string{"node-2", "node-3"},
		peerSeq: map[string]uint64{},
		wallets: []string{"w-00000000000000a1", "w-00000000000000b2", "w-00000000000000c3"},
		genesis: g,
	}
	return t
}

func (t *traffic) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(t.rnd.Uint32())
	}
	return hex.EncodeToString(b)
}

// Refusal rules and how often each is the reason, out of 100 refusals.
var refusals = []struct {
	rule, reason string
	weight       int
}{
	{"policy.destination_not_allowed", "destination is not on the wallet's allowlist", 45},
	{"policy.amount_over_cap", "amount over the wallet's per-withdrawal cap", 25},
	{"policy.daily_cap_exceeded", "the wallet's 24-hour cap would be exceeded", 20},
	{"fee.over_cap", "fee above the intent's cap", 7},
	{"withdrawal.id_reused", "withdrawal id bound to another request", 3},
}

// next returns record seq's kind, body and time.
func (t *traffic) next(seq uint64) (audit.Kind, []byte, time.Time) {
	if seq == 0 {
		return audit.KindGenesis, t.genesis, t.now
	}
	if len(t.queue) == 0 {
		t.plan(seq)
	}
	it := t.queue[0]
	t.queue = t.queue[1:]
	// exponential gaps around the mean keep the log's span near Days
	t.now = t.now.Add(time.Duration(t.rnd.ExpFloat64() * float64(t.step)))
	b, err := audit.Body(it.body)
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	return it.kind, b, t.now
}

// plan queues the records of one event: mostly a withdrawal on this node
// as coordinator, sometimes a refused call.
func (t *traffic) plan(seq uint64) {
	if t.rnd.IntN(200) == 0 {
		t.queue = append(t.queue, item{audit.KindCallRefused, audit.CallRefused{Caller: "backend", Role: "backend",
			Method: "/countersign.v1.WalletService/CreateWallet", Code: 7, Reason: "role backend may not call this"}})
		return
	}
	t.withdrawals++
	id := fmt.Sprintf("wd-%d", t.withdrawals)
	wallet := t.wallets[t.rnd.IntN(len(t.wallets))]
	amount := int64(1_000_000 + t.rnd.IntN(50_000_000))
	intent, _ := json.Marshal(map[string]any{"v": 1, "withdrawal_id": id, "wallet_id": wallet, "network": "mainnet", "asset": "BTC",
		"destination": "bc1q" + t.hex(19), "amount_sat": amount, "fee_cap_sat": 20_000})
	reqHash := t.hex(32)
	psbt := make([]byte, 180+t.rnd.IntN(200))
	for i := range psbt {
		psbt[i] = byte(t.rnd.Uint32())
	}
	t.queue = append(t.queue, item{audit.KindWithdrawalReceived, audit.WithdrawalReceived{WithdrawalID: id, RequestHash: reqHash,
		Intent: intent, PSBT: psbt, From: "backend"}})
	decided := audit.WithdrawalDecided{WithdrawalID: id, RequestHash: reqHash, PolicyHash: "5f" + t.hex(31)}
	if t.rnd.IntN(100) < 8 { // refused
		n := t.rnd.IntN(100)
		for _, r := range refusals {
			if n < r.weight {
				decided.Rule, decided.Reason = r.rule, r.reason
				break
			}
			n -= r.weight
		}
		t.queue = append(t.queue, item{audit.KindWithdrawalDecided, decided})
		return
	}
	inputs := 1 + t.rnd.IntN(3)
	decided.Allowed, decided.TxID, decided.FeeSat = true, t.hex(32), int64(1_000+t.rnd.IntN(15_000))
	decided.OutflowSat = amount + decided.FeeSat
	for range inputs {
		decided.Digests = append(decided.Digests, t.hex(32))
	}
	t.queue = append(t.queue, item{audit.KindWithdrawalDecided, decided})
	sid := t.hex(32)
	peer := t.peers[t.rnd.IntN(len(t.peers))]
	committee := []string{t.o.Node, peer}
	if peer < t.o.Node {
		committee = []string{peer, t.o.Node}
	}
	t.queue = append(t.queue, item{audit.KindSessionStarted, audit.SessionStarted{SessionID: sid, Kind: audit.SessionSigning,
		WalletID: wallet, Committee: committee, Coordinator: t.o.Node, Purpose: "withdrawal " + id}})
	t.peerSeq[peer] += uint64(5 + t.rnd.IntN(5))
	t.queue = append(t.queue, item{audit.KindPeerHead, audit.PeerHead{Peer: peer, Seq: t.peerSeq[peer], Hash: t.hex(32), SessionID: sid}})
	if t.rnd.IntN(100) == 0 { // a session that aborts, and the withdrawal fails
		t.queue = append(t.queue,
			item{audit.KindSessionAborted, audit.SessionAborted{SessionID: sid, Reason: "timed out waiting for " + peer, Culprits: []string{peer}}},
			item{audit.KindWithdrawalFailed, audit.WithdrawalFailed{WithdrawalID: id, Reason: "signing failed: timed out"}})
		return
	}
	var sigs []string
	for range inputs {
		sigs = append(sigs, t.hex(64))
	}
	t.queue = append(t.queue,
		item{audit.KindSessionEnded, audit.SessionEnded{SessionID: sid, Outcome: "signed", Signatures: sigs}},
		item{audit.KindWithdrawalSigned, audit.WithdrawalSigned{WithdrawalID: id, SessionID: sid, TxID: decided.TxID, Signatures: sigs}})
}
