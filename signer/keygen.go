package signer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/countersign/countersign/signer/store"
)

// Wallets are made by a distributed key generation across every node:
// waiting for pre-parameters, the session, committing the new wallet on
// every node, and recovering a generation a restart interrupted.

func (n *Node) createWallet(ctx context.Context, label string, progress progressFunc) (*store.Wallet, error) {
	members := n.cfg.Members()
	if err := n.waitForPreParams(ctx, members, progress); err != nil {
		return nil, err
	}
	walletID := "w-" + randomHex(8)
	sid := make([]byte, sessionIDLen)
	rand.Read(sid)
	req := &pb.PrepareRequest{
		SessionId: sid, Committee: members, TimeoutMs: uint32(n.timeouts.keygen.Milliseconds()),
		Params: &pb.PrepareRequest_Keygen{Keygen: &pb.KeygenParams{WalletId: walletID, Label: label, Threshold: uint32(n.cfg.Cluster.Threshold)}},
	}
	if err := progress(pb.Stage_STAGE_PREPARING, fmt.Sprintf("preparing key generation session %x on %d nodes", sid[:6], len(members)), nil); err != nil {
		return nil, err
	}
	outcomes, _, err := n.coordinate(ctx, req, func() error {
		return progress(pb.Stage_STAGE_RUNNING, "running distributed key generation", nil)
	})
	if err != nil {
		n.commitEverywhere(members, sid, false)
		return nil, err
	}
	first := outcomes[n.id].GetKeygen()
	for id, o := range outcomes {
		k := o.GetKeygen()
		if k == nil || !slices.Equal(k.PublicKey, first.PublicKey) || !slices.Equal(k.ChainCodeHash, first.ChainCodeHash) {
			n.commitEverywhere(members, sid, false)
			return nil, fmt.Errorf("%w: %s finished with a different key or chain code", errAborted, id)
		}
	}
	if err := progress(pb.Stage_STAGE_COMMITTING, "committing the wallet on every node", nil); err != nil {
		return nil, err
	}
	if err := n.commitEverywhere(members, sid, true); err != nil {
		return nil, err
	}
	return n.store.Wallet(walletID)
}

// settleWallet moves a pending wallet to active or discarded.
func (n *Node) settleWallet(w *store.Wallet, commit bool, why string) error {
	switch {
	case commit && w.State == store.WalletActive, !commit && w.State == store.WalletDiscarded:
		return nil
	case commit:
		return n.store.SetWalletState(w.ID, store.WalletPending, store.WalletActive, storeEvent(audit.KindWalletCreated, walletCreatedBody(w)))
	default:
		return n.store.SetWalletState(w.ID, store.WalletPending, store.WalletDiscarded, storeEvent(audit.KindWalletDiscarded, &audit.WalletDiscarded{WalletID: w.ID, Reason: why}))
	}
}

func walletCreatedBody(w *store.Wallet) *audit.WalletCreated {
	cch := mpc.ChainCodeHash([32]byte(w.ChainCode))
	return &audit.WalletCreated{
		WalletID: w.ID, Label: w.Label, PublicKey: hex.EncodeToString(w.PublicKey), Threshold: w.Threshold,
		Nodes: w.Nodes, SessionID: hex.EncodeToString(w.SessionID), ChainCodeHash: hex.EncodeToString(cch[:]),
	}
}

// prepareKeygen is a member's own check of a key generation proposal.
func (n *Node) prepareKeygen(s *session, p *pb.KeygenParams) error {
	if !validWalletID(p.WalletId) {
		return invalid("wallet_id %q: want w- and 16 hex digits", p.WalletId)
	}
	if err := checkLabel(p.Label); err != nil {
		return err
	}
	if !slices.Equal(s.members, n.cfg.Members()) {
		return invalid("a key generation needs every node of the cluster: %s", strings.Join(n.cfg.Members(), ", "))
	}
	if int(p.Threshold) != n.cfg.Cluster.Threshold {
		return fmt.Errorf("%w: threshold %d, this cluster signs with %d", errRefused, p.Threshold, n.cfg.Cluster.Threshold)
	}
	if _, err := n.store.Wallet(p.WalletId); err == nil {
		return fmt.Errorf("%w: wallet %s exists", errRefused, p.WalletId)
	}
	pre, err := n.pool.take()
	if errors.Is(err, store.ErrEmpty) {
		return fmt.Errorf("%w: no pre-parameters ready on %s", errRefused, n.id)
	}
	if err != nil {
		return err
	}
	kg, err := mpc.NewKeygen(s.id, n.id, s.members, int(p.Threshold), pre)
	if err != nil {
		return err
	}
	s.purpose = "create wallet " + p.WalletId
	s.proto = kg
	s.finished = func() bool { return kg.Result() != nil }
	s.conclude = func() (*pb.RunResponse, error) {
		r := kg.Result()
		sealed, err := n.sealer.Seal(shareLabel(p.WalletId), r.Share.Bytes())
		if err != nil {
			return nil, err
		}
		w := &store.Wallet{
			ID: p.WalletId, Label: p.Label, PublicKey: r.PublicKey[:], ChainCode: r.ChainCode[:], Threshold: int(p.Threshold),
			Nodes: s.members, State: store.WalletPending, SessionID: s.id, Coordinator: s.coordinator, CreatedAt: n.now().UTC(),
		}
		if err := n.store.PutPendingWallet(w, sealed, sessionEndedEvent(s, "key generated, awaiting commit", nil)); err != nil {
			return nil, err
		}
		cch := mpc.ChainCodeHash(r.ChainCode)
		return &pb.RunResponse{Outcome: &pb.RunResponse_Keygen{Keygen: &pb.KeygenOutcome{PublicKey: r.PublicKey[:], ChainCodeHash: cch[:]}}}, nil
	}
	return nil
}

