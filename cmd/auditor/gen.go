package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/countersign/countersign/cmd/auditor/internal/gen"
)

var genCommand = &command{
	name:  "gen",
	args:  "-records N -o FILE [-ca-out FILE] [-seed N] [-days 30]",
	short: "write a large valid log of made-up traffic, to measure the auditor on",
	long: `Writes a new audit-log database of made-up traffic: a busy coordinator's
withdrawals received, decided (about 8% refused, by rule), signed in
sessions with the peer's head recorded, a few aborted sessions, failures
and refused calls, spread over -days days, validly chained and signed with
a throwaway node key. -ca-out writes the throwaway CA that issued the
node's certificate, for 'auditor verify -ca'. Nothing in it is real: it is
for measurements and tests only.

	auditor gen -records 1000000 -o big.db -ca-out big-ca.pem
	time auditor verify -ca big-ca.pem big.db`,
	flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		records := fs.Uint64("records", 10_000, "how many `records`, genesis included")
		out := fs.String("o", "", "the database `file` to write; it must not exist")
		caOut := fs.String("ca-out", "", "write the throwaway CA certificate to this `file`")
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
			if *caOut != "" {
				if err := os.WriteFile(*caOut, st.CAPEM, 0o644); err != nil {
					return err
				}
			}
			secs := time.Since(start).Seconds()
			fmt.Fprintf(c.stdout, "wrote %s: %d records (%d withdrawals), head %d:%x…, in %.1fs (%.0f records/s)\n",
				*out, st.Head.Seq+1, st.Withdrawals, st.Head.Seq, st.Head.Hash[:6], secs, float64(st.Head.Seq+1)/secs)
			return nil
		}
	},
}
