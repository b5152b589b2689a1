package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/countersign/countersign/signer
cpu: Intel(R) Xeon(R) CPU
BenchmarkSign2of3/raw-2         	       5	 200000000 ns/op	 1234 B/op	  56 allocs/op
BenchmarkSign2of3/grpc-2        	       5	 260000000 ns/op
BenchmarkSign2of3/raw-2         	       5	 100000000 ns/op
BenchmarkSign2of3/grpc-2        	       5	 240000000 ns/op
BenchmarkSign2of3/raw-2         	       5	 300000000 ns/op
BenchmarkSign2of3/grpc-2        	       5	 250000000 ns/op
BenchmarkSign2of3/raw-2         	       5	 200000000 ns/op
BenchmarkSign2of3/grpc-2        	       5	 900000000 ns/op
--- BENCH: BenchmarkSomething-2 3 not a number ns/op
PASS
ok  	github.com/countersign/countersign/signer	12.3s
`

// withdrawals are the other benchmarks of make bench, as go test prints them
// with GOMAXPROCS 2.
const withdrawals = `BenchmarkSignDigests/raw-1-2   	       3	 400000000 ns/op
BenchmarkSignDigests/raw-3-2   	       3	 900000000 ns/op
BenchmarkWithdrawal/inputs-1-2 	       3	 500000000 ns/op
BenchmarkWithdrawal/inputs-3-2 	       3	1350000000 ns/op
BenchmarkRederive10Inputs-2    	     100	   4215000 ns/op	  300000 B/op	 4000 allocs/op
BenchmarkRederive10Inputs-2    	     100	   4000000 ns/op	  300000 B/op	 4000 allocs/op
BenchmarkRederive10Inputs-2    	     100	   5000000 ns/op	  300000 B/op	 4000 allocs/op
BenchmarkDecide10Inputs-2      	     100	   4500000 ns/op	  300000 B/op	 4000 allocs/op
BenchmarkWithdrawal/eth-2      	       3	 440000000 ns/op
BenchmarkDecideERC20-2         	     100	    451234 ns/op	   17000 B/op	  280 allocs/op
`

func TestSummaries(t *testing.T) {
	var out bytes.Buffer
	in := sample + withdrawals
	if err := run(strings.NewReader(in), &out, summaries); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, in) {
		t.Errorf("the input is not echoed first:\n%s", got)
	}
	// grpc median (250+260)/2 = 255 ms, raw median 200 ms
	for _, want := range []string{
		"BenchmarkSign2of3/grpc median 255000000 ns/op (4 runs)\n",
		"BenchmarkSign2of3/raw median 200000000 ns/op (4 runs)\n",
		"sign-overhead-ratio 1.27\n",
		"BenchmarkWithdrawal/inputs-1 median 500000000 ns/op (1 runs)\n",
		"withdrawal-overhead-ratio-1 1.25\n",
		"withdrawal-overhead-ratio-3 1.50\n",
		"BenchmarkRederive10Inputs median 4215000 ns/op (3 runs)\n",
		"rederive-10-inputs-ms 4.21\n",
		"BenchmarkDecide10Inputs median 4500000 ns/op (1 runs)\n",
		"policy-decision-10-inputs-ms 4.50\n",
		"withdrawal-overhead-ratio-eth 1.10\n",
		"policy-decision-eth-us 451.23\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got[len(in):])
		}
	}
}

// With GOMAXPROCS 1, go test appends no suffix: "inputs-1" is the whole name.
func TestNamesWithoutProcSuffix(t *testing.T) {
	in := strings.ReplaceAll(sample+withdrawals, "-2 ", " ")
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out, summaries); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sign-overhead-ratio 1.27\n", "withdrawal-overhead-ratio-3 1.50\n", "rederive-10-inputs-ms 4.21\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String()[len(in):])
		}
	}
}

func TestMissingBenchmark(t *testing.T) {
	var out bytes.Buffer
	err := run(strings.NewReader(sample), &out, summaries)
	if err == nil || !strings.Contains(err.Error(), "BenchmarkWithdrawal/inputs-1") || !strings.Contains(err.Error(), "BenchmarkRederive10Inputs") {
		t.Errorf("err = %v, want one naming the missing benchmarks", err)
	}
	if !strings.Contains(out.String(), "sign-overhead-ratio 1.27\n") {
		t.Errorf("the lines that can be computed are not printed:\n%s", out.String()[len(sample):])
	}
	err = run(strings.NewReader("BenchmarkSign2of3/raw-2  5  100 ns/op\n"), &out, []summary{{name: "r", num: "BenchmarkSign2of3/grpc", den: "BenchmarkSign2of3/raw"}})
	if err == nil || !strings.Contains(err.Error(), "BenchmarkSign2of3/grpc") {
		t.Errorf("err = %v, want one naming the missing benchmark", err)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
