package signer

import (
	"context"
	"sync"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/mpc"
)

const preParamsLabel = "preparams"

// pool keeps a node's sealed pre-parameters topped up in the background:
// each key generation uses one set, and a set takes tens of seconds.
type pool struct {
	n           *Node
	target      int
	concurrency int
	wake        chan struct{}

	mu       sync.Mutex
	genStart time.Time // zero when idle
	lastTook time.Duration
}

func newPool(n *Node, c PoolConfig) *pool {
	return &pool{n: n, target: c.Target, concurrency: c.Concurrency, wake: make(chan struct{}, 1)}
}

func (p *pool) fill(ctx context.Context) {
	for {
		ready := p.n.store.CountPreParams()
		p.n.metrics.poolReady.Set(float64(ready))
		if ready >= p.target {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
				continue
			}
		}
		p.mu.Lock()
		p.genStart = time.Now()
		p.mu.Unlock()
		p.n.metrics.poolGenerating.Set(1)
		p.n.log.Info("generating pre-parameters", "ready", ready, "target", p.target)
		pre, err := mpc.GeneratePreParams(ctx, p.concurrency)
		p.n.metrics.poolGenerating.Set(0)
		p.mu.Lock()
		took := time.Since(p.genStart)
		p.genStart = time.Time{}
		p.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.n.log.Error("generating pre-parameters", "err", err)
			time.Sleep(time.Second)
			continue
		}
		if err := p.put(pre); err != nil {
			p.n.log.Error("storing pre-parameters", "err", err)
			continue
		}
		p.mu.Lock()
		p.lastTook = took
		p.mu.Unlock()
		p.n.metrics.poolGenerated.Inc()
		p.n.metrics.poolSeconds.Observe(took.Seconds())
		p.n.log.Info("pre-parameters ready", "took", took.Round(time.Second))
	}
}

// put seals and stores one set.
func (p *pool) put(pre *mpc.PreParams) error {
	sealed, err := p.n.sealer.Seal(preParamsLabel, pre.Bytes())
	if err != nil {
		return err
	}
	return p.n.store.PushPreParams(sealed)
}

// take removes one set from the pool for a key generation.
func (p *pool) take() (*mpc.PreParams, error) {
	sealed, err := p.n.store.PopPreParams()
	if err != nil {
		return nil, err
	}
	defer p.kick()
	plain, err := p.n.sealer.Unseal(preParamsLabel, sealed)
	if err != nil {
		return nil, err
	}
	return mpc.ParsePreParams(plain)
}

func (p *pool) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pool) status() *pb.PoolStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &pb.PoolStatus{NodeId: p.n.id, Ready: uint32(p.n.store.CountPreParams()), Target: uint32(p.target), LastSeconds: uint32(p.lastTook.Seconds())}
	if !p.genStart.IsZero() {
		st.Generating = true
		st.GeneratingSeconds = uint32(time.Since(p.genStart).Seconds())
	}
	return st
}

// AddPreParams seals plaintext pre-parameters into the pool: for importing
// sets generated elsewhere, and for tests, which must not wait for safe
// primes.
func (n *Node) AddPreParams(plaintext []byte) error {
	pre, err := mpc.ParsePreParams(plaintext)
	if err != nil {
		return err
	}
	return n.pool.put(pre)
}
