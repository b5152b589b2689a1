package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"github.com/rogpeppe/go-internal/testscript"
)

// The fixture: the audit logs of a real 2-of-3 cluster run (see
// testdata/cluster/README.md), read-only.
const fixtureDir = "testdata/cluster"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"auditor": func() {
			c := &cli{stdout: os.Stdout, stderr: os.Stderr}
			os.Exit(c.exitCode(c.run(context.Background(), os.Args[1:])))
		},
	})
}

// TestScripts runs testdata/script/*.txt: the CLI as an auditor uses it.
// $FIXTURE is the real cluster's logs; "tamper" makes a tampered copy.
func TestScripts(t *testing.T) {
	fixture, err := filepath.Abs(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("FIXTURE", fixture)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"tamper": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 4 {
					ts.Fatalf("usage: tamper edit|delete|swap|resign|truncate SRC DST SEQ [SEQ2]")
				}
				var seqs []uint64
				for _, a := range args[3:] {
					n, err := strconv.ParseUint(a, 10, 64)
					ts.Check(err)
					seqs = append(seqs, n)
				}
				ts.Check(tamper(args[0], ts.MkAbs(args[1]), ts.MkAbs(args[2]), seqs...))
			},
		},
	})
}

// tamper copies the log at src to a new database at dst, changed as op
// says at record seqs[0]:
//
//	edit      flip a byte of the record's body, keeping its signature
//	delete    leave the record out
//	swap      store records seqs[0] and seqs[1] under each other's keys
//	resign    change the body and sign the record again with another key
//	truncate  leave out the record and every later one
func tamper(op, src, dst string, seqs ...uint64) error {
	in, err := store.OpenAuditLog(src)
	if err != nil {
		return err
	}
	defer in.Close()
	type pair struct {
		key   uint64
		value []byte
	}
	var ps []pair
	err = in.Records(func(k uint64, v []byte) bool {
		ps = append(ps, pair{k, append([]byte(nil), v...)})
		return true
	})
	if err != nil {
		return err
	}
	at := seqs[0]
	if at >= uint64(len(ps)) {
		return fmt.Errorf("tamper: the log has %d records, no record %d", len(ps), at)
	}
	switch op {
	case "edit", "resign":
		r, err := audit.Decode(ps[at].value)
		if err != nil {
			return err
		}
		r.Body = append([]byte(nil), r.Body...)
		r.Body[len(r.Body)/2] ^= 0x01
		if op == "resign" {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			h := r.Hash()
			if r.Sig, err = ecdsa.SignASN1(rand.Reader, key, h[:]); err != nil {
				return err
			}
		}
		ps[at].value = r.Encode()
	case "delete":
		ps = append(ps[:at], ps[at+1:]...)
	case "swap":
		if len(seqs) != 2 || seqs[1] >= uint64(len(ps)) {
			return fmt.Errorf("tamper: swap needs two records of the log")
		}
		ps[at].value, ps[seqs[1]].value = ps[seqs[1]].value, ps[at].value
	case "truncate":
		ps = ps[:at]
	default:
		return fmt.Errorf("tamper: unknown operation %q", op)
	}
	w, err := store.CreateAuditLog(dst)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := w.Put(p.key, p.value); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}
