package signer

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/signer/audit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// anyRole may call a method with any certificate the cluster CA issued.
var anyRole = []pki.Role{pki.RoleNode, pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor}

// access lists, for every method the node serves, the roles that may call
// it. A method missing here is refused to everyone.
var access = map[string][]pki.Role{
	pb.WalletService_CreateWallet_FullMethodName:                     {pki.RoleBackend},
	pb.WalletService_GetWallet_FullMethodName:                        {pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor},
	pb.WalletService_ListWallets_FullMethodName:                      {pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor},
	pb.WalletService_DeriveAddress_FullMethodName:                    {pki.RoleBackend},
	pb.NodeService_GetStatus_FullMethodName:                          anyRole,
	pb.AuditService_ExportLog_FullMethodName:                         {pki.RoleAuditor},
	pb.WithdrawalService_SubmitWithdrawal_FullMethodName:             {pki.RoleBackend},
	pb.WithdrawalService_GetWithdrawal_FullMethodName:                {pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor},
	pb.WithdrawalService_WatchWithdrawal_FullMethodName:              {pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor},
	pb.WithdrawalService_ListWithdrawals_FullMethodName:              {pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor},
	pb.OfficerService_GetPolicy_FullMethodName:                       {pki.RoleBackend, pki.RoleOfficer, pki.RoleAuditor},
	pb.OfficerService_SubmitPolicy_FullMethodName:                    {pki.RoleOfficer},
	pb.OfficerService_SubmitApproval_FullMethodName:                  {pki.RoleOfficer},
	pb.PeerService_Bind_FullMethodName:                               {pki.RoleNode},
	pb.PeerService_Prepare_FullMethodName:                            {pki.RoleNode},
	pb.PeerService_Run_FullMethodName:                                {pki.RoleNode},
	pb.PeerService_Deliver_FullMethodName:                            {pki.RoleNode},
	pb.PeerService_Commit_FullMethodName:                             {pki.RoleNode},
	pb.PeerService_GetWalletState_FullMethodName:                     {pki.RoleNode},
	grpc_health_v1.Health_Check_FullMethodName:                       anyRole,
	grpc_health_v1.Health_Watch_FullMethodName:                       anyRole,
	grpc_health_v1.Health_List_FullMethodName:                        anyRole,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      anyRole,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": anyRole,
}

type callerKey struct{}

// callerOf returns the authenticated caller of an RPC.
func callerOf(ctx context.Context) pki.Identity {
	id, _ := ctx.Value(callerKey{}).(pki.Identity)
	return id
}

// authorize finds the caller's identity in its verified client certificate
// and checks its role against access.
func (n *Node) authorize(ctx context.Context, method string) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate issued by the cluster CA is required")
	}
	leaf := ti.State.VerifiedChains[0][0]
	id, err := pki.Identify(leaf)
	if err != nil {
		n.refused(ctx, pki.Identity{Name: leaf.Subject.CommonName}, method, codes.Unauthenticated, err.Error())
		return nil, status.Errorf(codes.Unauthenticated, "client certificate: %v", err)
	}
	if id.Role == pki.RoleNode && !n.knownPeer(id.Name, leaf) {
		n.refused(ctx, id, method, codes.PermissionDenied, "not a peer of this node")
		return nil, status.Errorf(codes.PermissionDenied, "node %q is not a peer of this node", id.Name)
	}
	roles, known := access[method]
	allowed := false
	for _, r := range roles {
		allowed = allowed || r == id.Role
	}
	if !allowed {
		reason := fmt.Sprintf("role %s may not call %s", id.Role, method)
		if !known {
			reason = "unknown method " + method
		}
		n.refused(ctx, id, method, codes.PermissionDenied, reason)
		return nil, status.Error(codes.PermissionDenied, reason)
	}
	return context.WithValue(ctx, callerKey{}, id), nil
}

func (n *Node) knownPeer(name string, cert *x509.Certificate) bool {
	p, ok := n.peers[name]
	if !ok {
		return false
	}
	return p.pin == "" || p.pin == pki.Fingerprint(cert)
}

// refused writes a refused call to the audit log. Health checks and peer
// traffic that fails for ordinary reasons are not refusals.
func (n *Node) refused(_ context.Context, id pki.Identity, method string, code codes.Code, reason string) {
	n.audit(storeEvent(audit.KindCallRefused, &audit.CallRefused{
		Caller: id.Name, Role: string(id.Role), Method: method, Code: uint32(code), Reason: reason,
	}))
}

// settle ends every call, deferred by the interceptors: a panicking handler
// becomes an Internal error (logged, never shown), and the call is counted.
func (n *Node) settle(method string, start time.Time, err *error) {
	if r := recover(); r != nil {
		n.log.Error("handler panicked", "method", method, "panic", r)
		*err = status.Error(codes.Internal, "internal error; see the node's log")
	}
	n.observe(method, start, *err)
}

func (n *Node) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer n.settle(info.FullMethod, time.Now(), &err)
	ctx, err = n.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err = h(ctx, req)
	return resp, n.answer(info.FullMethod, err)
}

func (n *Node) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer n.settle(info.FullMethod, time.Now(), &err)
	ctx, err := n.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return n.answer(info.FullMethod, h(srv, &authedStream{ss, ctx}))
}

// answer maps a handler's error to a status, logging internal detail.
func (n *Node) answer(method string, err error) error {
	if err == nil {
		return nil
	}
	st := toStatus(err)
	if status.Code(st) == codes.Internal {
		n.log.Error("internal error", "method", method, "err", err)
	}
	return st
}

func (n *Node) observe(method string, start time.Time, err error) {
	short := method[strings.LastIndex(method, "/")+1:]
	n.metrics.requests.WithLabelValues(short, status.Code(err).String()).Inc()
	n.metrics.requestSeconds.WithLabelValues(short).Observe(time.Since(start).Seconds())
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }
