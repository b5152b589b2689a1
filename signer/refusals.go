package signer

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Refusals are limited per client, so that no client can make a node
// write refusals to its log faster than a set rate: each refused request
// is logged (by its hash, its intent and the intent's signature: a bounded
// amount), each approval that does not count too. A client is the
// identity in its certificate (role and name). Each has a bucket of
// refusalBurst tokens, refilled by one every refusalEvery. A call that
// may be refused takes a token before anything is decided or written, and
// gives it back unless it was refused; a client whose bucket is empty is
// answered ResourceExhausted, with nothing decided or logged, until it
// refills. Requests that are invalid (InvalidArgument) write nothing and
// take no token.

// Limits of refusals, per client and node.
const (
	// refusalBurst is how many refusals a client may have in a row.
	refusalBurst = 20
	// refusalEvery is how often a client earns one more, up to
	// refusalBurst: 20 a minute sustained, so a client grows a node's
	// log by refusals at most by about 20 times a refusal's records
	// (a few KB each, 100 KB at worst) a minute.
	refusalEvery = 3 * time.Second
)

// errThrottled is a client refused too often: ResourceExhausted.
var errThrottled = errors.New("too many refusals")

// refusalLimiter holds a token bucket per client. Buckets that are full
// again are dropped, so it holds only clients refused recently; clients
// are the cluster CA's certificates, a set the cluster controls.
type refusalLimiter struct {
	mu      sync.Mutex
	buckets map[string]*refusalBucket
}

type refusalBucket struct {
	tokens int
	at     time.Time // when tokens was last refilled
}

// refill adds the tokens earned since b.at.
func (b *refusalBucket) refill(now time.Time) {
	if now.Before(b.at) { // the clock was stepped back
		b.at = now
	}
	if earned := int(now.Sub(b.at) / refusalEvery); earned > 0 {
		b.tokens = min(refusalBurst, b.tokens+earned)
		b.at = b.at.Add(time.Duration(earned) * refusalEvery)
	}
	if b.tokens == refusalBurst {
		b.at = now
	}
}

// reserve takes a token of client's bucket for a call that may be
// refused, or is errThrottled if there is none. The call then reports
// with settle whether it was refused: if not, the token is given back.
func (l *refusalLimiter) reserve(client string, now time.Time) (settle func(refused bool), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*refusalBucket{}
	}
	b := l.buckets[client]
	if b == nil {
		b = &refusalBucket{tokens: refusalBurst, at: now}
		l.buckets[client] = b
	}
	b.refill(now)
	if b.tokens == 0 {
		return nil, fmt.Errorf("%w: %s was refused %d times in a short while; it may be refused once more every %v",
			errThrottled, client, refusalBurst, refusalEvery)
	}
	b.tokens--
	return func(refused bool) {
		if refused {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if b.tokens = min(refusalBurst, b.tokens+1); b.tokens == refusalBurst && l.buckets[client] == b {
			delete(l.buckets, client)
		}
	}, nil
}
