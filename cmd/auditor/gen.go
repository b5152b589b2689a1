package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/gen"
)

var genCommand = &command{
	Name:  "gen",
	Args:  "-records N -o FILE [-ca-out FILE] [-wallets-out FILE] [-seed N] [-days 30]",
	Short: "write a large log of made-up traffic that verifies and replays, to measure the auditor on",
	Long: `Writes a new audit-log database of made-up traffic that passes both
'auditor verify' and 'auditor replay': a busy coordinator's withdrawals of
1 to 3 inputs received, decided (some refused by rule: off the allowlist,
over a cap), some approved by officers first (a few approvals that do not
count, a few rejections), signed in sessions with the peer's head
recorded, a few aborted sessions, failures and refused calls, spread over
about -days days, under three policy bundles signed by the policytest
officers, validly chained and signed with a throwaway node key.

Everything replay re-derives is real: the PSBTs, the ledger's intent
signatures, the decisions (policy.Bundle.Decide, with the velocity the node
would count), the approvals, and the ECDSA signatures by the inputs' child
keys of a throwaway wallet key. Nothing in it is real money or a real key:
the keys follow from -seed. It is for measurements and tests only.

-ca-out writes the throwaway CA that issued the node's certificate, for
'auditor verify -ca'. The wallet's root (public key and chain code), for
'auditor replay -wallets', goes to -wallets-out, by default FILE with
.wallets.json for its .db.

	auditor gen -records 1000000 -o big.db -ca-out big-ca.pem
	time auditor verify -ca big-ca.pem big.db
	time auditor replay -wallets big.wallets.json big.db`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		records := fs.Uint64("records", 10_000, "how many `records`, genesis included")
		out := fs.String("o", "", "the database `file` to write; it must not exist")
		caOut := fs.String("ca-out", "", "write the throwaway CA certificate to this `file`")
		walletsOut := fs.String("wallets-out", "", "write the wallets' keys for 'replay -wallets' to this `file` (default: FILE with .wallets.json)")
		seed := fs.Uint64("seed", 1, "the traffic's random `seed`")
		days := fs.Int("days", 30, "how many `days` the log spans, ending now")
		return func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usagef("gen: unexpected argument %q", args[0])
			}
			if *out == "" {
				return usagef("gen: -o FILE is required")
			}
			if *days <= 0 {
				return usagef("gen: -days %d: want at least 1", *days)
			}
			if *walletsOut == "" {
				*walletsOut = strings.TrimSuffix(*out, ".db") + ".wallets.json"
			}
			if _, err := os.Stat(*walletsOut); err == nil {
				return fmt.Errorf("gen: %s exists; remove it or give another -wallets-out", *walletsOut)
			}
			start := time.Now()
			st, err := gen.Write(*out, gen.Options{
				Records: *records, Seed: *seed, Days: *days,
				Start: time.Now().Add(-time.Duration(*days) * 24 * time.Hour).Truncate(time.Second),
				Progress: func(n uint64) {
					fmt.Fprintf(c.stderr, "%d of %d records (%.0f/s)\n", n, *records, float64(n)/time.Since(start).Seconds())
				},
			})
			if err != nil {
				return err
			}
			if err := os.WriteFile(*walletsOut, st.WalletsJSON(), 0o644); err != nil {
				return err
			}
			if *caOut != "" {
				if err := os.WriteFile(*caOut, st.CAPEM, 0o644); err != nil {
					return err
				}
			}
			secs := time.Since(start).Seconds()
			var refused uint64
			for _, n := range st.Refused {
				refused += n
			}
			fmt.Fprintf(c.stdout, "wrote %s: %d records (%d withdrawals, %d refused, %d waiting for officers), head %d:%x…, in %.1fs (%.0f records/s); wallets in %s\n",
				*out, st.Head.Seq+1, st.Withdrawals, refused, st.Approvals, st.Head.Seq, st.Head.Hash[:6], secs, float64(st.Head.Seq+1)/secs, *walletsOut)
			if len(st.Refused) > 0 {
				fmt.Fprintf(c.stdout, "refused, by rule:")
				for _, rule := range slices.Sorted(maps.Keys(st.Refused)) {
					fmt.Fprintf(c.stdout, " %s %d", rule, st.Refused[rule])
				}
				fmt.Fprintln(c.stdout)
			}
			return nil
		}
	},
}
