package signer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"

	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/chains"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	switch req.Scheme {
	case pb.Scheme_SCHEME_UNSPECIFIED, pb.Scheme_SCHEME_ECDSA_SECP256K1:
	case pb.Scheme_SCHEME_EDDSA_ED25519:
		return status.Error(codes.Unimplemented, "scheme: EdDSA ed25519 wallets are not built yet; create an ECDSA secp256k1 wallet")
	default:
		return invalid("scheme %v: want SCHEME_ECDSA_SECP256K1", req.Scheme)
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

// DeriveAddress derives an address of a wallet locally, on any chain of
// its scheme.
func (n *Node) DeriveAddress(_ context.Context, req *pb.DeriveAddressRequest) (*pb.DeriveAddressResponse, error) {
	w, err := n.activeWallet(req.WalletId)
	if err != nil {
		return nil, err
	}
	c, ok := chains.Lookup(req.Chain)
	if !ok {
		return nil, invalid("chain %q: want one of %v", req.Chain, chains.Names())
	}
	if req.Index >= 1<<31 {
		return nil, invalid("index %d: non-hardened indexes are below 2^31", req.Index)
	}
	path := bip32.ReceivePath(req.Index)
	if req.Change {
		path = bip32.ChangePath(req.Index)
	}
	key := walletKey(w)
	if key.Scheme != c.Scheme() {
		return nil, invalid("wallet %s signs with %s; chain %s needs %s", w.ID, key.Scheme, c.Name(), c.Scheme())
	}
	addr, err := c.Address(key, req.Network, path)
	if err != nil {
		return nil, invalid("network %q of %s: %v", req.Network, c.Name(), err)
	}
	child, err := walletRoot(w).Derive(path)
	if err != nil {
		return nil, err
	}
	return &pb.DeriveAddressResponse{Address: addr, PublicKey: child.PublicKey[:], Path: path.String()}, nil
}

// walletKey is a wallet's root as the chain packages take it.
func walletKey(w *store.Wallet) chain.Key {
	return chain.Key{Scheme: w.SchemeOf(), PublicKey: w.PublicKey, ChainCode: [32]byte(w.ChainCode)}
}

// walletRoot is an ECDSA wallet's BIP32 root.
func walletRoot(w *store.Wallet) bip32.Key {
	return bip32.Key{PublicKey: [33]byte(w.PublicKey), ChainCode: [32]byte(w.ChainCode)}
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

func walletProto(w *store.Wallet) *pb.Wallet {
	fp := bip32.Fingerprint([33]byte(w.PublicKey))
	return &pb.Wallet{
		WalletId: w.ID, Label: w.Label, PublicKey: w.PublicKey, Threshold: uint32(w.Threshold), Nodes: w.Nodes,
		CreatedAt: timestamppb.New(w.CreatedAt), Fingerprint: hex.EncodeToString(fp[:]), ChainCode: w.ChainCode,
		Scheme: pb.Scheme_SCHEME_ECDSA_SECP256K1,
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
func (n *Node) WalletRoot(id string) (bip32.Key, error) {
	w, err := n.activeWallet(id)
	if err != nil {
		return bip32.Key{}, err
	}
	return walletRoot(w), nil
}
