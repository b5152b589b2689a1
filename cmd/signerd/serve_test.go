package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/policy/policytest"
)

// TestServeFromTheClusterDirectory starts a node as the README says to in
// production, from the cluster directory with a relative -config: every
// path of the config (the sealer's key file among them) is relative to
// the config's own directory, resolved once.
func TestServeFromTheClusterDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	port := strings.Split(freeAddresses(t, 1)[0], ":")[1]
	r := runCLI(t, nil, "init", "-dir", dir, "-genesis", writeGenesis(t, policytest.Alice, policytest.Bob), "-nodes", "2", "-base-port", port)
	if r.code != 0 {
		t.Fatalf("init: exit code %d\n%s", r.code, r.stderr)
	}
	config := filepath.Join("nodes", "node-1", "config.json")
	setPoolTarget(t, filepath.Join(dir, config), 0) // no safe primes in a test
	t.Chdir(dir)

	if code, logs := serveOnce(t, "-config", config); code != 0 {
		t.Fatalf("signerd -config %s from the cluster directory: exit code %d\n%s", config, code, logs)
	}

	// reseal reads the same config from the same place.
	rr := runCLI(t, nil, "reseal", "-config", config, "-to", "software", "-no-passphrase", "-yes")
	if rr.code != 0 {
		t.Fatalf("reseal -config %s from the cluster directory: exit code %d\n%s%s", config, rr.code, rr.stdout, rr.stderr)
	}
	raw, err := readRawConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	if k := raw.Sealer.KeyFile; k == "sealer.key" || filepath.Base(k) != k {
		t.Errorf("reseal wrote key_file %q; want a new file beside the config, named relative to it", raw.Sealer.KeyFile)
	}
	if _, err := os.Stat(filepath.Join("nodes", "node-1", raw.Sealer.KeyFile)); err != nil {
		t.Errorf("the new key file is not beside the config: %v", err)
	}
}

// serveOnce runs signerd with args until it serves, then stops it, and
// returns its exit code and what it wrote. A node that does not start
// returns at once.
func serveOnce(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		c := &cli{stdin: strings.NewReader(""), stdout: &logs, stderr: &logs, env: envFunc(nil)}
		done <- c.report(c.run(ctx, args))
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(logs.String(), "msg=serving") {
		select {
		case code := <-done:
			return code, logs.String()
		case <-deadline:
			t.Fatalf("signerd %s did not serve within 30s:\n%s", strings.Join(args, " "), logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	return <-done, logs.String()
}

// TestServeRefusesADamagedDatabase starts a node whose node.db lost its
// newer meta page: bbolt would open it as of the transaction before, so
// the node refuses to start, says what is damaged and what to do, and
// starts only when the operator accepts the older meta page.
func TestServeRefusesADamagedDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	port := strings.Split(freeAddresses(t, 1)[0], ":")[1]
	if r := runCLI(t, nil, "init", "-dir", dir, "-genesis", writeGenesis(t, policytest.Alice, policytest.Bob), "-nodes", "2", "-base-port", port); r.code != 0 {
		t.Fatalf("init: exit code %d\n%s", r.code, r.stderr)
	}
	config := filepath.Join(dir, "nodes", "node-1", "config.json")
	setPoolTarget(t, config, 0)
	if code, logs := serveOnce(t, "-config", config); code != 0 { // writes node.db
		t.Fatalf("first start: exit code %d\n%s", code, logs)
	}

	// Flip a byte of the newer meta page (bbolt writes transaction n's
	// meta to page n%2, 4096 bytes each here), inside its root page id.
	db := filepath.Join(dir, "nodes", "node-1", "data", "node.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	txid := func(page int) uint64 { return binary.LittleEndian.Uint64(b[page*4096+16+48:]) }
	newer := 0
	if txid(1) > txid(0) {
		newer = 1
	}
	b[newer*4096+16+20] ^= 0xff
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}

	code, logs := serveOnce(t, "-config", config)
	for _, want := range []string{
		"node.db is damaged: meta page " + strconv.Itoa(newer) + " is damaged (checksum mismatch)",
		"the older of the two",
		"restore the node's data directory from a backup, or re-provision the node from its peers",
		"-accept-meta-fallback",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("signerd on the damaged node.db does not say %q:\n%s", want, logs)
		}
	}
	if code != 1 || strings.Contains(logs, "panic") || strings.Contains(logs, "msg=serving") {
		t.Fatalf("signerd on the damaged node.db: exit code %d, want 1 without serving\n%s", code, logs)
	}
	if code, logs := serveOnce(t, "-config", config, "-accept-meta-fallback"); code != 0 {
		t.Fatalf("signerd -accept-meta-fallback: exit code %d\n%s", code, logs)
	}
	// The node committed on the older meta page: the file is whole again.
	if code, logs := serveOnce(t, "-config", config); code != 0 {
		t.Fatalf("signerd after the fallback was accepted: exit code %d\n%s", code, logs)
	}

	// Pages lost: no flag starts the node.
	if err := os.Truncate(db, 3*4096); err != nil {
		t.Fatal(err)
	}
	code, logs = serveOnce(t, "-config", config, "-accept-meta-fallback")
	if want := "node.db is damaged: the file is truncated: 12288 bytes"; code != 1 || !strings.Contains(logs, want) ||
		!strings.Contains(logs, "; the node does not start on it: restore the node's data directory from a backup, or re-provision the node from its peers") {
		t.Fatalf("signerd on a truncated node.db: exit code %d, want 1 saying %q and what to do\n%s", code, want, logs)
	}
}

// setPoolTarget rewrites a config file's preparams.target, leaving every
// other field as written.
func setPoolTarget(t *testing.T, path string, target int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["preparams"] = json.RawMessage(`{"target":` + strconv.Itoa(target) + `}`)
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
