package signer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/store"
)

// Coordinating a session: proposing it to a committee, running it,
// blaming who failed it, and committing or discarding its result
// everywhere. Key generation and signing both run through it.

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
