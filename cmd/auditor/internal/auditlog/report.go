package auditlog

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/countersign/countersign/signer/audit"
)

// Kinds of officers' approvals and policy bundles. The report reads their
// bodies leniently, by field name, so that logs written while their format
// was settling still report.
const (
	KindWithdrawalApproval = audit.KindWithdrawalApproval
	KindWithdrawalApproved = audit.KindWithdrawalApproved
	KindWithdrawalRejected = audit.KindWithdrawalRejected
	KindPolicyAccepted     = audit.KindPolicyAccepted
)

// Withdrawal statuses in a report, from what the logs recorded.
const (
	StatusSigned  = "signed"
	StatusRefused = "refused"
	StatusFailed  = "failed"
	StatusPending = "pending" // allowed, neither signed nor failed in the logs
)

// A Withdrawal is one withdrawal as the logs tell it, merged across nodes.
type Withdrawal struct {
	ID, Wallet, Destination string
	AmountSat, FeeSat       int64
	Status, Rule            string
	Received                time.Time // first received, on any node
	Approvals               []string  // officers, from withdrawal.approved
}

// PolicyChange is one policy.accepted record.
type PolicyChange struct {
	Node    string
	Seq     uint64
	Time    time.Time
	Version string // the body's "version", if it has one
	Hash    string // the body's "policy_hash" or "hash", if it has one
}

// LogState is how far a log was read for a report.
type LogState struct {
	Node, Path string
	Records    uint64
	First      time.Time
	Last       time.Time
	Err        error // the first bad record; the report covers what came before
}

// ReportData is what a report shows: withdrawals by wallet, refusals by
// rule, approvals by officer, policy changes, and what the report did not
// understand.
type ReportData struct {
	Logs        []LogState
	Withdrawals map[string]*Withdrawal // by id
	Policy      []PolicyChange
	Kinds       map[audit.Kind]int // every kind, all logs
	Unknown     map[audit.Kind]int // kinds this build does not know (and does not read)
	BadBodies   int                // records of a known kind whose body did not parse
}

// WalletSummary is one wallet's withdrawals in a report.
type WalletSummary struct {
	Wallet    string
	Count     map[string]int   // by status
	Amount    map[string]int64 // satoshis, by status
	Fees      int64            // of signed withdrawals, where known
	ByRule    map[string]int   // refusals
	RuleSat   map[string]int64
	ByDay     map[string]int64 // signed satoshis by UTC day (2006-01-02)
	ByOfficer map[string]int
}

// Collect reads every log (verified records only) into a report.
func Collect(logs []*Log) *ReportData {
	d := &ReportData{Withdrawals: map[string]*Withdrawal{}, Kinds: map[audit.Kind]int{}, Unknown: map[audit.Kind]int{}}
	for _, l := range logs {
		st := LogState{Node: l.Node, Path: l.Path}
		for e, err := range l.Records() {
			if err != nil {
				st.Err = err
				break
			}
			st.Records++
			if st.First.IsZero() {
				st.First = e.Time
			}
			st.Last = e.Time
			d.Kinds[e.Kind]++
			d.add(e)
		}
		d.Logs = append(d.Logs, st)
	}
	return d
}

func (d *ReportData) withdrawal(id string) *Withdrawal {
	w := d.Withdrawals[id]
	if w == nil {
		w = &Withdrawal{ID: id, Status: StatusPending}
		d.Withdrawals[id] = w
	}
	return w
}

// statusRank orders statuses: a later one in any log wins.
var statusRank = map[string]int{StatusPending: 0, StatusRefused: 1, StatusFailed: 2, StatusSigned: 3}

func (w *Withdrawal) set(status string) {
	if statusRank[status] > statusRank[w.Status] {
		w.Status = status
	}
}