func shareLabel(walletID string) string { return "share/" + walletID }

// waitForPreParams blocks until every member has a pre-parameter set ready,
// reporting the pools every few seconds.
func (n *Node) waitForPreParams(ctx context.Context, members []string, progress progressFunc) error {
	for {
		pools := n.pools(ctx, members)
		var short []string
		for _, p := range pools {
			if p.Ready == 0 {
				short = append(short, p.NodeId)
			}
		}
		if len(short) == 0 {
			return nil
		}
		if err := progress(pb.Stage_STAGE_WAITING_FOR_PREPARAMS, "waiting for pre-parameters on "+strings.Join(short, ", "), pools); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (n *Node) pools(ctx context.Context, members []string) []*pb.PoolStatus {
	out := make([]*pb.PoolStatus, len(members))
	_ = fanOut(members, func(id string) error {
		i := slices.Index(members, id)
		if id == n.id {
			out[i] = n.pool.status()
			return nil
		}
		out[i] = &pb.PoolStatus{NodeId: id}
		c, err := n.peers[id].nodeClient()
		if err != nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if st, err := c.GetStatus(cctx, &pb.GetStatusRequest{}); err == nil && st.Pool != nil {
			out[i] = st.Pool
		}
		return nil
	})
	return out
}

// GetWalletState answers a peer asking whether a key generation committed.
func (n *Node) GetWalletState(_ context.Context, req *pb.GetWalletStateRequest) (*pb.GetWalletStateResponse, error) {
	w, err := n.store.Wallet(req.WalletId)
	if errors.Is(err, store.ErrNotFound) {
		return &pb.GetWalletStateResponse{State: pb.WalletState_WALLET_STATE_UNKNOWN}, nil
	}
	if err != nil {
		return nil, err
	}
	return &pb.GetWalletStateResponse{State: map[store.WalletState]pb.WalletState{
		store.WalletPending: pb.WalletState_WALLET_STATE_PENDING, store.WalletActive: pb.WalletState_WALLET_STATE_ACTIVE,
		store.WalletDiscarded: pb.WalletState_WALLET_STATE_DISCARDED,
	}[w.State]}, nil
}

// recoverPending settles wallets left pending by a restart: the
// coordinator's state decides.
func (n *Node) recoverPending() {
	ws, err := n.store.Wallets()
	if err != nil {
		n.log.Error("listing wallets", "err", err)
		return
	}
	for _, w := range ws {
		if w.State != store.WalletPending {
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			for attempt := 0; n.ctx.Err() == nil; attempt++ {
				if n.recoverOne(w) {
					return
				}
				select {
				case <-n.ctx.Done():
				case <-time.After(min(time.Duration(attempt+1)*2*time.Second, time.Minute)):
				}
			}
		}()
	}
}

func (n *Node) recoverOne(w *store.Wallet) bool {
	if w.Coordinator == n.id {
		// this node was the coordinator and never committed: nobody else did
		return n.settleWallet(w, false, "coordinator restarted before committing") == nil
	}
	c, err := n.peer(w.Coordinator)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	st, err := c.GetWalletState(ctx, &pb.GetWalletStateRequest{WalletId: w.ID})
	if err != nil {
		n.log.Info("pending wallet: coordinator not reachable yet", "wallet", w.ID, "coordinator", w.Coordinator)
		return false
	}
	switch st.State {
	case pb.WalletState_WALLET_STATE_ACTIVE:
		return n.settleWallet(w, true, "") == nil
	case pb.WalletState_WALLET_STATE_PENDING:
		return false
	default:
		return n.settleWallet(w, false, "the coordinator has no committed wallet") == nil
	}
}
