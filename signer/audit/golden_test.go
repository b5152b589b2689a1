package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/record-v1.golden")

const goldenFile = "testdata/record-v1.golden"

// noRand fails every read: what uses it must be deterministic.
type noRand struct{}

func (noRand) Read([]byte) (int, error) { return 0, errors.New("no randomness in golden data") }

// goldenLog builds the known-answer log: two records signed with an Ed25519
// key from a fixed seed, so that every byte is the same on every run.
func goldenLog(t *testing.T) (ed25519.PrivateKey, []*Record) {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	key := ed25519.NewKeyFromSeed(seed)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "node-a"},
		DNSNames:     []string{"node-a"},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := x509.CreateCertificate(noRand{}, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Body(Genesis{NodeID: "node-a", CertDER: cert, Format: Version})
	if err != nil {
		t.Fatal(err)
	}
	r0, err := Next(nil, KindGenesis, g, time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Body(WalletCreated{
		WalletID: "w1", Label: "hot", PublicKey: "02" + strings.Repeat("ab", 32), Threshold: 1,
		Nodes: []string{"node-a", "node-b", "node-c"}, SessionID: strings.Repeat("01", 16), ChainCodeHash: strings.Repeat("cd", 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := Next(r0, KindWalletCreated, b, time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), key)
	if err != nil {
		t.Fatal(err)
	}
	return key, []*Record{r0, r1}
}

func formatGolden(key ed25519.PrivateKey, recs []*Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Audit record format version %d: a known-answer log of %d records.\n", Version, len(recs))
	fmt.Fprintf(&b, "# Ed25519 key from the seed below; each record's hash and encoding in hex.\n")
	fmt.Fprintf(&b, "# Any change to this file is a format change and needs a new version.\n")
	fmt.Fprintf(&b, "ed25519_seed %x\n", key.Seed())
	fmt.Fprintf(&b, "public_key %x\n", key.Public())
	for _, r := range recs {
		h := r.Hash()
		fmt.Fprintf(&b, "hash %d %x\n", r.Seq, h)
		fmt.Fprintf(&b, "record %d %x\n", r.Seq, r.Encode())
	}
	return b.Bytes()
}

// readGolden returns the public key, hashes and encodings of the golden file.
func readGolden(t *testing.T, data []byte) (ed25519.PublicKey, [][]byte, [][]byte) {
	t.Helper()
	var pub ed25519.PublicKey
	var hashes, records [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		v, err := hex.DecodeString(f[len(f)-1])
		if err != nil {
			t.Fatalf("%s: %v", goldenFile, err)
		}
		switch f[0] {
		case "public_key":
			pub = v
		case "hash":
			hashes = append(hashes, v)
		case "record":
			records = append(records, v)
		}
	}
	return pub, hashes, records
}

func TestGolden(t *testing.T) {
	key, recs := goldenLog(t)
	got := formatGolden(key, recs)
	if *update {
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("records differ from %s: the format, hashing or signing changed.\ngot:\n%s", goldenFile, got)
	}

	// The file checks itself, whatever the code above builds.
	pub, hashes, records := readGolden(t, want)
	if len(records) != 2 || len(hashes) != len(records) {
		t.Fatalf("%s: %d records and %d hashes, want 2 of each", goldenFile, len(records), len(hashes))
	}
	v := NewVerifier(pub)
	for i, b := range records {
		r, err := Decode(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if h := r.Hash(); !bytes.Equal(h[:], hashes[i]) {
			t.Errorf("record %d: hash %x, file says %x", i, h, hashes[i])
		}
		if err := v.Add(uint64(i), b); err != nil {
			t.Fatal(err)
		}
	}
	head, err := v.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if head.Seq != 1 || !bytes.Equal(head.Hash[:], hashes[1]) {
		t.Errorf("head %v, want record 1", head)
	}
}
