package signer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/countersign/countersign/policy/bitcoin"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const maxLabel = 64

// CreateWallet coordinates a key generation across every node: wait until
// every node has pre-parameters, prepare the session everywhere, run it,
// compare the results, and commit the wallet on every node (or discard it
// on every node).
func (n *Node) CreateWallet(req *pb.CreateWalletRequest, stream pb.WalletService_CreateWalletServer) error {
	ctx := stream.Context()
	if err := checkLabel(req.Label); err != nil {
		return err
	}
	progress := func(stage pb.Stage, msg string, pools []*pb.PoolStatus) error {
		return stream.Send(&pb.CreateWalletResponse{Event: &pb.CreateWalletResponse_Progress{Progress: &pb.Progress{Stage: stage, Message: msg, Pools: pools}}})
	}
	w, err := n.createWallet(ctx, req.Label, progress)
	if err != nil {
		return err
	}
	return stream.Send(&pb.CreateWalletResponse{Event: &pb.CreateWalletResponse_Wallet{Wallet: walletProto(w)}})
}

type progressFunc func(stage pb.Stage, msg string, pools []*pb.PoolStatus) error

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

// coordinate prepares a session on every member (this node included), runs
// it everywhere, and returns every member's outcome. Any refusal or abort is
// an error naming the member and its reason.
func (n *Node) coordinate(ctx context.Context, req *pb.PrepareRequest, running func() error) (map[string]*pb.RunResponse, *session, error) {
	local, err := n.prepare(n.id, req)
	if err != nil {
		return nil, nil, err
	}
	if err := n.sessions.add(local); err != nil {
		return nil, nil, err
	}
	var remotes []string
	for _, m := range req.Committee {
		if m != n.id {
			remotes = append(remotes, m)
		}
	}
	var refusedMu sync.Mutex
	var refusers []string
	if err := fanOut(remotes, func(id string) error {
		c, err := n.peer(id)
		if err == nil {
			_, err = c.Prepare(ctx, req)
		}
		if err != nil {
			refusedMu.Lock()
			refusers = append(refusers, id)
			refusedMu.Unlock()
			return fmt.Errorf("%s refused the session: %s", id, statusMessage(err))
		}
		return nil
	}); err != nil {
		local.cancel(err.Error())
		n.abortRemotes(remotes, req.SessionId, err.Error())
		slices.Sort(refusers)
		return nil, nil, &sessionError{err: fmt.Errorf("%w: %v", errRefused, err), suspects: refusers}
	}
	if running != nil {
		if err := running(); err != nil {
			return nil, nil, err
		}
	}
	var mu sync.Mutex
	outcomes := map[string]*pb.RunResponse{}
	runErr := fanOut(req.Committee, func(id string) error {
		var out *pb.RunResponse
		if id == n.id {
			out = local.run(ctx)
		} else {
			c, err := n.peer(id)
			if err == nil {
				out, err = c.Run(ctx, &pb.RunRequest{SessionId: req.SessionId})
			}
			if err != nil {
				return fmt.Errorf("%s: %v", id, err)
			}
		}
		mu.Lock()
		outcomes[id] = out
		mu.Unlock()
		if a := out.GetAborted(); a != nil {
			return fmt.Errorf("%s: %s", id, a.Reason)
		}
		return nil
	})
	if runErr != nil {
		return outcomes, local, &sessionError{
			err:      fmt.Errorf("%w: %v%s", errAborted, runErr, culpritSuffix(outcomes)),
			suspects: suspects(req.Committee, n.id, outcomes),
		}
	}
	return outcomes, local, nil
}

// sessionError is a session that did not finish, with the members to
// leave out of the next attempt: those named as culprits, and those that
// gave no outcome at all.
type sessionError struct {
	err      error
	suspects []string
}

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

func suspects(committee []string, self string, outcomes map[string]*pb.RunResponse) []string {
	var out []string
	for _, m := range committee {
		if _, ok := outcomes[m]; !ok && m != self {
			out = append(out, m)
		}
	}
	for _, o := range outcomes {
		if a := o.GetAborted(); a != nil {
			out = append(out, a.Culprits...)
		}
	}
	slices.Sort(out)
	return slices.Compact(slices.DeleteFunc(out, func(m string) bool { return m == self }))
}

// abortRemotes tells prepared members that a session will not run.
func (n *Node) abortRemotes(remotes []string, sid []byte, reason string) {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	_ = fanOut(remotes, func(id string) error {
		return n.deliverTo(ctx, id, &pb.DeliverRequest{SessionId: sid, Body: &pb.DeliverRequest_Abort{Abort: &pb.Aborted{Reason: "coordinator abandoned the session: " + reason}}})
	})
}

func culpritSuffix(outcomes map[string]*pb.RunResponse) string {
	var cs []string
	for _, o := range outcomes {
		if a := o.GetAborted(); a != nil {
			cs = append(cs, a.Culprits...)
		}
	}
	slices.Sort(cs)
	cs = slices.Compact(cs)
	if len(cs) == 0 {
		return ""
	}
	return " (culprits: " + strings.Join(cs, ", ") + ")"
}

