package signer

import (
	"context"
	"sync"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/store"
)

// GetStatus reports the node's health and pool.
func (n *Node) GetStatus(ctx context.Context, _ *pb.GetStatusRequest) (*pb.GetStatusResponse, error) {
	ws, _ := n.store.Wallets()
	active := 0
	for _, w := range ws {
		if w.State == store.WalletActive {
			active++
		}
	}
	st := &pb.GetStatusResponse{NodeId: n.id, Version: Version, Pool: n.pool.status(), Wallets: uint32(active), ActiveSessions: uint32(n.sessions.active())}
	if callerOf(ctx).Role != "node" { // peers ask for the pool only; people see the peers too
		st.Peers = make([]*pb.PeerStatus, len(n.cfg.Peers))
		var wg sync.WaitGroup
		for i, p := range n.cfg.Peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ps := &pb.PeerStatus{NodeId: p.ID, Address: p.Address}
				c, err := n.peers[p.ID].nodeClient()
				if err == nil {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					_, err = c.GetStatus(cctx, &pb.GetStatusRequest{})
					cancel()
				}
				ps.Reachable = err == nil
				if err != nil {
					ps.Error = statusMessage(err)
				}
				st.Peers[i] = ps
			}()
		}
		wg.Wait()
	}
	return st, nil
}
