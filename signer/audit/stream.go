package audit

import (
	"crypto"
	"errors"
	"iter"
	"runtime"
	"sync"
)

// Limits of Stream's pipeline: how many records travel together, and how
// many batches may be in flight per worker. Memory is bounded by
// streamBatchSize * streamDepth * workers records, whatever the log's length.
const (
	streamBatchSize = 256
	streamDepth     = 4
)

// Pairs is a stored log as Stream reads it: it calls yield with every
// stored (key, value) pair in key order, from one consistent view, until
// yield returns false. value need only be valid during the call. It
// returns an error if the storage cannot be read; stopping early because
// yield returned false is not an error.
type Pairs func(yield func(key uint64, value []byte) bool) error

// Verified is a record that passed verification, with its record hash.
type Verified struct {
	*Record
	Hash [32]byte
}

// Head returns the verified record's seq and hash.
func (v *Verified) Head() Head { return Head{Seq: v.Seq, Hash: v.Hash} }

// ErrStorage wraps an error of the storage a log is read from, as opposed
// to a problem of the log itself.
var ErrStorage = errors.New("audit: reading the log")

// Stream verifies a stored log signed by pub exactly as a [Verifier] does,
// and yields each record that passed, in log order, with a nil error. At
// the first bad record it yields (nil, err), err being the *VerifyError a
// Verifier returns for the same input, and stops. An empty log yields
// ErrNoGenesis; a failure of the storage yields an error wrapping
// ErrStorage. The last record yielded without an error is the log's head.
//
// Stream reads the log and checks the hash chain in order on one
// goroutine, and checks signatures, the costly part, on workers goroutines
// (0 means GOMAXPROCS), then puts the results back in order: the first bad
// record is found exactly as in a sequential check. It holds at most a few
// thousand records at a time, so a log of any length is verified in
// bounded memory. Breaking out of the loop stops every goroutine it
// started before the loop statement ends.
func Stream(pub crypto.PublicKey, pairs Pairs, workers int) iter.Seq2[*Verified, error] {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return func(yield func(*Verified, error) bool) {
		p := &pipeline{
			pub:     pub,
			chain:   hashChain{pub: pub},
			stop:    make(chan struct{}),
			work:    make(chan *batch, workers*streamDepth),
			ordered: make(chan *batch, workers*streamDepth),
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() { defer wg.Done(); p.checkSignatures() }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.read(pairs) }()
		defer func() {
			close(p.stop)
			for range p.ordered { // let the reader finish a blocked send
			}
			wg.Wait()
		}()
		for b := range p.ordered {
			<-b.done
			for i := range b.items {
				it := &b.items[i]
				if it.err != nil {
					yield(nil, it.err)
					return
				}
				if !yield(&Verified{Record: it.rec, Hash: it.hash}, nil) {
					return
				}
			}
		}
	}
}

// batch is a run of consecutive records on their way through the
// pipeline.
type batch struct {
	items []streamItem
	done  chan struct{} // closed once every signature of the batch is checked
}

// streamItem is one record, or the error that ends the log.
type streamItem struct {
	rec  *Record
	hash [32]byte
	// err is the record's first failure. The reader sets it for steps 1
	// to 5, with rec nil, and for steps 7 and 8, with rec set; a worker
	// replaces the latter with a bad signature (step 6 comes first).
	err error
}

type pipeline struct {
	pub     crypto.PublicKey
	chain   hashChain
	stop    chan struct{} // closed when the consumer is gone
	work    chan *batch
	ordered chan *batch
}

// read is the pipeline's one reader: it runs every check but the
// signature, in order, and hands out batches. It stops at the first error.
func (p *pipeline) read(pairs Pairs) {
	defer close(p.ordered)
	defer close(p.work)
	b := &batch{items: make([]streamItem, 0, streamBatchSize), done: make(chan struct{})}
	send := func() bool {
		select {
		case p.ordered <- b:
		case <-p.stop:
			return false
		}
		select {
		case p.work <- b:
		case <-p.stop:
			close(b.done) // no worker will see it; the consumer is gone
			return false
		}
		b = &batch{items: make([]streamItem, 0, streamBatchSize), done: make(chan struct{})}
		return true
	}
	ended := false // an error ends the log
	n := 0
	err := pairs(func(key uint64, value []byte) bool {
		n++
		r, hash, err, post := p.chain.next(key, value)
		if err != nil {
			b.items = append(b.items, streamItem{err: err})
			ended = true
			return false
		}
		b.items = append(b.items, streamItem{rec: r, hash: hash, err: post})
		if post != nil {
			ended = true
			return false
		}
		if len(b.items) == streamBatchSize {
			return send()
		}
		return true
	})
	select {
	case <-p.stop:
		return
	default:
	}
	switch {
	case ended:
	case err != nil:
		b.items = append(b.items, streamItem{err: errors.Join(ErrStorage, err)})
	case n == 0:
		b.items = append(b.items, streamItem{err: &VerifyError{Seq: 0, Problem: "empty log", Err: ErrNoGenesis}})
	}
	if len(b.items) > 0 {
		send()
	}
}

// checkSignatures is a worker: it checks the signature of every record of
// the batches it takes.
func (p *pipeline) checkSignatures() {
	for b := range p.work {
		select {
		case <-p.stop: // the consumer is gone: nobody reads the results
			close(b.done)
			continue
		default:
		}
		for i := range b.items {
			it := &b.items[i]
			if it.rec == nil {
				continue
			}
			if err := checkSignature(p.pub, it.rec, it.hash); err != nil {
				it.err = err
			}
		}
		close(b.done)
	}
}
