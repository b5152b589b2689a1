package main

import (
	"context"
	"flag"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math/big"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
	"github.com/countersign/countersign/policy/bitcoin"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/signer/audit"
)

var reportCommand = &command{
	Name:  "report",
	Args:  "[-html FILE] DB...",
	Short: "summarize, per wallet, what the logs recorded: withdrawals and amounts per asset, refusals by rule, approvals, policy changes",
	Long: `Summarizes what the logs recorded, per wallet: withdrawals signed, refused and
failed with their amounts per asset (merged across the nodes' logs by
withdrawal id), fees, refusals by rule, approvals by officer (kind
withdrawal.approved) and policy changes (kind policy.accepted), and the
record kinds it did not understand, counted. Amounts are shown in whole
units where the bundles in the logs give the asset's decimals (BTC with 8
always), and otherwise in base units, said so in the column. Only verified records count; a log with a bad record
is reported up to it, with a warning, and the exit status is 1.

With -html, it also writes a self-contained HTML file (no scripts, no
external resources) with charts of the signed volume per day (one per
asset) and of the refusals by rule.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		htmlOut := fs.String("html", "", "also write the report as a self-contained HTML `file`")
		return func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("report: name at least one DB file")
			}
			logs, closeAll, err := openAll(args)
			if err != nil {
				return err
			}
			defer closeAll()
			d := auditlog.Collect(logs)
			writeReport(c.stdout, d)
			if *htmlOut != "" {
				f, err := os.OpenFile(*htmlOut, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					return fmt.Errorf("report: %w", err)
				}
				err = writeHTML(f, d)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("report: %s: %w", *htmlOut, err)
				}
				fmt.Fprintf(c.stdout, "\nwrote %s\n", *htmlOut)
			}
			for _, l := range d.Logs {
				if l.Err != nil {
					return errFound
				}
			}
			return nil
		}
	},
}

// amount writes an amount of one of a wallet's assets: BTC with its 8
// decimals always written, as reports always showed it; another asset in
// whole units, trailing zeros dropped, if the bundles gave its decimals;
// otherwise in base units.
func amount(s *auditlog.WalletSummary, asset string, a chain.Amount) string {
	dec, ok := s.Decimals[asset]
	switch {
	case !ok:
		return a.String()
	case asset == bitcoin.Asset:
		whole := a.Decimal(dec)
		frac := ""
		if i := strings.IndexByte(whole, '.'); i >= 0 {
			whole, frac = whole[:i], whole[i+1:]
		}
		return whole + "." + frac + strings.Repeat("0", dec-len(frac))
	}
	return a.Decimal(dec)
}

// unit names the unit amount writes asset in: "BTC", or "ETH (base
// units)" where the decimals are not known.
func unit(s *auditlog.WalletSummary, asset string) string {
	if _, ok := s.Decimals[asset]; ok {
		return asset
	}
	return asset + " (base units)"
}

// amounts writes amounts per asset with their units: "0.5 ETH, 12
// USDC (base units)"; "-" if none.
func amounts(s *auditlog.WalletSummary, a chain.Amounts) string {
	var parts []string
	for _, asset := range slices.Sorted(maps.Keys(a)) {
		if !a[asset].IsZero() {
			parts = append(parts, amount(s, asset, a[asset])+" "+unit(s, asset))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func sortedByCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return keys
}

func writeReport(w io.Writer, d *auditlog.ReportData) {
	fmt.Fprintf(w, "Audit report of %d logs\n", len(d.Logs))
	for _, l := range d.Logs {
		if l.Err != nil {
			fmt.Fprintf(w, "  WARNING %s (%s): %d verified records, then %v; the report covers only the verified records\n", l.Node, l.Path, l.Records, l.Err)
			continue
		}
		fmt.Fprintf(w, "  %s (%s): %d records, %s to %s, verified\n", l.Node, l.Path, l.Records, l.First.Format(time.RFC3339), l.Last.Format(time.RFC3339))
	}
	for _, s := range d.Wallets() {
		total := 0
		for _, n := range s.Count {
			total += n
		}
		fmt.Fprintf(w, "\nWallet %s: %d withdrawals\n", s.Wallet, total)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "  status\tcount\t")
		for _, asset := range s.Assets {
			fmt.Fprintf(tw, "%s\t", unit(s, asset))
		}
		fmt.Fprintln(tw)
		for _, st := range []string{auditlog.StatusSigned, auditlog.StatusRefused, auditlog.StatusFailed, auditlog.StatusPending} {
			fmt.Fprintf(tw, "  %s\t%d\t", st, s.Count[st])
			for _, asset := range s.Assets {
				fmt.Fprintf(tw, "%s\t", amount(s, asset, s.Amount[st][asset]))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		fees := "none"
		if len(s.Fees) > 0 {
			fees = amounts(s, s.Fees)
		}
		fmt.Fprintf(w, "  fees of signed withdrawals: %s\n", fees)
		if len(s.ByRule) > 0 {
			fmt.Fprintf(w, "  refusals by rule:\n")
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, r := range sortedByCount(s.ByRule) {
				fmt.Fprintf(tw, "    %s\t%d\t%s\n", r, s.ByRule[r], amounts(s, s.RuleAmount[r]))
			}
			tw.Flush()
		}
		if len(s.ByOfficer) > 0 {
			fmt.Fprintf(w, "  approvals by officer:\n")
			for _, o := range sortedByCount(s.ByOfficer) {
				fmt.Fprintf(w, "    %s\t%d\n", o, s.ByOfficer[o])
			}
		} else {
			fmt.Fprintf(w, "  approvals by officer: none recorded\n")
		}
	}
	if len(d.Withdrawals) == 0 {
		fmt.Fprintf(w, "\nNo withdrawals recorded.\n")
	}
	fmt.Fprintf(w, "\nPolicy changes (%s): %d\n", auditlog.KindPolicyAccepted, len(d.Policy))
	for _, p := range d.Policy {
		fmt.Fprintf(w, "  %s  %s record %d  version %s  hash %s\n", p.Time.Format(time.RFC3339), p.Node, p.Seq, orDash(p.Version), orDash(p.Hash))
	}
	fmt.Fprintf(w, "\nRecords by kind (all logs):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kinds := map[string]int{}
	for k, n := range d.Kinds {
		kinds[string(k)] = n
	}
	for _, k := range sortedByCount(kinds) {
		note := ""
		if !audit.Kind(k).Known() {
			note = "\t(not known to this auditor: counted, not read)"
		}
		fmt.Fprintf(tw, "  %s\t%d%s\n", k, kinds[k], note)
	}
	tw.Flush()
	if d.BadBodies > 0 {
		fmt.Fprintf(w, "WARNING: %d signed records hold a body that does not parse as their kind\n", d.BadBodies)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bar is one bar of a chart.
type bar struct {
	Label string
	Value float64 // only its ratio to the largest bar is drawn
	Text  string  // the value as shown
}

// chart is an inline SVG bar chart: vertical bars (by day) or horizontal
// ones (by rule).
type chart struct {
	Title      string
	Bars       []bar
	Horizontal bool
	MaxText    string // the largest value as shown, for vertical charts
}

// SVG draws the chart. Labels go through html/template's escaping.
func (c chart) SVG() template.HTML {
	var b strings.Builder
	var maxV float64 = 1
	for _, x := range c.Bars {
		maxV = max(maxV, x.Value)
	}
	esc := template.HTMLEscapeString
	if c.Horizontal {
		h := 24*len(c.Bars) + 10
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="%d" role="img" aria-label="%s">`, h, esc(c.Title))
		for i, x := range c.Bars {
			y := 5 + 24*i
			wid := int(x.Value / maxV * 380)
			fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12">%s</text><rect x="260" y="%d" width="%d" height="16" fill="#b4463c"/><text x="%d" y="%d" font-size="12">%s</text>`,
				y+13, esc(x.Label), y, max(wid, 1), 266+wid, y+13, esc(x.Text))
		}
	} else {
		const height, top = 200, 20
		bw := 720 / max(len(c.Bars), 1)
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`, max(bw*len(c.Bars), 200), height+40, esc(c.Title))
		for i, x := range c.Bars {
			hh := int(x.Value / maxV * (height - top))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#2f6f9f"><title>%s: %s</title></rect>`,
				i*bw+1, height-hh, max(bw-2, 1), hh, esc(x.Label), esc(x.Text))
			if len(c.Bars) <= 31 || i%7 == 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="9" transform="rotate(45 %d %d)">%s</text>`, i*bw+2, height+10, i*bw+2, height+10, esc(x.Label[5:]))
			}
		}
		fmt.Fprintf(&b, `<text x="0" y="12" font-size="11">max %s</text>`, esc(c.MaxText))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// value is an amount as a bar's length.
func value(a chain.Amount) float64 {
	f, _ := new(big.Float).SetInt(a.Big()).Float64()
	return f
}

type htmlWallet struct {
	*auditlog.WalletSummary
	Units  []string // the amount columns' heads, one per asset
	Rows   []htmlRow
	Volume []chart // one per asset
	Rules  chart
	Rule   []htmlRule
	Offs   []htmlRule
}

type htmlRow struct {
	Status  string
	Count   int
	Amounts []string // one per asset
}

type htmlRule struct {
	Name    string
	Count   int
	Amounts string
}

var reportHTML = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>countersign audit report</title>
<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}td:first-child,th:first-child{text-align:left}.warn{color:#b4463c;font-weight:bold}h2{border-bottom:1px solid #ccc}</style>
</head><body>
<h1>countersign audit report</h1>
<p>Generated {{.Generated}} from {{len .Logs}} logs.</p>
<table><tr><th>node</th><th>file</th><th>records</th><th>from</th><th>to</th><th>verified</th></tr>
{{range .Logs}}<tr><td>{{.Node}}</td><td>{{.Path}}</td><td>{{.Records}}</td><td>{{.First.Format "2006-01-02 15:04"}}</td><td>{{.Last.Format "2006-01-02 15:04"}}</td><td>{{if .Err}}<span class="warn">NO: {{.Err}}</span>{{else}}yes{{end}}</td></tr>
{{end}}</table>
{{range .Wallets}}
<h2>Wallet {{.Wallet}}</h2>
<table><tr><th>status</th><th>withdrawals</th>{{range .Units}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Status}}</td><td>{{.Count}}</td>{{range .Amounts}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
<h3>Signed volume per day</h3>{{range .Volume}}<h4>{{.Title}}</h4>{{.SVG}}{{else}}<p>none</p>{{end}}
<h3>Refusals by rule</h3>{{if .Rule}}{{.Rules.SVG}}
<table><tr><th>rule</th><th>refusals</th><th>amount</th></tr>{{range .Rule}}<tr><td>{{.Name}}</td><td>{{.Count}}</td><td>{{.Amounts}}</td></tr>{{end}}</table>{{else}}<p>none</p>{{end}}
<h3>Approvals by officer</h3>{{if .Offs}}<table><tr><th>officer</th><th>approvals</th></tr>{{range .Offs}}<tr><td>{{.Name}}</td><td>{{.Count}}</td></tr>{{end}}</table>{{else}}<p>none recorded</p>{{end}}
{{end}}
<h2>Policy changes</h2>{{if .Policy}}<table><tr><th>time</th><th>node</th><th>record</th><th>version</th><th>hash</th></tr>
{{range .Policy}}<tr><td>{{.Time.Format "2006-01-02 15:04:05"}}</td><td>{{.Node}}</td><td>{{.Seq}}</td><td>{{.Version}}</td><td>{{.Hash}}</td></tr>{{end}}</table>{{else}}<p>none recorded</p>{{end}}
<h2>Records by kind</h2><table><tr><th>kind</th><th>records</th></tr>{{range .Kinds}}<tr><td>{{.Name}}</td><td>{{.Count}}</td></tr>{{end}}</table>
</body></html>
`))

