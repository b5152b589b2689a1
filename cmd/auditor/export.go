package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/signer/audit"
)

var exportCommand = &command{
	Name:  "export",
	Args:  "[-format jsonl|csv] [-o FILE] DB...",
	Short: "write one row per verified record: node, seq, time, kind, key fields",
	Long: `Writes every record of each log, one row each, in log order, log after log:
node, seq, time, kind, record hash, and the fields people search by
(withdrawal, wallet, session, peer, rule, allowed, amount). -format jsonl
writes one JSON object per line with the decoded body as well; csv writes
a header and the key fields.

A withdrawal.received row carries the intent's amount in base units of its
asset (satoshis, wei, a token's smallest unit) as a decimal string, and the
asset ("BTC", "ETH", a token); amount_sat repeats a BTC amount in satoshis,
as exports did before other assets existed, and is empty for any other. Only verified records are written: at a bad
record, export stops, says which, and exits 1 (run 'auditor verify').`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		format := fs.String("format", "jsonl", "`jsonl` or csv")
		out := fs.String("o", "", "write to this `file` instead of standard output")
		return func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("export: name at least one DB file")
			}
			if *format != "jsonl" && *format != "csv" {
				return usagef("export: -format %q: want jsonl or csv", *format)
			}
			w := c.stdout
			if *out != "" {
				f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				defer f.Close()
				w = f
			}
			return export(w, *format, args)
		}
	},
}

// row is one record as export writes it.
type row struct {
	Node       string          `json:"node"`
	Seq        uint64          `json:"seq"`
	Time       time.Time       `json:"time"`
	Kind       audit.Kind      `json:"kind"`
	Hash       string          `json:"hash"`
	Withdrawal string          `json:"withdrawal_id,omitempty"`
	Wallet     string          `json:"wallet_id,omitempty"`
	Session    string          `json:"session_id,omitempty"`
	Peer       string          `json:"peer,omitempty"`
	Rule       string          `json:"rule,omitempty"`
	Allowed    *bool           `json:"allowed,omitempty"`
	AmountSat  *int64          `json:"amount_sat,omitempty"` // BTC only, in satoshis
	Amount     string          `json:"amount,omitempty"`     // base units of Asset, in decimal
	Asset      string          `json:"asset,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	BodyError  string          `json:"body_error,omitempty"` // the body does not parse as its kind
}

// csvHeader: columns are only ever added at the end.
var csvHeader = []string{"node", "seq", "time", "kind", "hash", "withdrawal_id", "wallet_id", "session_id", "peer", "rule", "allowed", "amount_sat", "amount", "asset"}

func (r *row) csv() []string {
	allowed, amount := "", ""
	if r.Allowed != nil {
		allowed = strconv.FormatBool(*r.Allowed)
	}
	if r.AmountSat != nil {
		amount = strconv.FormatInt(*r.AmountSat, 10)
	}
	return []string{r.Node, strconv.FormatUint(r.Seq, 10), r.Time.Format(time.RFC3339Nano), string(r.Kind), r.Hash,
		r.Withdrawal, r.Wallet, r.Session, r.Peer, r.Rule, allowed, amount, r.Amount, r.Asset}
}

// rowOf fills a row from a verified entry.
func rowOf(e *auditlog.Entry) *row {
	r := &row{Node: e.Node, Seq: e.Seq, Time: e.Time, Kind: e.Kind, Hash: fmt.Sprintf("%x", e.Hash)}
	if json.Valid(e.Record.Body) {
		r.Body = e.Record.Body
	}
	b, err := e.Body()
	if err != nil {
		if e.Kind.Known() {
			r.BodyError = err.Error()
		}
		return r
	}
	switch b := b.(type) {
	case *audit.Genesis:
		r.Peer = b.NodeID
		r.Body = nil // the certificate, in base64: long and in every export already as the node
	case *audit.WalletCreated:
		r.Wallet, r.Session = b.WalletID, b.SessionID
	case *audit.WalletDiscarded:
		r.Wallet = b.WalletID
	case *audit.SessionStarted:
		r.Session, r.Wallet = b.SessionID, b.WalletID
		if id, ok := strings.CutPrefix(b.Purpose, "withdrawal "); ok {
			r.Withdrawal = id
		}
	case *audit.SessionEnded:
		r.Session = b.SessionID
	case *audit.SessionAborted:
		r.Session = b.SessionID
	case *audit.PeerHead:
		r.Peer, r.Session = b.Peer, b.SessionID
	case *audit.WithdrawalReceived:
		r.Withdrawal = b.WithdrawalID
		if in, ok := auditlog.ReadIntent(b.Intent); ok {
			r.Wallet = in.WalletID
			if in.Asset != "" {
				r.Amount, r.Asset = in.Amount.String(), in.Asset
				if sat, ok := in.Amount.Int64(); ok && in.Asset == bitcoin.Asset {
					r.AmountSat = &sat
				}
			}
		}
	case *audit.WithdrawalDecided:
		r.Withdrawal, r.Rule, r.Allowed = b.WithdrawalID, b.Rule, &b.Allowed
	case *audit.WithdrawalConflict:
		r.Withdrawal = b.WithdrawalID
	case *audit.WithdrawalSigned:
		r.Withdrawal, r.Session = b.WithdrawalID, b.SessionID
	case *audit.WithdrawalFailed:
		r.Withdrawal = b.WithdrawalID
	case *audit.WithdrawalApproval:
		r.Withdrawal = b.WithdrawalID
		if !b.Counted { // the approval.* code of why it did not count
			r.Rule, _, _ = strings.Cut(b.Problem, ":")
		}
	case *audit.WithdrawalApproved:
		r.Withdrawal = b.WithdrawalID
	case *audit.WithdrawalRejected:
		r.Withdrawal, r.Rule = b.WithdrawalID, "approval.rejected"
	}
	return r
}

func export(out io.Writer, format string, paths []string) error {
	bw := bufio.NewWriterSize(out, 1<<16)
	defer bw.Flush()
	cw := csv.NewWriter(bw)
	if format == "csv" {
		cw.Write(csvHeader)
	}
	enc := json.NewEncoder(bw)
	for _, p := range paths {
		l, err := auditlog.Open(p, 0)
		if err != nil {
			return err
		}
		for e, err := range l.Records() {
			if err != nil {
				l.Close()
				cw.Flush()
				return fmt.Errorf("export: %s (%s): stopped at a bad record: %w", l.Node, p, err)
			}
			r := rowOf(e)
			if format == "csv" {
				cw.Write(r.csv())
			} else if err := enc.Encode(r); err != nil {
				l.Close()
				return err
			}
		}
		l.Close()
	}
	cw.Flush()
	return cw.Error()
}
