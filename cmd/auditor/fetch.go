package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/countersign/countersign/pki"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Limits of a fetch.
const (
	// maxExportMessage bounds one ExportLog message: a batch of records,
	// one of which may be as large as audit.MaxRecord.
	maxExportMessage = 4 << 20
	// maxBatchRecords bounds the records of one message (a record is at
	// least 61+3+1 bytes).
	maxBatchRecords = maxExportMessage / 65
)

var fetchCommand = &command{
	Name:  "fetch",
	Args:  "(-cluster DIR -node ID | -addr HOST:PORT -node ID -ca FILE -cert FILE -key FILE) -o FILE",
	Short: "copy a live node's audit log, from one consistent snapshot, into a database file",
	Long: `Asks a running node for its audit log (AuditService.ExportLog, over mutual
TLS with an auditor certificate) and writes it to a new database file that
'auditor verify' and the other commands read. The node sends its log from
one consistent snapshot, records exactly as stored; nothing else of its
database leaves it. fetch checks the stream is complete and well formed,
not the records: verify does that.

With -cluster, the node's address and certificate pin come from the cluster
directory's cluster.json and the client certificate is its
clients/auditor.pem (as signerctl does). Otherwise give -addr, the node's id
(-node: its certificate must name it) and the PEM files.

	auditor fetch -cluster cluster -node node-1 -o node-1.db
	auditor fetch -addr 10.0.0.7:7001 -node node-2 -ca ca.pem -cert auditor.pem -key auditor-key.pem -o node-2.db`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		cluster := fs.String("cluster", "", "the cluster `directory` ('signerd init' wrote it)")
		node := fs.String("node", "", "the node's `id`")
		addr := fs.String("addr", "", "the node's `host:port`, without -cluster")
		ca := fs.String("ca", "", "the cluster CA certificate `file`, without -cluster")
		cert := fs.String("cert", "", "the auditor's certificate `file`, without -cluster")
		key := fs.String("key", "", "the auditor's key `file`, without -cluster")
		pin := fs.String("pin", "", "the node certificate's SHA-256 `fingerprint`, without -cluster (optional)")
		out := fs.String("o", "", "the database `file` to write; it must not exist")
		timeout := fs.Duration("timeout", 10*time.Minute, "give up after this `duration`")
		return func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usagef("fetch: unexpected argument %q", args[0])
			}
			if *out == "" || *node == "" {
				return usagef("fetch: -node ID and -o FILE are required")
			}
			t := target{node: roster.Node{ID: *node, Address: *addr, CertSHA256: *pin}}
			var err error
			if *cluster != "" {
				if *addr != "" || *ca != "" || *cert != "" || *key != "" {
					return usagef("fetch: give -cluster, or -addr, -ca, -cert and -key, not both")
				}
				err = t.fromCluster(*cluster)
			} else {
				if *addr == "" || *ca == "" || *cert == "" || *key == "" {
					return usagef("fetch: without -cluster, -addr, -ca, -cert and -key are required")
				}
				err = t.readFiles(*ca, *cert, *key)
			}
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			n, err := fetch(ctx, t, *out)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "wrote %s: %d records of %s's audit log (not yet verified: run 'auditor verify')\n", *out, n, *node)
			return nil
		}
	},
}

// target is a node to fetch from and the auditor's credentials.
type target struct {
	node  roster.Node
	creds roster.Credentials
}

func (t *target) fromCluster(dir string) error {
	m, err := roster.LoadManifest(dir)
	if err != nil {
		return err
	}
	n, ok := m.Lookup(t.node.ID)
	if !ok {
		var ids []string
		for _, n := range m.Nodes {
			ids = append(ids, n.ID)
		}
		return usagef("fetch: node %q is not in %s/cluster.json: want one of %v", t.node.ID, dir, ids)
	}
	t.node = n
	return t.readFiles(roster.ClientFiles(dir, pki.RoleAuditor))
}

func (t *target) readFiles(ca, cert, key string) error {
	creds, err := roster.ReadCredentialFiles(ca, cert, key)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	t.creds = creds
	return nil
}

// fetch streams the node's log into a new database at out.
func fetch(ctx context.Context, t target, out string) (uint64, error) {
	conn, err := roster.Dial(t.node, t.creds, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxExportMessage)))
	if err != nil {
		return 0, fmt.Errorf("fetch: %w", err)
	}
	defer conn.Close()
	stream, err := pb.NewAuditServiceClient(conn).ExportLog(ctx, &pb.ExportLogRequest{})
	if err != nil {
		return 0, callError(t, err)
	}
	w, err := store.CreateAuditLog(out)
	if err != nil {
		return 0, err
	}
	rcv := &receiver{put: w.Put}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			err = rcv.add(m)
		} else {
			err = callError(t, err)
		}
		if err != nil {
			w.Abort()
			return 0, err
		}
	}
	if err := rcv.finish(); err != nil {
		w.Abort()
		return 0, err
	}
	return rcv.count, w.Close()
}

func callError(t target, err error) error {
	st, _ := status.FromError(err)
	return fmt.Errorf("fetch from %s at %s: %s: %s", t.node.ID, t.node.Address, st.Code(), st.Message())
}

// errStream is an export stream that is not a complete, well-formed log
// export.
var errStream = errors.New("fetch: bad export stream")

// receiver checks an export stream as it arrives and stores its records.
// It refuses what would lose or hide a record: a key that does not
// increase (it would overwrite one), keys and records that do not pair
// up, a record larger than the format allows, anything after the end, and
// an end that does not account for every record.
type receiver struct {
	put   func(key uint64, value []byte) error
	count uint64
	last  uint64
	ended bool
}

func (r *receiver) add(m *pb.ExportLogResponse) error {
	if r.ended {
		return fmt.Errorf("%w: a message after the end", errStream)
	}
	switch b := m.GetBody().(type) {
	case *pb.ExportLogResponse_Records:
		keys, recs := b.Records.GetKeys(), b.Records.GetRecords()
		if len(keys) != len(recs) || len(keys) == 0 || len(keys) > maxBatchRecords {
			return fmt.Errorf("%w: a batch of %d keys and %d records", errStream, len(keys), len(recs))
		}
		for i, k := range keys {
			if r.count > 0 && k <= r.last {
				return fmt.Errorf("%w: key %d after key %d", errStream, k, r.last)
			}
			if len(recs[i]) > audit.MaxRecord {
				return fmt.Errorf("%w: record under key %d is %d bytes, the format allows %d", errStream, k, len(recs[i]), audit.MaxRecord)
			}
			if err := r.put(k, recs[i]); err != nil {
				return err
			}
			r.count, r.last = r.count+1, k
		}
	case *pb.ExportLogResponse_End:
		if b.End.GetRecords() != r.count || (r.count > 0 && b.End.GetLastKey() != r.last) {
			return fmt.Errorf("%w: the node says it sent %d records ending at key %d; %d arrived, ending at key %d",
				errStream, b.End.GetRecords(), b.End.GetLastKey(), r.count, r.last)
		}
		r.ended = true
	default:
		return fmt.Errorf("%w: a message with no body", errStream)
	}
	return nil
}

func (r *receiver) finish() error {
	if !r.ended {
		return fmt.Errorf("%w: the stream ended before the node's end message, after %d records", errStream, r.count)
	}
	return nil
}
