package mpc

import (
	"context"
	"runtime"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// GeneratePreParams searches for a party's safe primes and Paillier key. It
// takes from a few seconds to about a minute and stops early when ctx ends.
// concurrency 0 means one worker per CPU.
func GeneratePreParams(ctx context.Context, concurrency int) (*PreParams, error) {
	if concurrency <= 0 {
		concurrency = runtime.NumCPU()
	}
	p, err := keygen.GeneratePreParamsWithContext(ctx, concurrency)
	if err != nil {
		return nil, err
	}
	return &PreParams{p: *p}, nil
}
