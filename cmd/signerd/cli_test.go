package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/signer"
)

// cliResult is what one signerd invocation did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs signerd with args and the environment env.
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	return runCLICtx(t, t.Context(), env, args...)
}

func runCLICtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, env: envFunc(env)}
	code := c.report(c.run(ctx, args))
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "signerd help"}},
		{"help of unknown command", []string{"help", "frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"undefined flag", []string{"-bogus"}, []string{"flag provided but not defined: -bogus", "signerd help"}},
		{"an argument after the flags", []string{"-config", "c.json", "dev"}, []string{`unexpected argument "dev": a command comes first`}},
		{"version with an argument", []string{"version", "now"}, []string{`unexpected argument "now"`, "usage: signerd version"}},
		{"bad flag value", []string{"init", "-nodes", "three"}, []string{`invalid value "three" for flag -nodes`, "usage: signerd init"}},
		{"threshold above nodes", []string{"init", "-nodes", "3", "-threshold", "4"}, []string{"-threshold 4: want 2 to -nodes (3)"}},
		{"threshold of one", []string{"init", "-threshold", "1"}, []string{"-threshold 1: want 2 to -nodes (3)"}},
		{"too many nodes", []string{"init", "-nodes", "17"}, []string{"-nodes 17: want 2 to 16"}},
		{"port out of range", []string{"init", "-base-port", "65535"}, []string{"-base-port 65535: want 1 to 65533"}},
		{"empty pool", []string{"init", "-pool", "0"}, []string{"-pool 0: want 1 to 64"}},
		{"addresses do not match nodes", []string{"init", "-addresses", "127.0.0.1:1,127.0.0.1:2"}, []string{"-addresses lists 2 addresses for 3 nodes"}},
		{"dev with a bad log level", []string{"dev", "-log-level", "loud"}, []string{`-log-level "loud"`, "usage: signerd dev"}},
		{"dev with a stray argument", []string{"dev", "now"}, []string{`unexpected argument "now"`, "usage: signerd dev"}},
		{"init without genesis", []string{"init"}, []string{"-genesis is required", "usage: signerd init -genesis FILE"}},
		{"reseal without -to", []string{"reseal", "-config", "c.json"}, []string{"-to is required", "usage: signerd reseal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // nothing may be written by accident
			r := runCLI(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if entries, _ := os.ReadDir("."); len(entries) > 0 {
				t.Errorf("a usage error wrote %s", entries[0].Name())
			}
		})
	}
}

// Help, in every spelling, describes signerd and its commands, and never
// tries to serve a node (there is no config.json where it runs).
func TestHelp(t *testing.T) {
	usage := []string{"usage: signerd [-config FILE]", "signerd COMMAND", "init", "dev", "reseal", "version", "-config", "Exit codes"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, usage},
		{[]string{"-h"}, usage},
		{[]string{"-help"}, usage},
		{[]string{"--help"}, usage},
		{[]string{"-config", "node.json", "-h"}, usage},
		{[]string{"help", "init"}, []string{"usage: signerd init -genesis FILE", "-passphrase-env", "ca-key.pem", "FILE.sigs"}},
		{[]string{"help", "dev"}, []string{"usage: signerd dev", "-preparams", "-genesis", "-log-level"}},
		{[]string{"dev", "-h"}, []string{"usage: signerd dev", "-preparams"}},
		{[]string{"help", "reseal"}, []string{"usage: signerd reseal -config CONFIG -to software|tpm", "-pcrs", "-to-key-file"}},
		{[]string{"reseal", "-h"}, []string{"usage: signerd reseal", "-pcrs"}},
		{[]string{"help", "version"}, []string{"usage: signerd version", "Go version"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir())
			r := runCLI(t, nil, tt.args...)
			out := r.stdout
			if tt.args[0] == "reseal" {
				out = r.stderr // reseal -h prints where reseal prints its errors
			} else if r.stderr != "" {
				t.Errorf("stderr %q; want nothing", r.stderr)
			}
			if r.code != 0 {
				t.Fatalf("exit code %d; want 0\n%s", r.code, r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("help does not say %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	if want := "signerd " + signer.Version + " (" + runtime.Version(); r.code != 0 || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("version: exit code %d, %q; want 0 and %q...", r.code, r.stdout, want)
	}
}

// Without a command, signerd serves the node -config names (config.json
// by default), and says which file it could not read.
func TestServeNeedsAConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{nil, {"-config", "node-1.json"}} {
		want := "config.json"
		if len(args) > 0 {
			want = args[1]
		}
		r := runCLI(t, nil, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "signerd: config: open "+want) {
			t.Errorf("signerd %v: exit code %d, stderr:\n%s\nwant 1 naming %s", args, r.code, r.stderr, want)
		}
	}
}

// Every command's synopsis names only flags the command has. reseal
// declares its flags itself (its own test covers them).
func TestSynopsesNameRealFlags(t *testing.T) {
	c := &cli{}
	for _, cmd := range commands {
		if cmd == resealCommand {
			continue
		}
		fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
		cmd.Flags(c, fs)
		for _, word := range strings.Fields(strings.NewReplacer("[", " ", "]", " ", "|", " ").Replace(cmd.Args)) {
			if name, ok := strings.CutPrefix(word, "-"); ok && fs.Lookup(name) == nil {
				t.Errorf("%s: synopsis names -%s, which is not a flag", cmd.Name, name)
			}
		}
	}
}

// freeAddresses returns n loopback addresses nothing listens on right now.
func freeAddresses(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}
