package signer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer/audit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestAccessAndBadInput checks that every caller gets exactly the RPCs its
// role allows, and that bad requests get a clear code naming the problem.
func TestAccessAndBadInput(t *testing.T) {
	c := newTestCluster(t, 3, 2)
	w, _, err := c.createWallet("node-1", "warm")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodeConn := c.dialWith("node-1", filepath.Join(c.dir, "ca.pem"), filepath.Join(c.dir, "nodes", "node-2", "node.pem"), filepath.Join(c.dir, "nodes", "node-2", "node-key.pem"))

	// a second, unrelated CA issues a certificate with the backend role
	other := t.TempDir()
	if _, err := CreateCluster(other, testClusterOptions(t, ClusterOptions{Nodes: 2, Threshold: 2})); err != nil {
		t.Fatal(err)
	}
	oca, ocert, okey := roster.ClientFiles(other, pki.RoleBackend)
	foreign := c.dialWith("node-1", filepath.Join(c.dir, "ca.pem"), ocert, okey)
	_ = oca

	sid := make([]byte, 32)
	cases := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"backend cannot call peer RPCs", func() error {
			_, err := pb.NewPeerServiceClient(c.dial("node-1", pki.RoleBackend)).Prepare(ctx, &pb.PrepareRequest{SessionId: sid})
			return err
		}, codes.PermissionDenied, "role backend may not call /countersign.v1.PeerService/Prepare"},
		{"backend cannot deliver session messages", func() error {
			_, err := pb.NewPeerServiceClient(c.dial("node-1", pki.RoleBackend)).Deliver(ctx, &pb.DeliverRequest{SessionId: sid})
			return err
		}, codes.PermissionDenied, "role backend"},
		{"a peer cannot create wallets", func() error {
			s, err := pb.NewWalletServiceClient(nodeConn).CreateWallet(ctx, &pb.CreateWalletRequest{Label: "x"})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, codes.PermissionDenied, "role node may not call /countersign.v1.WalletService/CreateWallet"},
		{"an officer cannot derive addresses", func() error {
			_, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleOfficer)).DeriveAddress(ctx, &pb.DeriveAddressRequest{WalletId: w.WalletId, Chain: "bitcoin", Network: "mainnet"})
			return err
		}, codes.PermissionDenied, "role officer"},
		{"an auditor cannot create wallets", func() error {
			s, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleAuditor)).CreateWallet(ctx, &pb.CreateWalletRequest{})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, codes.PermissionDenied, "role auditor"},
		{"a certificate from another CA gets nothing", func() error {
			_, err := pb.NewNodeServiceClient(foreign).GetStatus(ctx, &pb.GetStatusRequest{})
			return err
		}, codes.Unavailable, ""},
		{"a malformed wallet id", func() error {
			_, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleBackend)).GetWallet(ctx, &pb.GetWalletRequest{WalletId: "../etc"})
			return err
		}, codes.InvalidArgument, `wallet_id "../etc"`},
		{"an unknown wallet", func() error {
			_, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleBackend)).DeriveAddress(ctx, &pb.DeriveAddressRequest{WalletId: "w-0000000000000000", Chain: "bitcoin", Network: "mainnet"})
			return err
		}, codes.NotFound, "wallet w-0000000000000000"},
		{"no chain", func() error {
			_, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleBackend)).DeriveAddress(ctx, &pb.DeriveAddressRequest{WalletId: w.WalletId, Network: "mainnet"})
			return err
		}, codes.InvalidArgument, "chain"},
		{"no network", func() error {
			_, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleBackend)).DeriveAddress(ctx, &pb.DeriveAddressRequest{WalletId: w.WalletId, Chain: "bitcoin"})
			return err
		}, codes.InvalidArgument, "network"},
		{"a hardened index", func() error {
			_, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleBackend)).DeriveAddress(ctx, &pb.DeriveAddressRequest{WalletId: w.WalletId, Chain: "bitcoin", Network: "mainnet", Index: 1 << 31})
			return err
		}, codes.InvalidArgument, "index 2147483648"},
		{"a label too long", func() error {
			s, err := pb.NewWalletServiceClient(c.dial("node-1", pki.RoleBackend)).CreateWallet(ctx, &pb.CreateWalletRequest{Label: strings.Repeat("x", 65)})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, codes.InvalidArgument, "label is 65 bytes"},
		{"a short session id from a peer", func() error {
			_, err := pb.NewPeerServiceClient(nodeConn).Prepare(ctx, &pb.PrepareRequest{SessionId: []byte{1}})
			return err
		}, codes.InvalidArgument, "session_id must be 32 bytes"},
		{"a keygen that leaves a node out", func() error {
			_, err := pb.NewPeerServiceClient(nodeConn).Prepare(ctx, &pb.PrepareRequest{SessionId: sid, Committee: []string{"node-1", "node-2"},
				Params: &pb.PrepareRequest_Keygen{Keygen: &pb.KeygenParams{WalletId: "w-0000000000000001", Threshold: 2}}})
			return err
		}, codes.InvalidArgument, "needs every node"},
		{"a signing request of no known kind", func() error {
			_, err := pb.NewPeerServiceClient(nodeConn).Prepare(ctx, &pb.PrepareRequest{SessionId: sid, Committee: []string{"node-1", "node-2"},
				Params: &pb.PrepareRequest_Signing{Signing: &pb.SigningParams{WalletId: w.WalletId}}})
			return err
		}, codes.InvalidArgument, "request: unknown kind"},
		{"run of a session this node never prepared", func() error {
			_, err := pb.NewPeerServiceClient(nodeConn).Run(ctx, &pb.RunRequest{SessionId: sid})
			return err
		}, codes.NotFound, "no session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Fatalf("got %v, want %s with %q", err, tc.code, tc.msg)
			}
		})
	}

	t.Run("every role may check health and status", func(t *testing.T) {
		for _, role := range []pki.Role{pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor} {
			conn := c.dial("node-1", role)
			if _, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
				t.Fatalf("%s: %v", role, err)
			}
			st, err := pb.NewNodeServiceClient(conn).GetStatus(ctx, &pb.GetStatusRequest{})
			if err != nil || st.NodeId != "node-1" || len(st.Peers) != 2 || !st.Peers[0].Reachable {
				t.Fatalf("%s: %v %v", role, st, err)
			}
		}
	})

	t.Run("refused calls are in the audit log", func(t *testing.T) {
		if !auditHas(t, c.nodes["node-1"].node, audit.KindCallRefused, "role backend may not call /countersign.v1.PeerService/Prepare") {
			t.Fatal("no call.refused record")
		}
	})

	t.Run("the audit log verifies", func(t *testing.T) {
		certPEM, _ := os.ReadFile(c.nodes["node-1"].cfg.TLS.Cert)
		cert, err := pki.ParseCertificatePEM(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		v := audit.NewVerifier(cert.PublicKey)
		if err := c.nodes["node-1"].node.store.ForEachAudit(v.Add); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Finish(); err != nil {
			t.Fatal(err)
		}
	})
}
