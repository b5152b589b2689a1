// Command benchratio reads `go test -bench` output on standard input, echoes
// it, and then prints summary lines computed from the median time per
// operation of the benchmarks, as `make bench` runs them:
//
//	go test -run '^$' -bench '^Benchmark(Sign2of3|SignDigests|Withdrawal|Rederive10Inputs|Decide10Inputs|DecideERC20)$' \
//	    ./signer ./signer/mpc ./policy/bitcoin ./policy | go run ./internal/benchratio
//
// By default it prints
//
//	sign-overhead-ratio 1.08
//	withdrawal-overhead-ratio-1 1.25
//	withdrawal-overhead-ratio-3 1.31
//	policy-decision-10-inputs-ms 4.20
//	rederive-10-inputs-ms 3.90
//	withdrawal-overhead-ratio-eth 1.12
//	policy-decision-eth-us 450
//
// sign-overhead-ratio is the median of BenchmarkSign2of3/grpc (package
// signer: one signature through real nodes, their gRPC services and session
// transport) over that of BenchmarkSign2of3/raw (package signer/mpc: the
// same shares in bare tss-lib, in one process). withdrawal-overhead-ratio-N
// is the median of BenchmarkWithdrawal/inputs-N (package signer: a whole
// withdrawal of N inputs, from submission to the signed transaction) over
// that of BenchmarkSignDigests/raw-N (package signer/mpc: N bare tss-lib
// signatures at once). policy-decision-10-inputs-ms is the median of
// BenchmarkDecide10Inputs (package policy: a node's whole decision on a
// withdrawal of ten inputs: the intent's signature, re-derivation, rules
// and tiers), and rederive-10-inputs-ms that of BenchmarkRederive10Inputs
// (package policy/bitcoin: the re-derivation alone), in milliseconds.
// withdrawal-overhead-ratio-eth is BenchmarkWithdrawal/eth (a whole
// Ethereum withdrawal through the nodes) over BenchmarkSignDigests/raw-1,
// and policy-decision-eth-us the median of BenchmarkDecideERC20 (package
// policy: a node's whole decision on an ERC-20 withdrawal) in
// microseconds. Each line is preceded by the medians it uses.
//
// With -num and -den it prints only their ratio, named -name. It exits 1,
// after printing every line it can, if a benchmark a line needs is missing
// from its input.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// summary is one line benchratio prints: the median of num over the median
// of den, or, without den, the median of num divided by scale.
type summary struct {
	name     string
	num, den string
	scale    float64 // without den: ns per printed unit
}

// summaries are the lines printed by default.
var summaries = []summary{
	{name: "sign-overhead-ratio", num: "BenchmarkSign2of3/grpc", den: "BenchmarkSign2of3/raw"},
	{name: "withdrawal-overhead-ratio-1", num: "BenchmarkWithdrawal/inputs-1", den: "BenchmarkSignDigests/raw-1"},
	{name: "withdrawal-overhead-ratio-3", num: "BenchmarkWithdrawal/inputs-3", den: "BenchmarkSignDigests/raw-3"},
	{name: "policy-decision-10-inputs-ms", num: "BenchmarkDecide10Inputs", scale: 1e6},
	{name: "rederive-10-inputs-ms", num: "BenchmarkRederive10Inputs", scale: 1e6},
	{name: "withdrawal-overhead-ratio-eth", num: "BenchmarkWithdrawal/eth", den: "BenchmarkSignDigests/raw-1"},
	{name: "policy-decision-eth-us", num: "BenchmarkDecideERC20", scale: 1e3},
}

func main() {
	num := flag.String("num", "", "print only the ratio of this benchmark ...")
	den := flag.String("den", "", "... over this one")
	name := flag.String("name", "ratio", "the name of the -num/-den ratio in the output")
	flag.Parse()
	lines := summaries
	if *num != "" || *den != "" {
		if *num == "" || *den == "" {
			fmt.Fprintln(os.Stderr, "benchratio: -num and -den go together")
			os.Exit(2)
		}
		lines = []summary{{name: *name, num: *num, den: *den}}
	}
	if err := run(os.Stdin, os.Stdout, lines); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, lines []summary) error {
	samples, err := parse(io.TeeReader(in, out))
	if err != nil {
		return err
	}
	var missing []string
	printed := map[string]bool{}
	medianOf := func(b string) (float64, bool) {
		s := samples[b]
		if len(s) == 0 {
			if !slices.Contains(missing, b) {
				missing = append(missing, b)
			}
			return 0, false
		}
		m := median(s)
		if !printed[b] {
			fmt.Fprintf(out, "%s median %.0f ns/op (%d runs)\n", b, m, len(s))
			printed[b] = true
		}
		return m, true
	}
	for _, l := range lines {
		n, okN := medianOf(l.num)
		if l.den == "" {
			if okN {
				fmt.Fprintf(out, "%s %.2f\n", l.name, n/l.scale)
			}
			continue
		}
		d, okD := medianOf(l.den)
		switch {
		case !okN || !okD:
		case d == 0:
			return errors.New(l.den + " took 0 ns/op")
		default:
			fmt.Fprintf(out, "%s %.2f\n", l.name, n/d)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no ns/op result for %s in the input", strings.Join(missing, ", "))
	}
	return nil
}

// procSuffix is the -GOMAXPROCS suffix go test appends to benchmark names.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parse collects the ns/op of every benchmark result line, by name with
// and without the GOMAXPROCS suffix. A result line is
// "BenchmarkX-2  N  123 ns/op ...".
func parse(r io.Reader) (map[string][]float64, error) {
	out := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		i := slices.Index(f, "ns/op")
		if i < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[i-1], 64)
		if err != nil {
			continue
		}
		// A name is kept as it is and without a -N suffix: with
		// GOMAXPROCS 1, go test appends none, and "inputs-1" is a name.
		out[f[0]] = append(out[f[0]], v)
		if n := procSuffix.ReplaceAllString(f[0], ""); n != f[0] {
			out[n] = append(out[n], v)
		}
	}
	return out, sc.Err()
}

func median(s []float64) float64 {
	s = slices.Sorted(slices.Values(s))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
