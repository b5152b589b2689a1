package signer

import (
	"bytes"

	pb "github.com/countersign/countersign/proto/countersign/v1"
)

// exportChunk is about how many bytes of records one ExportLog message
// carries (one record may exceed it; audit.MaxRecord is about 1 MiB, under
// the 4 MiB gRPC message limit).
const exportChunk = 256 << 10

// auditService is AuditService: the node's audit log for auditors.
type auditService struct {
	pb.UnsafeAuditServiceServer
	n *Node
}

var _ pb.AuditServiceServer = auditService{}

// ExportLog streams the audit log from one consistent snapshot (one bbolt
// read transaction), records exactly as stored, then a LogEnd.
func (a auditService) ExportLog(_ *pb.ExportLogRequest, stream pb.AuditService_ExportLogServer) error {
	batch := &pb.AuditRecords{}
	size := 0
	var count, last uint64
	flush := func() error {
		if len(batch.Keys) == 0 {
			return nil
		}
		err := stream.Send(&pb.ExportLogResponse{Body: &pb.ExportLogResponse_Records{Records: batch}})
		batch, size = &pb.AuditRecords{}, 0
		return err
	}
	err := a.n.store.ForEachAudit(func(seq uint64, raw []byte) error {
		batch.Keys = append(batch.Keys, seq)
		batch.Records = append(batch.Records, bytes.Clone(raw)) // raw lives in the read transaction only
		size += len(raw)
		count, last = count+1, seq
		if size >= exportChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	a.n.log.Info("audit log exported", "to", callerOf(stream.Context()).Name, "records", count)
	return stream.Send(&pb.ExportLogResponse{Body: &pb.ExportLogResponse_End{End: &pb.LogEnd{Records: count, LastKey: last}}})
}
