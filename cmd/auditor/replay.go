package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/auditlog"
)

var replayCommand = &command{
	Name:  "replay",
	Args:  "[-wallets FILE] [-json] DB...",
	Short: "re-run every policy decision, approval and signature check of each log",
	Long: `Replays each node's log, read-only, in record order, with the same policy
code the node runs, and compares the result with what the node recorded:

  policy.accepted      the first bundle passes AcceptGenesis (a quorum of its
                       own officers), each later one Accept against the
                       bundle then in force (same cluster, higher version, a
                       quorum of its officers); signed_by is who counted
  withdrawal.decided   the request hash; the bundle is the one in force; the
                       wallet's 24-hour and 7-day outflow per asset,
                       recomputed from the log's earlier decisions,
                       rejections and failures; on account chains, the
                       nonces the log's earlier decisions hold; and the
                       decision itself (re-derived transaction, allowed or
                       the rule, originator, txid, fee, outflow, digests,
                       approval tier, account nonce), re-run at the
                       decision's time. A refused request is logged by its transaction's
                       SHA-256 and size, not the transaction: its decision
                       must be a refusal, and all but the re-derivation is
                       checked ("logged by hash, not re-derived")
  withdrawal.approval  checked again against the decision's bundle at the
                       record's time; an officer counts once; the counted
                       flag must agree; one not counted because the
                       withdrawal awaits none (approval.not_needed,
                       approval.not_awaiting) must not be for a withdrawal
                       awaiting approval
  withdrawal.approved  the approvers are the tier's quorum by replay's tally
  withdrawal.rejected  follows a valid rejection
  withdrawal.signed    follows an allowed decision (and the quorum, if one was
                       required); each signature verifies for the re-derived
                       digest (or message) and the key derived for it (a
                       Bitcoin input's, an Ethereum sender's)

Logs of every chain the auditor knows replay, and logs written before
intents and records carried other chains (version 1 intents, satoshi
fields) replay as they did.

Re-deriving a withdrawal needs the wallet's chain code, which the log holds
only as a hash. A node's own database holds it (a stopped node's node.db, or
a copy of it); a fetched log does not: then give -wallets FILE, a JSON
object {"w-…": {"public_key": hex, "chain_code": hex}}, made for instance
from 'signerctl wallet show ID -json' (see README). Each key given is
checked against the log's wallet.created record.

For each log it prints a summary, then every discrepancy as
'node-N seq S: what'. Exit status 1 if there is any, or if a decision could
not be replayed.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		walletsFile := fs.String("wallets", "", "a JSON `file` of the wallets' public keys and chain codes")
		asJSON := fs.Bool("json", false, "print JSON for programs instead of text")
		workers := fs.Int("workers", 0, "goroutines checking signatures and re-running decisions (0: one per CPU)")
		return func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return usagef("replay: name at least one DB file")
			}
			var keys map[string]auditlog.WalletKey
			if *walletsFile != "" {
				raw, err := os.ReadFile(*walletsFile)
				if err != nil {
					return fmt.Errorf("-wallets: %w", err)
				}
				if keys, err = auditlog.ParseWalletKeys(raw); err != nil {
					return fmt.Errorf("-wallets %s: %w", *walletsFile, err)
				}
			}
			return c.replay(args, keys, *asJSON, *workers)
		}
	},
}

// replayJSON is a log's replay as -json prints it.
type replayJSON struct {
	Node      string        `json:"node"`
	Path      string        `json:"path"`
	Records   uint64        `json:"records"`
	Decided   int           `json:"decided"`
	Agreed    int           `json:"agreed"`
	ByHash    int           `json:"by_hash"` // refusals logged by the transaction's hash, not re-derived
	Bundles   int           `json:"bundles"`
	Approvals int           `json:"approvals"`
	Signed    int           `json:"signed"`
	Seconds   float64       `json:"seconds"`
	Problems  []findingJSON `json:"problems"`
	Error     string        `json:"error,omitempty"` // the log could not be opened
}

type findingJSON struct {
	Seq    uint64 `json:"seq"`
	What   string `json:"what"`
	Detail string `json:"detail"`
}

func (c *cli) replay(paths []string, given map[string]auditlog.WalletKey, asJSON bool, workers int) error {
	var out []replayJSON
	problems := 0
	for _, p := range paths {
		l, err := auditlog.Open(p, workers)
		if err != nil {
			problems++
			out = append(out, replayJSON{Node: "?", Path: p, Error: err.Error()})
			if !asJSON {
				fmt.Fprintf(c.stdout, "FAIL  ?  %s: %v\n", p, err)
			}
			continue
		}
		keys, err := l.WalletKeys()
		if err != nil {
			l.Close()
			return fmt.Errorf("replay: %s: %w", p, err)
		}
		source := "its database"
		if len(keys) == 0 {
			source = ""
		}
		if len(given) > 0 {
			keys = maps.Clone(keys)
			maps.Copy(keys, given) // what the auditor gave wins; each is checked against wallet.created
			source = "-wallets"
		}
		start := time.Now()
		res := auditlog.Replay(l, keys, workers)
		secs := time.Since(start).Seconds()
		l.Close()
		problems += len(res.Findings)
		j := replayJSON{Node: res.Node, Path: res.Path, Records: res.Records, Decided: res.Decided, Agreed: res.Agreed, ByHash: res.ByHash,
			Bundles: res.Bundles, Approvals: res.Approvals, Signed: res.Signed, Seconds: secs, Problems: []findingJSON{}}
		for _, f := range res.Findings {
			j.Problems = append(j.Problems, findingJSON{Seq: f.Seq, What: f.What, Detail: f.Detail})
		}
		out = append(out, j)
		if asJSON {
			continue
		}
		status := "ok  "
		if len(res.Findings) > 0 {
			status = "FAIL"
		}
		keysNote := "no wallet keys"
		if source != "" {
			keysNote = "wallet keys from " + source
		}
		byHash := ""
		switch {
		case res.ByHash == 1:
			byHash = ", 1 refusal logged by hash (not re-derived)"
		case res.ByHash > 1:
			byHash = fmt.Sprintf(", %d refusals logged by hash (not re-derived)", res.ByHash)
		}
		fmt.Fprintf(c.stdout, "%s  %s  %s: %d records; %d withdrawals decided, replay agrees on %d%s; %d policy bundles; %d approvals; %d signed (%s, %.1fs, %.0f records/s)\n",
			status, res.Node, res.Path, res.Records, res.Decided, res.Agreed, byHash, res.Bundles, res.Approvals, res.Signed, keysNote, secs, float64(res.Records)/max(secs, 1e-9))
		for _, f := range res.Findings {
			fmt.Fprintf(c.stdout, "  %s seq %d: %s\n", f.Node, f.Seq, oneLine(f.Detail))
		}
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else if problems == 0 {
		fmt.Fprintf(c.stdout, "OK: %d logs replayed, no discrepancy\n", len(paths))
	} else {
		fmt.Fprintf(c.stdout, "FAIL: %d problems\n", problems)
	}
	if problems > 0 {
		return errFound
	}
	return nil
}