func (d *ReportData) add(e *Entry) {
	switch e.Kind {
	case KindWithdrawalApproval, KindWithdrawalApproved, KindWithdrawalRejected:
		// Officers' approvals: one approval as received (counted or not),
		// the quorum reached, or a rejection that ended the withdrawal.
		var b struct {
			WithdrawalID string   `json:"withdrawal_id"`
			Officer      string   `json:"officer"`
			Verdict      string   `json:"verdict"`
			Counted      *bool    `json:"counted"`
			Approvers    []string `json:"approvers"`
		}
		if json.Unmarshal(e.Record.Body, &b) == nil && b.WithdrawalID != "" {
			w := d.withdrawal(b.WithdrawalID)
			officers := b.Approvers
			switch {
			case e.Kind == KindWithdrawalRejected:
				w.Rule = "officer.rejected"
				w.set(StatusRefused)
			case e.Kind == KindWithdrawalApproval && b.Officer != "" && b.Verdict == "approve" && (b.Counted == nil || *b.Counted):
				officers = append(officers, b.Officer)
			}
			for _, o := range officers {
				if !slices.Contains(w.Approvals, o) {
					w.Approvals = append(w.Approvals, o)
				}
			}
		}
		return
	case KindPolicyAccepted:
		var b map[string]any
		pc := PolicyChange{Node: e.Node, Seq: e.Seq, Time: e.Time}
		if dec := json.NewDecoder(bytes.NewReader(e.Record.Body)); dec.Decode(&b) == nil {
			pc.Version = stringField(b, "version", "policy_version")
			pc.Hash = stringField(b, "hash", "policy_hash", "bundle_hash")
		}
		d.Policy = append(d.Policy, pc)
		return
	}
	if !e.Kind.Known() {
		d.Unknown[e.Kind]++
		return
	}
	switch e.Kind {
	case audit.KindWithdrawalReceived, audit.KindWithdrawalDecided, audit.KindWithdrawalSigned, audit.KindWithdrawalFailed:
	default:
		return
	}
	b, err := e.Body()
	if err != nil {
		d.BadBodies++
		return
	}
	switch b := b.(type) {
	case *audit.WithdrawalReceived:
		w := d.withdrawal(b.WithdrawalID)
		var in struct {
			WalletID    string `json:"wallet_id"`
			Destination string `json:"destination"`
			AmountSat   int64  `json:"amount_sat"`
		}
		if json.Unmarshal(b.Intent, &in) == nil && w.Wallet == "" {
			w.Wallet, w.Destination, w.AmountSat = in.WalletID, in.Destination, in.AmountSat
		}
		if w.Received.IsZero() || e.Time.Before(w.Received) {
			w.Received = e.Time
		}
	case *audit.WithdrawalDecided:
		w := d.withdrawal(b.WithdrawalID)
		if b.Allowed {
			if b.FeeSat > 0 {
				w.FeeSat = b.FeeSat
			}
		} else {
			if w.Rule == "" {
				w.Rule = b.Rule
			}
			w.set(StatusRefused)
		}
	case *audit.WithdrawalSigned:
		d.withdrawal(b.WithdrawalID).set(StatusSigned)
	case *audit.WithdrawalFailed:
		d.withdrawal(b.WithdrawalID).set(StatusFailed)
	}
}

func stringField(m map[string]any, names ...string) string {
	for _, n := range names {
		switch v := m[n].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ""
}

// Wallets summarizes the withdrawals by wallet, in wallet order.
// Withdrawals whose wallet no log recorded are under "(unknown)".
func (d *ReportData) Wallets() []*WalletSummary {
	by := map[string]*WalletSummary{}
	for _, w := range d.Withdrawals {
		id := w.Wallet
		if id == "" {
			id = "(unknown)"
		}
		s := by[id]
		if s == nil {
			s = &WalletSummary{Wallet: id, Count: map[string]int{}, Amount: map[string]int64{}, ByRule: map[string]int{},
				RuleSat: map[string]int64{}, ByDay: map[string]int64{}, ByOfficer: map[string]int{}}
			by[id] = s
		}
		s.Count[w.Status]++
		s.Amount[w.Status] += w.AmountSat
		switch w.Status {
		case StatusSigned:
			s.Fees += w.FeeSat
			if !w.Received.IsZero() {
				s.ByDay[w.Received.UTC().Format(time.DateOnly)] += w.AmountSat
			}
		case StatusRefused:
			s.ByRule[w.Rule]++
			s.RuleSat[w.Rule] += w.AmountSat
		}
		for _, o := range w.Approvals {
			s.ByOfficer[o]++
		}
	}
	out := make([]*WalletSummary, 0, len(by))
	for _, s := range by {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *WalletSummary) int {
		switch {
		case a.Wallet < b.Wallet:
			return -1
		case a.Wallet > b.Wallet:
			return 1
		}
		return 0
	})
	return out
}
