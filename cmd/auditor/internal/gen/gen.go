// Package gen writes large, realistic audit logs for measurements and
// tests: the log a busy coordinator node would keep, which passes both
// 'auditor verify' and 'auditor replay' with no finding.
//
// Everything replay re-derives is real: policy bundles (format 2) signed
// by the policytest officers (alice, bob and carol), a Bitcoin wallet
// whose root key is a throwaway secp256k1 key, intents (version 2
// canonical bytes) signed by the policytest ledger, PSBTs built by
// bitcoin.BuildWithdrawal over made-up previous transactions, decisions
// made by policy.Bundle.Decide with the wallet's velocity as a node
// counts it and recorded by audit.Decided as the node records them,
// approval statements signed by officers, and ECDSA signatures by the
// inputs' child private keys over the re-derived digests. Peer heads, session ids and refused calls are
// made up. The node's certificate comes from a throwaway cluster CA
// returned with the log, and the wallet's root (public key and chain
// code) is returned for 'auditor replay -wallets'. Nothing here is a
// real key or a real transaction: anyone can rebuild the keys from the
// seed, and the logs are for measurement and tests only.
//
// The traffic: after the genesis record, a first bundle, the wallet's key
// generation and a second bundle that adds the wallet's rules
// (allowlist, caps, an approval tier, the ledger as originator), then
// withdrawals of 1 to 3 inputs arriving at random, most signed at once in
// a session with the peer's head recorded, some refused (off the
// allowlist, over the per-withdrawal cap, over the 24-hour or 7-day cap
// as the windows roll), some waiting hours for officers' approvals (a few
// of which do not count, and a few rejections), a few aborted sessions
// and refused calls. A third bundle halfway raises the caps and extends
// the allowlist.
//
// How it is made: a planner walks the traffic in time order on one
// goroutine and decides what each withdrawal will be, with the velocity
// the node would see; each withdrawal's cryptography (PSBT, intent
// signature, decision, approvals, signatures) runs on a worker pool, and
// the decision is checked against the planner's. The hash chain is built
// in record order on one goroutine (a record's hash does not cover its
// signature); records are signed on the same pool and written in order.
package gen

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy/bitcoin"
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
	Days    int       // how many days the log spans, about; 0 means 30
	Seed    uint64    // the same seed gives the same traffic and keys (not the same node signatures)
	Workers int       // signing goroutines; 0 means GOMAXPROCS
	Node    string    // the node id; "" means node-1
	// Progress, if not nil, is called now and then with the records written.
	Progress func(written uint64)
}

// Stats is what was generated.
type Stats struct {
	Kinds       map[audit.Kind]uint64
	Withdrawals uint64            // withdrawal.received records
	Refused     map[string]uint64 // refused decisions, by rule
	Approvals   uint64            // withdrawals that waited for approvals
	Head        audit.Head
	CAPEM       []byte // the throwaway CA that issued the node's certificate
	// Wallets are the wallets' roots, as 'auditor replay -wallets' reads
	// them (see WalletsJSON).
	Wallets map[string]bitcoin.Key
}

// WalletsJSON returns Wallets as an 'auditor replay -wallets' file:
// {"w-…": {"public_key": hex, "chain_code": hex}}.
func (s *Stats) WalletsJSON() []byte {
	type key struct {
		PublicKey string `json:"public_key"`
		ChainCode string `json:"chain_code"`
	}
	out := map[string]key{}
	for id, k := range s.Wallets {
		out[id] = key{fmt.Sprintf("%x", k.PublicKey), fmt.Sprintf("%x", k.ChainCode)}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return append(b, '\n')
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
	o.Start = o.Start.UTC()
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
	st := &Stats{Kinds: map[audit.Kind]uint64{}, Refused: map[string]uint64{}, CAPEM: ca.CertPEM(), Wallets: map[string]bitcoin.Key{}}
	t, err := newTraffic(o, cert.Raw, st)
	if err != nil {
		return nil, err
	}
	w, err := store.CreateAuditLog(path)
	if err != nil {
		return nil, err
	}
	if err := write(w, o, t, key, st); err != nil {
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

// write runs the pipeline: the planner (t.run) sends records in order,
// and withdrawals' cryptography to the pool; the chain builder hashes the
// records in order and sends batches to the pool to be signed; this
// goroutine writes them in order.
func write(w *store.AuditWriter, o Options, t *traffic, key crypto.Signer, st *Stats) error {
	jobs := make(chan func(), 8*o.Workers)
	var pool sync.WaitGroup
	for range o.Workers {
		pool.Add(1)
		go func() {
			defer pool.Done()
			for job := range jobs {
				job()
			}
		}()
	}
	var stop atomic.Bool
	t.stop, t.jobs = &stop, jobs
	items := make(chan item, 4*batchSize)
	planErr := make(chan error, 1)
	go func() {
		defer close(items)
		planErr <- t.run(items)
	}()
	ordered := make(chan *batch, o.Workers*2)
	var chainErr error
	var senders sync.WaitGroup
	senders.Add(1)
	go func() { // the chain builder: records in order, unsigned
		defer senders.Done()
		defer close(ordered)
		var prev [32]byte
		var seq uint64
		b := &batch{done: make(chan error, 1)}
		flush := func() {
			if len(b.recs) == 0 {
				return
			}
			ordered <- b
			sign := b
			jobs <- func() {
				var err error
				for _, r := range sign.recs {
					h := r.Hash()
					if r.Sig, err = key.Sign(rand.Reader, h[:], crypto.SHA256); err != nil {
						break
					}
				}
				sign.done <- err
			}
			b = &batch{done: make(chan error, 1)}
		}
		for it := range items {
			if chainErr != nil {
				continue // drain: the planner stops soon
			}
			body, err := it.bytes()
			if err != nil {
				chainErr = err
				stop.Store(true)
				continue
			}
			r := &audit.Record{Seq: seq, Time: it.at, Kind: it.kind, Body: body, Prev: prev}
			prev = r.Hash()
			st.Kinds[it.kind]++
			st.Head = audit.Head{Seq: seq, Hash: prev}
			seq++
			b.recs = append(b.recs, r)
			if len(b.recs) == batchSize {
				flush()
			}
		}
		flush()
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
		if err != nil {
			stop.Store(true)
		}
		written += uint64(len(b.recs))
		if o.Progress != nil && written%(100*batchSize) < batchSize {
			o.Progress(written)
		}
	}
	senders.Wait()
	close(jobs)
	pool.Wait()
	if perr := <-planErr; err == nil {
		err = perr
	}
	if err == nil {
		err = chainErr
	}
	if err == nil && written != o.Records {
		err = fmt.Errorf("gen: wrote %d records of %d", written, o.Records)
	}
	return err
}
