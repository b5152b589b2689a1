package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/policytest"
	pb "github.com/countersign/countersign/proto/countersign/v1"
	"github.com/countersign/countersign/roster"
	"github.com/countersign/countersign/signer"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// runCLI runs auditor with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut}
	code := c.exitCode(c.run(context.Background(), args))
	return code, out.String(), errOut.String()
}

// writeLog writes a log of the given records, signed by a fresh key, and
// returns its path.
func writeLog(t *testing.T, recs []struct {
	kind audit.Kind
	body string
}) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-9"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := audit.Body(audit.Genesis{NodeID: "node-9", CertDER: der, Format: audit.Version})
	path := filepath.Join(t.TempDir(), "log.db")
	w, err := store.CreateAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	prev, err := audit.Next(nil, audit.KindGenesis, g, now, key)
	if err != nil {
		t.Fatal(err)
	}
	w.Put(0, prev.Encode())
	for i, r := range recs {
		next, err := audit.Next(prev, r.kind, []byte(r.body), now.Add(time.Duration(i)*time.Hour), key)
		if err != nil {
			t.Fatal(err)
		}
		w.Put(next.Seq, next.Encode())
		prev = next
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReportKinds: the report counts withdrawals by status and wallet,
// refusals by rule, officers' approvals and policy changes (kinds being
// built elsewhere, read leniently), and counts kinds it does not know.
func TestReportKinds(t *testing.T) {
	intent := func(id string, amount string) string {
		return `{"withdrawal_id":"` + id + `","request_hash":"00","intent":{"v":1,"withdrawal_id":"` + id + `","wallet_id":"w-1","amount_sat":` + amount + `},"psbt":"AA==","from":"backend"}`
	}
	path := writeLog(t, []struct {
		kind audit.Kind
		body string
	}{
		{"policy.accepted", `{"version":2,"hash":"ab12","bundle":"AA==","signed_by":["alice","bob"]}`},
		{audit.KindWithdrawalReceived, intent("wd-1", "150000000")},
		{audit.KindWithdrawalDecided, `{"withdrawal_id":"wd-1","request_hash":"00","allowed":true,"policy_hash":"ab","fee_sat":1000}`},
		{"withdrawal.approval", `{"withdrawal_id":"wd-1","officer":"alice","verdict":"approve","counted":true}`},
		{"withdrawal.approval", `{"withdrawal_id":"wd-1","officer":"mallory","verdict":"approve","counted":false}`},
		{"withdrawal.approved", `{"withdrawal_id":"wd-1","approvers":["alice","bob"]}`},
		{audit.KindWithdrawalSigned, `{"withdrawal_id":"wd-1","session_id":"s","txid":"t","signatures":["00"]}`},
		{audit.KindWithdrawalReceived, intent("wd-2", "5")},
		{audit.KindWithdrawalDecided, `{"withdrawal_id":"wd-2","request_hash":"00","allowed":false,"rule":"policy.amount_over_cap","policy_hash":"ab"}`},
		{audit.KindWithdrawalReceived, intent("wd-3", "7")},
		{audit.KindWithdrawalDecided, `{"withdrawal_id":"wd-3","request_hash":"00","allowed":true,"policy_hash":"ab"}`},
		{"withdrawal.rejected", `{"withdrawal_id":"wd-3","officer":"bob","reason":"unknown destination"}`},
		{"future.thing", `{}`},
	})
	html := filepath.Join(t.TempDir(), "r.html")
	code, out, errOut := runCLI(t, "report", path, "-html", html)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Wallet w-1: 3 withdrawals",
		"signed      1  1.50000000",
		"refused      2  0.00000012",
		"policy.amount_over_cap  1  0.00000005 BTC",
		"officer.rejected        1  0.00000007 BTC",
		"alice\t1", "bob\t1",
		"Policy changes (policy.accepted): 1",
		"node-9 record 1  version 2  hash ab12",
		"future.thing         1  (not known to this auditor: counted, not read)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mallory") {
		t.Error("an approval that did not count was counted")
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "policy.amount_over_cap", "Wallet w-1"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte("<script")) || bytes.Contains(page, []byte("http://")) && !bytes.Contains(page, []byte(`xmlns="http://www.w3.org/2000/svg"`)) {
		t.Error("the HTML report is not self-contained")
	}
}

