package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
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
// $FIXTURE is the real cluster's logs, $OFFICERS those of an officer's day
// (testdata/replay), $ETHEREUM those of Ethereum withdrawals
// (testdata/ethereum); "tamper" makes a tampered copy, "rewrite" one signed
// again with the node's key.
func TestScripts(t *testing.T) {
	fixture, err := filepath.Abs(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("FIXTURE", fixture)
			env.Setenv("OFFICERS", filepath.Join(filepath.Dir(fixture), "replay"))
			env.Setenv("ETHEREUM", filepath.Join(filepath.Dir(fixture), "ethereum"))
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
			"damage": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 3 {
					ts.Fatalf("usage: damage pagetype|truncate|meta SRC DST")
				}
				ts.Check(damage(args[0], ts.MkAbs(args[1]), ts.MkAbs(args[2])))
			},
			"rewrite": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 5 {
					ts.Fatalf("usage: rewrite SRC DST SEQ KEY EDIT...")
				}
				seq, err := strconv.ParseUint(args[2], 10, 64)
				ts.Check(err)
				ts.Check(rewrite(ts.MkAbs(args[0]), ts.MkAbs(args[1]), seq, ts.MkAbs(args[3]), args[4:]))
			},
		},
	})
}

// damage copies the database file src to dst and damages the copy as a
// failing disk or a crash does, below the records:
//
//	pagetype  the audit bucket's root page gets a page type that does not exist
//	leaf      so does the last leaf page in use, in the middle of the log
//	truncate  the file loses its last two pages in use
//	meta      the newer meta page gets a byte flipped (its checksum fails)
func damage(op, src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	const pageSize = 4096 // of the fixtures
	meta := func(page int) (hwm, txid uint64) {
		m := b[page*pageSize+16:] // after the page header
		return binary.LittleEndian.Uint64(m[40:]), binary.LittleEndian.Uint64(m[48:])
	}
	newer := 0
	hwm, txid := meta(0)
	if h1, t1 := meta(1); t1 > txid {
		newer, hwm = 1, h1
	}
	switch op {
	case "pagetype", "leaf":
		db, err := bolt.Open(src, 0o400, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
		if err != nil {
			return err
		}
		var page uint64
		_ = db.View(func(tx *bolt.Tx) error {
			page = uint64(tx.Bucket([]byte("audit")).RootPage())
			if op == "leaf" {
				for id := int(hwm) - 1; id > 1; id-- {
					if info, err := tx.Page(id); err == nil && info != nil && info.Type == "leaf" && id != int(tx.Cursor().Bucket().RootPage()) {
						page = uint64(id)
						break
					}
				}
			}
			return nil
		})
		db.Close()
		if page == 0 {
			return fmt.Errorf("damage: the audit bucket of %s is inline", src)
		}
		binary.LittleEndian.PutUint16(b[page*pageSize+8:], 0x40)
	case "truncate":
		b = b[:(hwm-2)*pageSize]
	case "meta":
		b[newer*pageSize+16+20] ^= 0xff
	default:
		return fmt.Errorf("damage: unknown operation %q", op)
	}
	return os.WriteFile(dst, b, 0o600)
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

// rewrite copies the log at src to dst with the body of record seq edited,
// then chains and signs that record and every later one again with the
// node's key (a PEM file), as a node holding its key could: the copy
// verifies, and only a check of what the records say can find the change.
// Each edit is FIELD=JSON (set a top-level field of the body) or
// FIELD~OLD~NEW (replace text in a string field; in the first element of
// an array of strings; in the decoded bytes of "bundle").
func rewrite(src, dst string, seq uint64, keyFile string, edits []string) error {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key, err := pki.SignerFromKeyPEM(keyPEM)
	if err != nil {
		return err
	}
	in, err := store.OpenAuditLog(src)
	if err != nil {
		return err
	}
	defer in.Close()
	w, err := store.CreateAuditLog(dst)
	if err != nil {
		return err
	}
	var prev *audit.Record
	err = in.Records(func(k uint64, v []byte) bool {
		r, derr := audit.Decode(v)
		if derr != nil {
			err = derr
			return false
		}
		if k == seq {
			if r.Body, err = editBody(r.Body, edits); err != nil {
				return false
			}
		}
		if k >= seq {
			if r, err = audit.Next(prev, r.Kind, r.Body, r.Time, key); err != nil {
				return false
			}
		}
		if err = w.Put(k, r.Encode()); err != nil {
			return false
		}
		prev = r
		return true
	})
	if err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

func editBody(body []byte, edits []string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	for _, e := range edits {
		if field, val, ok := strings.Cut(e, "="); ok && !strings.Contains(field, "~") {
			if !json.Valid([]byte(val)) {
				return nil, fmt.Errorf("rewrite: %s: not JSON", e)
			}
			m[field] = json.RawMessage(val)
			continue
		}
		parts := strings.Split(e, "~")
		if len(parts) != 3 {
			return nil, fmt.Errorf("rewrite: edit %q: want FIELD=JSON or FIELD~OLD~NEW", e)
		}
		field, old, repl := parts[0], parts[1], parts[2]
		var str string
		var list []string
		isList := json.Unmarshal(m[field], &list) == nil && len(list) > 0
		if isList {
			str = list[0]
		} else if err := json.Unmarshal(m[field], &str); err != nil {
			return nil, fmt.Errorf("rewrite: %s is not a string", field)
		}
		if field == "bundle" {
			b, err := base64.StdEncoding.DecodeString(str)
			if err != nil {
				return nil, err
			}
			str = string(b)
		}
		if !strings.Contains(str, old) {
			return nil, fmt.Errorf("rewrite: %s does not contain %q", field, old)
		}
		str = strings.Replace(str, old, repl, 1)
		if field == "bundle" {
			str = base64.StdEncoding.EncodeToString([]byte(str))
		}
		var v any = str
		if isList {
			list[0] = str
			v = list
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[field] = raw
	}
	return json.Marshal(m)
}
