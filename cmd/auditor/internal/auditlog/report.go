package auditlog

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
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
// Amounts are in base units of their asset (satoshis, wei, a token's
// smallest unit).
type Withdrawal struct {
	ID, Wallet, Destination string
	// Asset and Amount are the intent's; Asset is "" if no log's intent
	// could be read.
	Asset  string
	Amount chain.Amount
	// Fee and FeeAsset are the allowed decision's ("" if none).
	Fee          chain.Amount
	FeeAsset     string
	Status, Rule string
	Received     time.Time // first received, on any node
	Approvals    []string  // officers, from withdrawal.approved
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
	// Decimals are the decimals of each wallet's assets, as the bundles
	// in the logs give them (wallet, then asset).
	Decimals map[string]map[string]int
}

// WalletSummary is one wallet's withdrawals in a report. Amounts are per
// asset, in base units.
type WalletSummary struct {
	Wallet string
	// Assets are the assets its withdrawals paid and its fees were paid
	// in, sorted; BTC alone when the logs tell none.
	Assets     []string
	Count      map[string]int           // by status
	Amount     map[string]chain.Amounts // by status
	Fees       chain.Amounts            // of signed withdrawals, where known
	ByRule     map[string]int           // refusals
	RuleAmount map[string]chain.Amounts
	ByDay      map[string]chain.Amounts // signed, by UTC day (2006-01-02)
	ByOfficer  map[string]int
	// Decimals are those the bundles give for its assets; BTC's is 8.
	Decimals map[string]int
}

// Collect reads every log (verified records only) into a report.
func Collect(logs []*Log) *ReportData {
	d := &ReportData{Withdrawals: map[string]*Withdrawal{}, Kinds: map[audit.Kind]int{}, Unknown: map[audit.Kind]int{},
		Decimals: map[string]map[string]int{}}
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
		d.decimals(e)
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
		if in, ok := ReadIntent(b.Intent); ok && w.Wallet == "" {
			w.Wallet, w.Destination, w.Asset, w.Amount = in.WalletID, in.Destination, in.Asset, in.Amount
		}
		if w.Received.IsZero() || e.Time.Before(w.Received) {
			w.Received = e.Time
		}
	case *audit.WithdrawalDecided:
		w := d.withdrawal(b.WithdrawalID)
		if b.Allowed {
			if fee, asset := b.FeeOf(); asset != "" && !fee.IsZero() {
				w.Fee, w.FeeAsset = fee, asset
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

// decimals reads the decimals of every wallet's assets from a
// policy.accepted record's bundle, if it parses.
func (d *ReportData) decimals(e *Entry) {
	b, err := e.Body()
	if err != nil {
		return
	}
	pa, ok := b.(*audit.PolicyAccepted)
	if !ok {
		return
	}
	bundle, err := policy.ParseBundle(pa.Bundle)
	if err != nil {
		return
	}
	for id, w := range bundle.Wallets {
		_, params := w.ChainOf()
		for _, l := range w.AssetLimits() {
			if dec, ok := params.Decimals(l.Asset); ok {
				if d.Decimals[id] == nil {
					d.Decimals[id] = map[string]int{}
				}
				d.Decimals[id][l.Asset] = dec
			}
		}
	}
}

// IntentFacts is what a report or an export reads of a withdrawal's
// intent. Asset is "" when the intent names no amount.
type IntentFacts struct {
	WalletID, Destination, Asset string
	Amount                       chain.Amount
}

// ReadIntent reads the intent of a withdrawal.received body: canonical
// bytes of either version (chain.ParseIntent), or, leniently by field
// name, intents of logs written while the format was settling (an
// amount_sat is of BTC).
func ReadIntent(raw []byte) (IntentFacts, bool) {
	if in, err := chain.ParseIntent(raw); err == nil {
		return IntentFacts{WalletID: in.WalletID, Destination: in.Destination, Asset: in.Asset, Amount: in.Amount}, true
	}
	var in struct {
		WalletID    string `json:"wallet_id"`
		Destination string `json:"destination"`
		Asset       string `json:"asset"`
		Amount      string `json:"amount"`
		AmountSat   *int64 `json:"amount_sat"`
	}
	if json.Unmarshal(raw, &in) != nil {
		return IntentFacts{}, false
	}
	f := IntentFacts{WalletID: in.WalletID, Destination: in.Destination}
	if a, err := chain.ParseAmount(in.Amount); err == nil && in.Asset != "" {
		f.Asset, f.Amount = in.Asset, a
	} else if in.AmountSat != nil && *in.AmountSat >= 0 && (in.Asset == "" || in.Asset == bitcoin.Asset) {
		f.Asset, f.Amount = bitcoin.Asset, chain.AmountOf(uint64(*in.AmountSat))
	}
	return f, true
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
			s = &WalletSummary{Wallet: id, Count: map[string]int{}, Amount: map[string]chain.Amounts{}, ByRule: map[string]int{},
				RuleAmount: map[string]chain.Amounts{}, ByDay: map[string]chain.Amounts{}, ByOfficer: map[string]int{},
				Decimals: map[string]int{bitcoin.Asset: 8}}
			for asset, dec := range d.Decimals[id] {
				s.Decimals[asset] = dec
			}
			by[id] = s
		}
		amount := chain.Amounts{}
		if w.Asset != "" {
			amount[w.Asset] = w.Amount
		}
		s.Count[w.Status]++
		s.Amount[w.Status] = plus(s.Amount[w.Status], amount)
		switch w.Status {
		case StatusSigned:
			if w.FeeAsset != "" {
				s.Fees = plus(s.Fees, chain.Amounts{w.FeeAsset: w.Fee})
			}
			if !w.Received.IsZero() {
				day := w.Received.UTC().Format(time.DateOnly)
				s.ByDay[day] = plus(s.ByDay[day], amount)
			}
		case StatusRefused:
			s.ByRule[w.Rule]++
			s.RuleAmount[w.Rule] = plus(s.RuleAmount[w.Rule], amount)
		}
		for _, o := range w.Approvals {
			s.ByOfficer[o]++
		}
	}
	out := make([]*WalletSummary, 0, len(by))
	for _, s := range by {
		assets := map[string]bool{}
		for _, a := range s.Amount {
			for asset := range a {
				assets[asset] = true
			}
		}
		for asset := range s.Fees {
			assets[asset] = true
		}
		if len(assets) == 0 {
			assets[bitcoin.Asset] = true
		}
		for asset := range assets {
			s.Assets = append(s.Assets, asset)
		}
		slices.Sort(s.Assets)
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

// plus returns a+b; a sum that would pass 2^256 (no real log's) stays at
// a's.
func plus(a, b chain.Amounts) chain.Amounts {
	if sum, ok := a.Plus(b); ok {
		return sum
	}
	if a == nil {
		return chain.Amounts{}
	}
	return a
}
