package signer

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// selfTest runs the internal signing engine from coordinator with
// committee and checks the signature with btcec against the address key
// every node derives.
func (c *testCluster) selfTest(t *testing.T, coordinator, walletID string, committee []string, path []uint32) {
	t.Helper()
	challenge := make([]byte, 32)
	rand.Read(challenge)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signed, err := c.nodes[coordinator].node.Sign(ctx, walletID, &pb.SigningRequest{Kind: &pb.SigningRequest_SelfTest{SelfTest: &pb.SelfTest{Challenge: challenge, Path: path}}}, committee)
	if err != nil {
		t.Fatalf("sign with %v: %v", committee, err)
	}
	root, _ := c.nodes[coordinator].node.WalletRoot(walletID)
	child, _ := root.Derive(path)
	if !bytes.Equal(child.PublicKey[:], signed.Items[0].PublicKey) {
		t.Fatal("signed under another key than the derived one")
	}
	pub, err := btcec.ParsePubKey(child.PublicKey[:])
	if err != nil {
		t.Fatal(err)
	}
	var r, s btcec.ModNScalar
	r.SetByteSlice(signed.Signatures[0][:32])
	s.SetByteSlice(signed.Signatures[0][32:])
	if !btcecdsa.NewSignature(&r, &s).Verify(signed.Items[0].Message, pub) {
		t.Fatal("signature does not verify with btcec")
	}
}

func TestCluster2of3(t *testing.T) {
	c := newTestCluster(t, 3, 2)
	w, progress, err := c.createWallet("node-1", "cold storage")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.PublicKey) != 33 || w.Threshold != 2 || !slices.Equal(w.Nodes, c.ids) || len(progress) == 0 {
		t.Fatalf("wallet %v, progress %v", w, progress)
	}
	for _, id := range c.ids {
		got, err := pb.NewWalletServiceClient(c.dial(id, pki.RoleBackend)).GetWallet(context.Background(), &pb.GetWalletRequest{WalletId: w.WalletId})
		if err != nil {
			t.Fatal(err)
		}
		got.Wallet.CreatedAt, w.CreatedAt = nil, nil // each node's own clock
		if !proto.Equal(got.Wallet, w) {
			t.Fatalf("%s: %v %v", id, got, err)
		}
	}

	t.Run("addresses equal BIP32 of the group key and agreed chain code", func(t *testing.T) {
		root, err := c.nodes["node-1"].node.WalletRoot(w.WalletId)
		if err != nil {
			t.Fatal(err)
		}
		xpub := hdkeychain.NewExtendedKey(chaincfg.MainNetParams.HDPublicKeyID[:], root.PublicKey[:], root.ChainCode[:], []byte{0, 0, 0, 0}, 0, 0, false)
		for _, tc := range []struct {
			network string
			params  *chaincfg.Params
			change  bool
			index   uint32
		}{
			{"mainnet", &chaincfg.MainNetParams, false, 0},
			{"mainnet", &chaincfg.MainNetParams, true, 7},
			{"testnet", &chaincfg.TestNet3Params, false, 1 << 20},
			{"signet", &chaincfg.SigNetParams, false, 3},
			{"regtest", &chaincfg.RegressionNetParams, true, 2147483647},
		} {
			branch := uint32(0)
			if tc.change {
				branch = 1
			}
			k, err := xpub.Derive(branch)
			if err == nil {
				k, err = k.Derive(tc.index)
			}
			if err != nil {
				t.Fatal(err)
			}
			pub, err := k.ECPubKey()
			if err != nil {
				t.Fatal(err)
			}
			wantAddr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), tc.params)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range c.ids {
				got, err := pb.NewWalletServiceClient(c.dial(id, pki.RoleBackend)).DeriveAddress(context.Background(),
					&pb.DeriveAddressRequest{WalletId: w.WalletId, Chain: "bitcoin", Network: tc.network, Change: tc.change, Index: tc.index})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.PublicKey, pub.SerializeCompressed()) {
					t.Fatalf("%s %v: key differs from hdkeychain", id, tc)
				}
				if got.Address != wantAddr.EncodeAddress() || got.Path != fmt.Sprintf("m/%d/%d", branch, tc.index) {
					t.Fatalf("%s: got %s at %s, want %s at m/%d/%d", id, got.Address, got.Path, wantAddr.EncodeAddress(), branch, tc.index)
				}
			}
		}
	})

	t.Run("every committee signs", func(t *testing.T) {
		for _, committee := range [][]string{{"node-1", "node-2"}, {"node-1", "node-3"}, {"node-2", "node-3"}} {
			coordinator := committee[len(committee)-1]
			c.selfTest(t, coordinator, w.WalletId, committee, []uint32{0, 5})
		}
	})

	t.Run("a restarted node still signs with its share", func(t *testing.T) {
		c.stop("node-2")
		c.start("node-2")
		c.selfTest(t, "node-1", w.WalletId, []string{"node-1", "node-2"}, []uint32{1, 9})
	})
}

func TestCluster3of5(t *testing.T) {
	if testing.Short() {
		t.Skip("a 5-node key generation takes tens of seconds")
	}
	c := newTestCluster(t, 5, 3)
	w, _, err := c.createWallet("node-3", "3-of-5")
	if err != nil {
		t.Fatal(err)
	}
	if w.Threshold != 3 || len(w.Nodes) != 5 {
		t.Fatalf("%v", w)
	}
	// committees that leave two nodes out, coordinated from inside
	c.selfTest(t, "node-1", w.WalletId, []string{"node-1", "node-2", "node-4"}, []uint32{0, 3})
	c.selfTest(t, "node-5", w.WalletId, []string{"node-3", "node-4", "node-5"}, []uint32{1, 0})

	t.Run("a committee below the threshold is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.nodes["node-1"].node.Sign(ctx, w.WalletId, &pb.SigningRequest{Kind: &pb.SigningRequest_SelfTest{SelfTest: &pb.SelfTest{Challenge: make([]byte, 32)}}}, []string{"node-1", "node-2"})
		if err == nil || !strings.Contains(err.Error(), "needs 3 signers") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestKeygenNodeCrash stops a node in the middle of a key generation: the
// wallet must end up on no node, and the error must say what happened.
func TestKeygenNodeCrash(t *testing.T) {
	c := newTestCluster(t, 3, 2, Options{KeygenTimeout: 20 * time.Second})
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.createWallet("node-1", "doomed")
		errc <- err
	}()
	// wait until the session runs on node-3, then crash it
	deadline := time.Now().Add(30 * time.Second)
	for c.nodes["node-3"].node.sessions.active() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the key generation never started on node-3")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	c.stop("node-3")
	err := <-errc
	if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "node-3") {
		t.Fatalf("got %v, want Aborted naming node-3", err)
	}
	c.start("node-3")
	for _, id := range c.ids {
		ws, err := c.nodes[id].node.store.Wallets()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.State == "active" {
				t.Fatalf("%s has an active wallet %s after the crash", id, w.ID)
			}
		}
		list, err := pb.NewWalletServiceClient(c.dial(id, pki.RoleBackend)).ListWallets(context.Background(), &pb.ListWalletsRequest{})
		if err != nil || len(list.Wallets) != 0 {
			t.Fatalf("%s lists %v (%v)", id, list, err)
		}
	}
}
