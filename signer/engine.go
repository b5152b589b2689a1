package signer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/mpc"
	"github.com/countersign/countersign/signer/store"
)

// Signed is what a signing session produced: one signature per digest,
// each verified by every member against the digest and child key it
// derived itself.
type Signed struct {
	SessionID  string
	Items      []chain.SignItem
	Signatures [][64]byte
}

// Sign runs a signing session for req with a committee (sorted node ids,
// this node among them, at least the wallet's threshold). It is the
// internal signing engine: no RPC reaches it with a digest, because every
// member, this one included, derives the digests from req itself.
func (n *Node) Sign(ctx context.Context, walletID string, req *pb.SigningRequest, committee []string) (*Signed, error) {
	sid := make([]byte, sessionIDLen)
	rand.Read(sid)
	prep := &pb.PrepareRequest{
		SessionId: sid, Committee: committee, TimeoutMs: uint32(n.timeouts.signing.Milliseconds()),
		Params: &pb.PrepareRequest_Signing{Signing: &pb.SigningParams{WalletId: walletID, Request: req}},
	}
	outcomes, local, err := n.coordinate(ctx, prep, nil)
	if err != nil {
		return nil, err
	}
	mine := outcomes[n.id].GetSigning()
	for id, o := range outcomes {
		s := o.GetSigning()
		if s == nil || !slices.EqualFunc(s.Signatures, mine.Signatures, slices.Equal) {
			return nil, fmt.Errorf("%w: %s finished with other signatures", errAborted, id)
		}
	}
	out := &Signed{SessionID: local.key(), Items: local.items}
	for _, s := range mine.Signatures {
		out.Signatures = append(out.Signatures, [64]byte(s))
	}
	return out, nil
}

// prepareSigning is a member's own check of a signing proposal: the wallet,
// the committee, and the digests, derived here from the request.
func (n *Node) prepareSigning(s *session, p *pb.SigningParams) error {
	w, err := n.activeWallet(p.WalletId)
	if err != nil {
		return err
	}
	for _, m := range s.members {
		if !slices.Contains(w.Nodes, m) {
			return invalid("committee member %s holds no share of %s", m, w.ID)
		}
	}
	if len(s.members) < w.Threshold {
		return invalid("committee of %d; wallet %s needs %d signers", len(s.members), w.ID, w.Threshold)
	}
	items, withdrawalID, err := n.requestItems(w, p.Request, s.coordinator)
	if err != nil {
		return err
	}
	s.items = items
	sealed, err := n.store.SealedShare(w.ID)
	if err != nil {
		return err
	}
	plain, err := n.sealer.Unseal(shareLabel(w.ID), sealed)
	if err != nil {
		return err
	}
	share, err := mpc.ParseShare(plain)
	if err != nil {
		return err
	}
	digests, err := mpcDigests(items)
	if err != nil {
		return err
	}
	sg, err := mpc.NewSigning(n.id, s.members, share, w.Threshold, digests)
	if err != nil {
		return err
	}
	for i, it := range items {
		if child := sg.ChildKey(i); !bytes.Equal(child[:], it.PublicKey) {
			return fmt.Errorf("signer: tss-lib derived another child key than BIP32 for %s", it.Path)
		}
	}
	s.purpose = purposeOf(p.Request)
	if withdrawalID != "" {
		s.purpose = "withdrawal " + withdrawalID
	}
	s.proto = sg
	s.finished = func() bool { return sg.Result() != nil }
	s.conclude = func() (*pb.RunResponse, error) {
		sigs := sg.Result()
		n.audit(sessionEndedEvent(s, "signed", sigs))
		if withdrawalID != "" {
			n.memberSigned(withdrawalID, s.key(), sigs)
		}
		out := &pb.SigningOutcome{}
		for _, sig := range sigs {
			out.Signatures = append(out.Signatures, sig[:])
		}
		return &pb.RunResponse{Outcome: &pb.RunResponse_Signing{Signing: out}}, nil
	}
	return nil
}

func purposeOf(req *pb.SigningRequest) string {
	switch req.GetKind().(type) {
	case *pb.SigningRequest_SelfTest:
		return "self-test"
	case *pb.SigningRequest_Withdrawal:
		return "withdrawal"
	}
	return "unknown"
}

// signingItems derives what a signing request signs. Every member runs it
// on the request; no digest ever travels.
func signingItems(walletID string, root bip32.Key, req *pb.SigningRequest) ([]chain.SignItem, error) {
	switch k := req.GetKind().(type) {
	case *pb.SigningRequest_SelfTest:
		if len(k.SelfTest.Challenge) != 32 {
			return nil, invalid("self_test.challenge must be 32 bytes")
		}
		child, err := root.Derive(bip32.Path(k.SelfTest.Path))
		if err != nil {
			return nil, err
		}
		digest := selfTestDigest(walletID, child.Path, k.SelfTest.Challenge)
		return []chain.SignItem{{Message: digest[:], Path: child.Path, Tweak: child.Tweak, PublicKey: child.PublicKey[:]}}, nil
	default:
		return nil, invalid("request: unknown kind")
	}
}

// requestItems derives what a signing request signs, on this node.
func (n *Node) requestItems(w *store.Wallet, req *pb.SigningRequest, coordinator string) ([]chain.SignItem, string, error) {
	if wr := req.GetWithdrawal(); wr != nil {
		return n.withdrawalItems(w, wr, coordinator)
	}
	d, err := signingItems(w.ID, walletRoot(w), req)
	return d, "", err
}

// mpcDigests are the items as tss-lib's ECDSA signing takes them: 32-byte
// digests and the tweaks to their child keys.
func mpcDigests(items []chain.SignItem) ([]mpc.Digest, error) {
	out := make([]mpc.Digest, len(items))
	for i, it := range items {
		if len(it.Message) != 32 {
			return nil, fmt.Errorf("signer: item %d is a %d-byte message; ECDSA signs 32-byte digests", i, len(it.Message))
		}
		out[i] = mpc.Digest{Hash: [32]byte(it.Message), Tweak: it.Tweak}
	}
	return out, nil
}

// selfTestDigest is SHA-256 of a domain-separated statement longer than 32
// bytes: it can never equal a Bitcoin signature hash, which is SHA-256 of a
// 32-byte value.
func selfTestDigest(walletID string, path bip32.Path, challenge []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("countersign/self-test/v1\x00" + walletID + "\x00" + path.String() + "\x00"))
	h.Write(challenge)
	return [32]byte(h.Sum(nil))
}
