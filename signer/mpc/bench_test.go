package mpc

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// BenchmarkSign2of3/raw is the baseline for the transport's overhead: bare
// tss-lib signing of one digest by two of the fixture wallet's three
// parties, in one process, wire bytes handed over in memory the way
// tss-lib's own tests do. Package signer's BenchmarkSign2of3/grpc signs
// with the same shares through real nodes.
func BenchmarkSign2of3(b *testing.B) {
	shares, _ := loadWallet(b)
	members := []string{"node-1", "node-2"}
	digest := sha256.Sum256([]byte("benchmark"))
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			rawSign(b, shares, members, digest)
		}
	})
}

func rawSign(b *testing.B, shares map[string]*Share, members []string, digest [32]byte) {
	c, err := newCommittee(members[0], members)
	if err != nil {
		b.Fatal(err)
	}
	out := make(chan tss.Message, outBuffer)
	end := make(chan *common.SignatureData, len(members))
	parties := map[string]tss.Party{}
	for _, p := range c.ids {
		params := tss.NewParameters(tss.S256(), tss.NewPeerContext(c.ids), p, len(members), 1)
		var key keygen.LocalPartySaveData = *shares[p.Id].data()
		parties[p.Id] = signing.NewLocalParty(new(big.Int).SetBytes(digest[:]), params, key, out, end, 32)
	}
	var wg sync.WaitGroup
	for _, p := range parties {
		wg.Add(1)
		go func() { defer wg.Done(); p.Start() }()
	}
	wg.Wait()
	done := 0
	for done < len(members) {
		select {
		case m := <-out:
			wire, routing, err := m.WireBytes()
			if err != nil {
				b.Fatal(err)
			}
			for id, p := range parties {
				if id == routing.From.Id || (!routing.IsBroadcast && routing.To[0].Id != id) {
					continue
				}
				go func() {
					if _, err := p.UpdateFromBytes(wire, routing.From, routing.IsBroadcast); err != nil {
						b.Error(err)
					}
				}()
			}
		case <-end:
			done++
		}
	}
}

// BenchmarkSignDigests/raw-N signs N digests with bare tss-lib, N signings
// at once: the baseline for package signer's BenchmarkWithdrawal/inputs-N.
func BenchmarkSignDigests(b *testing.B) {
	shares, _ := loadWallet(b)
	members := []string{"node-1", "node-2"}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("raw-%d", n), func(b *testing.B) {
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() { defer wg.Done(); rawSign(b, shares, members, sha256.Sum256([]byte{byte(i)})) }()
				}
				wg.Wait()
			}
		})
	}
}