// TestReportAssets: a wallet of another chain than Bitcoin (an Ethereum
// log: ETH and a token, amounts in base units as decimal strings, version
// 2 intents) is summed per asset, fees in their asset, beside a Bitcoin
// wallet; export writes each amount with its asset.
func TestReportAssets(t *testing.T) {
	received := func(id, wallet, asset, amount string) string {
		in := chain.Intent{Version: chain.IntentV2, WithdrawalID: id, WalletID: wallet, Chain: "ethereum", Network: "mainnet", Asset: asset,
			Destination: "0x52908400098527886E0F7030069857D2E4169EE7", Amount: chain.MustAmount(amount), FeeCap: chain.MustAmount("3000000000000000")}
		b, err := json.Marshal(audit.WithdrawalReceived{WithdrawalID: id, RequestHash: "00", Intent: in.Canonical(), UnsignedTx: []byte{2}, From: "backend"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	path := writeLog(t, []struct {
		kind audit.Kind
		body string
	}{
		{audit.KindWithdrawalReceived, received("wd-e1", "w-2", "ETH", "1500000000000000000")},
		{audit.KindWithdrawalDecided, `{"withdrawal_id":"wd-e1","request_hash":"00","allowed":true,"policy_hash":"ab","txid":"` + strings.Repeat("ee", 32) +
			`","fee":"2100000000000000","fee_asset":"ETH","outflow":{"ETH":"1502100000000000000"},"nonce_account":"ethereum:1:0xaa","nonce":7}`},
		{audit.KindWithdrawalSigned, `{"withdrawal_id":"wd-e1","session_id":"s","txid":"t","signatures":["00"]}`},
		{audit.KindWithdrawalReceived, received("wd-e2", "w-2", "USDC", "2500000")},
		{audit.KindWithdrawalDecided, `{"withdrawal_id":"wd-e2","request_hash":"00","allowed":false,"rule":"policy.amount_over_cap","policy_hash":"ab"}`},
		{audit.KindWithdrawalReceived, `{"withdrawal_id":"wd-b","request_hash":"00","intent":{"v":1,"wallet_id":"w-1","amount_sat":5},"psbt":"AA==","from":"backend"}`},
	})
	code, out, errOut := runCLI(t, "report", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Wallet w-2: 2 withdrawals",
		"status  count     ETH (base units)  USDC (base units)",
		"signed      1  1500000000000000000                  0",
		"refused      1                    0            2500000",
		"fees of signed withdrawals: 2100000000000000 ETH (base units)",
		"policy.amount_over_cap  1  2500000 USDC (base units)",
		"Wallet w-1: 1 withdrawals",
		"pending      1  0.00000005",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCLI(t, "export", "-format", "csv", path)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{",wd-e1,w-2,,,,,,1500000000000000000,ETH\n", ",wd-e2,w-2,,,,,,2500000,USDC\n", ",wd-b,w-1,,,,,5,5,BTC\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
}

// TestAmountUnits: amounts are written in whole units where the bundles
// gave the asset's decimals, BTC always with its 8, and otherwise in base
// units, said so.
func TestAmountUnits(t *testing.T) {
	s := &auditlog.WalletSummary{Decimals: map[string]int{"BTC": 8, "ETH": 18, "USDC": 6}}
	for _, tt := range []struct {
		asset, amount, want string
	}{
		{"BTC", "150000000", "1.50000000 BTC"},
		{"BTC", "0", "0.00000000 BTC"},
		{"ETH", "1500000000000000000", "1.5 ETH"},
		{"ETH", "1", "0.000000000000000001 ETH"},
		{"USDC", "2500000", "2.5 USDC"},
		{"DAI", "7", "7 DAI (base units)"},
	} {
		if got := amount(s, tt.asset, chain.MustAmount(tt.amount)) + " " + unit(s, tt.asset); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.amount, tt.asset, got, tt.want)
		}
	}
	if got := amounts(s, chain.Amounts{"USDC": chain.AmountOf(1), "ETH": chain.AmountOf(0), "BTC": chain.AmountOf(2)}); got != "0.00000002 BTC, 0.000001 USDC" {
		t.Errorf("amounts: %q", got)
	}
}

// TestFetchFromLiveNode starts a real node on 127.0.0.1 with real mutual
// TLS, makes it write records, fetches its log as the auditor, with both
// ways of naming the node, and verifies the copy; then checks the copy is
// the node's log record for record once the node stopped.
func TestFetchFromLiveNode(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	genesis := policytest.Marshal(t, policytest.Genesis("test"))
	opts := signer.ClusterOptions{Nodes: 2, Threshold: 2, Addresses: []string{addr, "127.0.0.1:1"}, Genesis: genesis,
		GenesisSignatures: policytest.SignaturesFile(t, policytest.SignBundle(t, genesis, policytest.Alice, policytest.Bob))}
	if _, err := signer.CreateCluster(dir, opts); err != nil {
		t.Fatal(err)
	}
	cfg, err := signer.LoadConfig(filepath.Join(dir, "nodes", "node-1", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PreParams.Target = 0
	sealer, err := hsm.OpenSoftware(cfg.Sealer.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := signer.New(cfg, signer.Options{Sealer: sealer, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.ServeListener(ctx, l) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		}
	}
	defer stop()

	// The auditor may not create wallets: each refusal is a record.
	ca, cert, key := roster.ClientFiles(dir, pki.RoleAuditor)
	conn := dial(t, addr, ca, cert, key)
	for range 3 {
		_, err := pb.NewWalletServiceClient(conn).GetWallet(ctx, &pb.GetWalletRequest{WalletId: "w-0000000000000000"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("GetWallet: %v", err)
		}
		st, err := pb.NewWalletServiceClient(conn).CreateWallet(ctx, &pb.CreateWalletRequest{Label: "x"})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("CreateWallet as the auditor: %v", err)
		}
	}

	out := t.TempDir()
	byCluster := filepath.Join(out, "by-cluster.db")
	code, stdout, stderr := runCLI(t, "fetch", "-cluster", dir, "-node", "node-1", "-o", byCluster)
	// genesis, the genesis bundle, 3 refused calls
	if code != 0 || !strings.Contains(stdout, "5 records of node-1's audit log") {
		t.Fatalf("fetch -cluster: exit %d\n%s%s", code, stdout, stderr)
	}
	byFiles := filepath.Join(out, "by-files.db")
	code, stdout, stderr = runCLI(t, "fetch", "-addr", addr, "-node", "node-1", "-ca", ca, "-cert", cert, "-key", key, "-o", byFiles)
	if code != 0 {
		t.Fatalf("fetch -addr: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "verify", "-ca", filepath.Join(dir, "ca.pem"), byCluster)
	if code != 0 || !strings.Contains(stdout, "ok    node-1") {
		t.Fatalf("verify of the fetched copy: exit %d\n%s", code, stdout)
	}

	t.Run("refusals", func(t *testing.T) {
		bca, bcert, bkey := roster.ClientFiles(dir, pki.RoleBackend)
		for _, tc := range []struct {
			name string
			args []string
			code int
			want string
		}{
			{"the backend role", []string{"-addr", addr, "-node", "node-1", "-ca", bca, "-cert", bcert, "-key", bkey, "-o", filepath.Join(out, "b.db")}, 1, "PermissionDenied: role backend may not call /countersign.v1.AuditService/ExportLog"},
			{"another node's name", []string{"-addr", addr, "-node", "node-2", "-ca", ca, "-cert", cert, "-key", key, "-o", filepath.Join(out, "c.db")}, 1, "fetch from node-2"},
			{"an existing file", []string{"-cluster", dir, "-node", "node-1", "-o", byCluster}, 1, "already exists"},
			{"no such node", []string{"-cluster", dir, "-node", "node-7", "-o", filepath.Join(out, "d.db")}, 2, `node "node-7" is not in`},
			{"both ways", []string{"-cluster", dir, "-addr", addr, "-node", "node-1", "-o", filepath.Join(out, "e.db")}, 2, "not both"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, stdout, stderr := runCLI(t, append([]string{"fetch"}, tc.args...)...)
				if code != tc.code || !strings.Contains(stderr, tc.want) {
					t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, stdout, stderr)
				}
			})
		}
		if entries, _ := os.ReadDir(out); len(entries) != 2 {
			t.Errorf("failed fetches left files: %v", entries)
		}
	})

	stop()
	live, err := store.OpenAuditLog(filepath.Join(cfg.DataDir, "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	for _, p := range []string{byCluster, byFiles} {
		copied, err := store.OpenAuditLog(p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = copied.Records(func(seq uint64, raw []byte) bool {
			orig, ok, err := live.Record(seq)
			if err != nil || !ok || !bytes.Equal(orig, raw) {
				t.Errorf("%s: record %d differs from the node's", p, seq)
			}
			n++
			return true
		})
		copied.Close()
		if err != nil || n < 4 {
			t.Fatalf("%s: %d records, %v", p, n, err)
		}
	}
}

func dial(t *testing.T, addr, ca, cert, key string) *grpc.ClientConn {
	t.Helper()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tlsCfg, err := pki.ClientTLS(read(ca), read(cert), read(key), "node-1", "")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestReceiver: an export stream that would lose or hide a record is
// refused, saying why.
func TestReceiver(t *testing.T) {
	recs := func(keys ...uint64) *pb.ExportLogResponse {
		r := &pb.AuditRecords{Keys: keys}
		for range keys {
			r.Records = append(r.Records, []byte("x"))
		}
		return &pb.ExportLogResponse{Body: &pb.ExportLogResponse_Records{Records: r}}
	}
	end := func(n, last uint64) *pb.ExportLogResponse {
		return &pb.ExportLogResponse{Body: &pb.ExportLogResponse_End{End: &pb.LogEnd{Records: n, LastKey: last}}}
	}
	tests := []struct {
		name string
		msgs []*pb.ExportLogResponse
		want string // "" for a complete stream
	}{
		{"complete", []*pb.ExportLogResponse{recs(0, 1), recs(2), end(3, 2)}, ""},
		{"empty log", []*pb.ExportLogResponse{end(0, 0)}, ""},
		{"no end", []*pb.ExportLogResponse{recs(0, 1)}, "ended before the node's end message, after 2 records"},
		{"records lost on the way", []*pb.ExportLogResponse{recs(0, 1), end(3, 2)}, "sent 3 records ending at key 2; 2 arrived"},
		{"a repeated key", []*pb.ExportLogResponse{recs(0, 1), recs(1)}, "key 1 after key 1"},
		{"keys going back", []*pb.ExportLogResponse{recs(0, 5), recs(3)}, "key 3 after key 5"},
		{"keys without records", []*pb.ExportLogResponse{{Body: &pb.ExportLogResponse_Records{Records: &pb.AuditRecords{Keys: []uint64{0}}}}}, "1 keys and 0 records"},
		{"after the end", []*pb.ExportLogResponse{end(0, 0), recs(0)}, "after the end"},
		{"no body", []*pb.ExportLogResponse{{}}, "no body"},
		{"a record too large", []*pb.ExportLogResponse{{Body: &pb.ExportLogResponse_Records{Records: &pb.AuditRecords{Keys: []uint64{0}, Records: [][]byte{make([]byte, audit.MaxRecord+1)}}}}}, "the format allows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stored []uint64
			r := &receiver{put: func(k uint64, _ []byte) error { stored = append(stored, k); return nil }}
			var err error
			for _, m := range tt.msgs {
				if err = r.add(m); err != nil {
					break
				}
			}
			if err == nil {
				err = r.finish()
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errStream) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an errStream saying %q", err, tt.want)
			}
		})
	}
}

// FuzzReceiver feeds the export-stream checks any sequence of messages:
// they never panic, and what they accept has increasing keys, each with
// one record, accounted for by the end.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte{1, 0, 1, 1, 2, 2, 1})
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{1, 5, 1, 3, 2, 2, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		var stored []uint64
		r := &receiver{put: func(k uint64, _ []byte) error { stored = append(stored, k); return nil }}
		var err error
		// Each message: a type byte (1 records, 2 end, else empty), then
		// for records a count byte and that many key bytes, for an end a
		// count byte and a last-key byte.
		for len(b) > 0 && err == nil {
			typ := b[0]
			b = b[1:]
			switch typ % 3 {
			case 1:
				if len(b) == 0 {
					return
				}
				n := int(b[0]) % 8
				b = b[1:]
				m := &pb.AuditRecords{}
				for i := 0; i < n && len(b) > 0; i++ {
					m.Keys = append(m.Keys, uint64(b[0]))
					m.Records = append(m.Records, b[:1])
					b = b[1:]
				}
				err = r.add(&pb.ExportLogResponse{Body: &pb.ExportLogResponse_Records{Records: m}})
			case 2:
				if len(b) < 2 {
					return
				}
				err = r.add(&pb.ExportLogResponse{Body: &pb.ExportLogResponse_End{End: &pb.LogEnd{Records: uint64(b[0]), LastKey: uint64(b[1])}}})
				b = b[2:]
			default:
				err = r.add(&pb.ExportLogResponse{})
			}
		}
		if err == nil {
			err = r.finish()
		}
		if err != nil {
			if !errors.Is(err, errStream) {
				t.Fatalf("error %v is not an errStream", err)
			}
			return
		}
		if uint64(len(stored)) != r.count {
			t.Fatalf("stored %d records, counted %d", len(stored), r.count)
		}
		for i := 1; i < len(stored); i++ {
			if stored[i] <= stored[i-1] {
				t.Fatalf("accepted key %d after %d", stored[i], stored[i-1])
			}
		}
	})
}