func writeHTML(w io.Writer, d *auditlog.ReportData) error {
	var wallets []htmlWallet
	for _, s := range d.Wallets() {
		hw := htmlWallet{WalletSummary: s}
		for _, asset := range s.Assets {
			hw.Units = append(hw.Units, unit(s, asset))
		}
		for _, st := range []string{auditlog.StatusSigned, auditlog.StatusRefused, auditlog.StatusFailed, auditlog.StatusPending} {
			row := htmlRow{Status: st, Count: s.Count[st]}
			for _, asset := range s.Assets {
				row.Amounts = append(row.Amounts, amount(s, asset, s.Amount[st][asset]))
			}
			hw.Rows = append(hw.Rows, row)
		}
		days := slices.Sorted(maps.Keys(s.ByDay))
		for _, asset := range s.Assets {
			if len(days) == 0 {
				break
			}
			// every day from the first to the last, empty ones too
			first, _ := time.Parse(time.DateOnly, days[0])
			last, _ := time.Parse(time.DateOnly, days[len(days)-1])
			c := chart{Title: "signed volume per day, " + unit(s, asset)}
			var top chain.Amount
			for t := first; !t.After(last); t = t.AddDate(0, 0, 1) {
				day := t.Format(time.DateOnly)
				a := s.ByDay[day][asset]
				if a.Cmp(top) > 0 {
					top = a
				}
				c.Bars = append(c.Bars, bar{day, value(a), amount(s, asset, a) + " " + unit(s, asset)})
			}
			if top.IsZero() {
				continue // nothing of it signed
			}
			c.MaxText = amount(s, asset, top) + " " + unit(s, asset)
			hw.Volume = append(hw.Volume, c)
		}
		hw.Rules = chart{Title: "refusals by rule", Horizontal: true}
		for _, r := range sortedByCount(s.ByRule) {
			hw.Rule = append(hw.Rule, htmlRule{r, s.ByRule[r], amounts(s, s.RuleAmount[r])})
			hw.Rules.Bars = append(hw.Rules.Bars, bar{r, float64(s.ByRule[r]), fmt.Sprint(s.ByRule[r])})
		}
		for _, o := range sortedByCount(s.ByOfficer) {
			hw.Offs = append(hw.Offs, htmlRule{Name: o, Count: s.ByOfficer[o]})
		}
		wallets = append(wallets, hw)
	}
	kinds := map[string]int{}
	for k, n := range d.Kinds {
		kinds[string(k)] = n
	}
	var kindRows []htmlRule
	for _, k := range sortedByCount(kinds) {
		kindRows = append(kindRows, htmlRule{Name: k, Count: kinds[k]})
	}
	return reportHTML.Execute(w, map[string]any{
		"Generated": time.Now().UTC().Format(time.RFC3339), "Logs": d.Logs, "Wallets": wallets, "Policy": d.Policy, "Kinds": kindRows,
	})
}