// fanOut calls fn for every id concurrently and returns the errors joined.
func fanOut(ids []string, fn func(id string) error) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(id) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// commitEverywhere activates (or discards) a key generation's wallet on
// every member, this node first. A member that cannot be reached keeps its
// pending share and asks this node on restart (recoverPending).
func (n *Node) commitEverywhere(members []string, sid []byte, commit bool) error {
	if err := n.commit(sid, commit); err != nil && commit {
		return err
	}
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	return fanOut(slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == n.id }), func(id string) error {
		c, err := n.peer(id)
		if err == nil {
			_, err = c.Commit(ctx, &pb.CommitRequest{SessionId: sid, Commit: commit})
		}
		if err != nil && commit {
			return fmt.Errorf("%w: committing on %s: %v (it will ask again when it restarts)", errUnavailable, id, err)
		}
		return nil
	})
}

// Commit is the coordinator's decision on a key generation.
func (n *Node) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	s := n.sessions.get(req.SessionId)
	if s != nil && callerOf(ctx).Name != s.coordinator {
		return nil, fmt.Errorf("%w: only the coordinator commits", errPermission)
	}
	return &pb.CommitResponse{}, n.commit(req.SessionId, req.Commit)
}

func (n *Node) commit(sid []byte, commit bool) error {
	s := n.sessions.get(sid)
	if s == nil || s.kind != "keygen" {
		return fmt.Errorf("%w: no key generation session %x", errNotFound, sid)
	}
	if !commit {
		s.cancel("the coordinator discarded the key generation")
	}
	<-s.done
	w, err := n.store.Wallet(s.walletID)
	if errors.Is(err, store.ErrNotFound) {
		if commit {
			return fmt.Errorf("%w: this node has no share of %s", errRefused, s.walletID)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return n.settleWallet(w, commit, "discarded by the coordinator")
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

// GetWallet returns one active wallet.
func (n *Node) GetWallet(_ context.Context, req *pb.GetWalletRequest) (*pb.GetWalletResponse, error) {
	w, err := n.activeWallet(req.WalletId)
	if err != nil {
		return nil, err
	}
	return &pb.GetWalletResponse{Wallet: walletProto(w)}, nil
}

// ListWallets returns the active wallets.
func (n *Node) ListWallets(context.Context, *pb.ListWalletsRequest) (*pb.ListWalletsResponse, error) {
	ws, err := n.store.Wallets()
	if err != nil {
		return nil, err
	}
	out := &pb.ListWalletsResponse{}
	for _, w := range ws {
		if w.State == store.WalletActive {
			out.Wallets = append(out.Wallets, walletProto(w))
		}
	}
	return out, nil
}

// DeriveAddress derives a P2WPKH address of a wallet locally.
func (n *Node) DeriveAddress(_ context.Context, req *pb.DeriveAddressRequest) (*pb.DeriveAddressResponse, error) {
	w, err := n.activeWallet(req.WalletId)
	if err != nil {
		return nil, err
	}
	network, ok := networks[req.Network]
	if !ok {
		return nil, invalid("network: want one of mainnet, testnet, signet, regtest")
	}
	if req.Index >= 1<<31 {
		return nil, invalid("index %d: non-hardened indexes are below 2^31", req.Index)
	}
	path := bitcoin.ReceivePath(req.Index)
	if req.Change {
		path = bitcoin.ChangePath(req.Index)
	}
	child, err := walletKey(w).Derive(path)
	if err != nil {
		return nil, err
	}
	addr, err := bitcoin.P2WPKHAddress(child.PublicKey, network)
	if err != nil {
		return nil, err
	}
	return &pb.DeriveAddressResponse{Address: addr, PublicKey: child.PublicKey[:], Path: path.String()}, nil
}

var networks = map[pb.Network]bitcoin.Network{
	pb.Network_NETWORK_BITCOIN_MAINNET: "mainnet",
	pb.Network_NETWORK_BITCOIN_TESTNET: "testnet",
	pb.Network_NETWORK_BITCOIN_SIGNET:  "signet",
	pb.Network_NETWORK_BITCOIN_REGTEST: "regtest",
}

func walletKey(w *store.Wallet) bitcoin.Key {
	return bitcoin.Key{PublicKey: [33]byte(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}
}

func (n *Node) activeWallet(id string) (*store.Wallet, error) {
	if !validWalletID(id) {
		return nil, invalid("wallet_id %q: want w- and 16 hex digits", id)
	}
	w, err := n.store.Wallet(id)
	if err != nil {
		return nil, err
	}
	if w.State != store.WalletActive {
		return nil, fmt.Errorf("%w: wallet %s is %s", errNotFound, id, w.State)
	}
	return w, nil
}

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

func walletProto(w *store.Wallet) *pb.Wallet {
	fp := bitcoin.Fingerprint([33]byte(w.PublicKey))
	return &pb.Wallet{
		WalletId: w.ID, Label: w.Label, PublicKey: w.PublicKey, Threshold: uint32(w.Threshold), Nodes: w.Nodes,
		CreatedAt: timestamppb.New(w.CreatedAt), Fingerprint: hex.EncodeToString(fp[:]), ChainCode: w.ChainCode,
	}
}

func checkLabel(l string) error {
	if len(l) > maxLabel {
		return invalid("label is %d bytes, limit %d", len(l), maxLabel)
	}
	for _, r := range l {
		if !unicode.IsPrint(r) {
			return invalid("label has a non-printable character")
		}
	}
	return nil
}

func validWalletID(id string) bool {
	h, ok := strings.CutPrefix(id, "w-")
	if !ok || len(h) != 16 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// WalletRoot is an active wallet's group key and chain code: what every
// deposit address derives from. Public, but not served by any RPC.
func (n *Node) WalletRoot(id string) (bitcoin.Key, error) {
	w, err := n.activeWallet(id)
	if err != nil {
		return bitcoin.Key{}, err
	}
	return walletKey(w), nil
}
