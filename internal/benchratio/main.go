// Command benchratio reads `go test -bench` output on standard input, echoes
// it, and then prints the median time per operation of two benchmarks and
// their ratio:
//
//	go test -run '^$' -bench Sign2of3 -count 7 ./signer/... | go run ./internal/benchratio
//
// By default it compares BenchmarkSign2of3/grpc (package signer: signing
// through real nodes, their gRPC services and session transport) with
// BenchmarkSign2of3/raw (package signer/mpc: the same shares in bare
// tss-lib, in one process) and prints
//
//	sign-overhead-ratio 1.08
//
// the median grpc time over the median raw time. It exits 1 if either
// benchmark is missing from its input.
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

func main() {
	num := flag.String("num", "BenchmarkSign2of3/grpc", "the benchmark on top of the ratio")
	den := flag.String("den", "BenchmarkSign2of3/raw", "the benchmark under it")
	name := flag.String("name", "sign-overhead-ratio", "the ratio's name in the output")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *num, *den, *name); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, num, den, name string) error {
	samples, err := parse(io.TeeReader(in, out))
	if err != nil {
		return err
	}
	var medians [2]float64
	for i, b := range []string{num, den} {
		s := samples[b]
		if len(s) == 0 {
			return fmt.Errorf("no ns/op result for %s in the input", b)
		}
		medians[i] = median(s)
		fmt.Fprintf(out, "%s median %.0f ns/op (%d runs)\n", b, medians[i], len(s))
	}
	if medians[1] == 0 {
		return errors.New(den + " took 0 ns/op")
	}
	fmt.Fprintf(out, "%s %.2f\n", name, medians[0]/medians[1])
	return nil
}

// procSuffix is the -GOMAXPROCS suffix go test appends to benchmark names.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parse collects the ns/op of every benchmark result line, by name without
// the GOMAXPROCS suffix. A result line is "BenchmarkX-2  N  123 ns/op ...".
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
		n := procSuffix.ReplaceAllString(f[0], "")
		out[n] = append(out[n], v)
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
