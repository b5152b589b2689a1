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

func TestRatio(t *testing.T) {
	var out bytes.Buffer
	if err := run(strings.NewReader(sample), &out, "BenchmarkSign2of3/grpc", "BenchmarkSign2of3/raw", "sign-overhead-ratio"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, sample) {
		t.Errorf("the input is not echoed first:\n%s", got)
	}
	// grpc median (250+260)/2 = 255 ms, raw median 200 ms
	for _, want := range []string{
		"BenchmarkSign2of3/grpc median 255000000 ns/op (4 runs)\n",
		"BenchmarkSign2of3/raw median 200000000 ns/op (4 runs)\n",
		"sign-overhead-ratio 1.27\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got[len(sample):])
		}
	}
}

func TestMissingBenchmark(t *testing.T) {
	var out bytes.Buffer
	err := run(strings.NewReader("BenchmarkSign2of3/raw-2  5  100 ns/op\n"), &out, "BenchmarkSign2of3/grpc", "BenchmarkSign2of3/raw", "r")
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
