package hsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func init() {
	// Keep passphrase tests fast; production keys use age's default.
	scryptWorkFactor = 10
}

// newTestSoftware returns a Software sealer backed by a fresh unprotected
// key file in a temporary directory.
func newTestSoftware(tb testing.TB) *Software {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "hsm.key")
	if err := GenerateSoftwareKey(path, nil); err != nil {
		tb.Fatal(err)
	}
	s, err := OpenSoftware(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

type namedSealer struct {
	name string
	s    Sealer
}

func testSealers(tb testing.TB) []namedSealer {
	return []namedSealer{
		{"software", newTestSoftware(tb)},
		{"memory", NewMemory()},
	}
}

func TestRoundTrip(t *testing.T) {
	longLabel := strings.Repeat("x", MaxLabelLen)
	tests := []struct {
		name      string
		label     string
		plaintext []byte
	}{
		{"empty", "share/w-1a2b", []byte{}},
		{"one byte", "share/w-1a2b", []byte{0}},
		{"16 KiB", "preparams/7", bytes.Repeat([]byte{0xa5}, 16<<10)},
		{"age chunk boundary", "preparams/8", bytes.Repeat([]byte{1}, 64<<10)},
		{"past age chunk boundary", "preparams/9", bytes.Repeat([]byte{2}, 64<<10+1)},
		{"longest label", longLabel, []byte("secret")},
		{"one-byte label", "a", []byte("secret")},
		{"all printable label", "!~share/W_1.2:3@x", []byte("secret")},
	}
	for _, ns := range testSealers(t) {
		for _, tt := range tests {
			t.Run(ns.name+"/"+tt.name, func(t *testing.T) {
				blob, err := ns.s.Seal(tt.label, tt.plaintext)
				if err != nil {
					t.Fatal(err)
				}
				if len(tt.plaintext) > 4 && bytes.Contains(blob, tt.plaintext) {
					t.Fatal("blob contains the plaintext")
				}
				got, err := ns.s.Unseal(tt.label, blob)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil || !bytes.Equal(got, tt.plaintext) {
					t.Fatalf("Unseal = %d bytes (nil %t), want %d bytes", len(got), got == nil, len(tt.plaintext))
				}
				again, err := ns.s.Seal(tt.label, tt.plaintext)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(blob, again) {
					t.Fatal("two seals of the same secret are identical")
				}
			})
		}
	}
}

func TestWrongLabel(t *testing.T) {
	for _, ns := range testSealers(t) {
		t.Run(ns.name, func(t *testing.T) {
			blob, err := ns.s.Seal("share/w-1a2b", []byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			for _, label := range []string{"share/w-1a2c", "share/w-1a2", "share/w-1a2bb", "preparams/0"} {
				got, err := ns.s.Unseal(label, blob)
				if !errors.Is(err, ErrWrongLabel) || errors.Is(err, ErrCorrupt) {
					t.Errorf("Unseal(%q) error = %v, want ErrWrongLabel only", label, err)
				}
				if got != nil {
					t.Errorf("Unseal(%q) returned plaintext with an error", label)
				}
			}
		})
	}
}

func TestInvalidLabel(t *testing.T) {
	tests := []struct {
		name  string
		label string
	}{
		{"empty", ""},
		{"too long", strings.Repeat("x", MaxLabelLen+1)},
		{"space", "share w"},
		{"newline", "share\n"},
		{"NUL", "share\x00"},
		{"DEL", "share\x7f"},
		{"non-ASCII", "shäre"},
	}
	for _, ns := range testSealers(t) {
		good, err := ns.s.Seal("share/w-1", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(ns.name+"/"+tt.name, func(t *testing.T) {
				if _, err := ns.s.Seal(tt.label, []byte("secret")); !errors.Is(err, ErrInvalidLabel) {
					t.Errorf("Seal error = %v, want ErrInvalidLabel", err)
				}
				if _, err := ns.s.Unseal(tt.label, good); !errors.Is(err, ErrInvalidLabel) {
					t.Errorf("Unseal error = %v, want ErrInvalidLabel", err)
				}
			})
		}
	}
}

func TestTooLarge(t *testing.T) {
	big := make([]byte, MaxPlaintextLen+1)
	for _, ns := range testSealers(t) {
		t.Run(ns.name, func(t *testing.T) {
			if _, err := ns.s.Seal("big", big); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Seal error = %v, want ErrTooLarge", err)
			}
		})
	}
}

// TestTamper changes a sealed blob in every byte, cuts it at every length
// and extends it: each must fail with ErrCorrupt, never with ErrWrongLabel,
// never returning plaintext.
func TestTamper(t *testing.T) {
	const label = "share/w-1a2b"
	for _, ns := range testSealers(t) {
		t.Run(ns.name, func(t *testing.T) {
			blob, err := ns.s.Seal(label, []byte("a secret of some thirty bytes.."))
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, b []byte) {
				t.Helper()
				got, err := ns.s.Unseal(label, b)
				if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrWrongLabel) {
					t.Fatalf("%s: error = %v, want ErrCorrupt only", what, err)
				}
				if got != nil {
					t.Fatalf("%s: plaintext returned with an error", what)
				}
			}
			for i := range blob {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(blob)
					b[i] ^= mask
					check(fmt.Sprintf("byte %d ^ %#02x", i, mask), b)
				}
			}
			for n := range len(blob) {
				check(fmt.Sprintf("cut to %d bytes", n), blob[:n:n])
			}
			check("one byte appended", append(bytes.Clone(blob), 0))
			check("blob doubled", append(bytes.Clone(blob), blob...))
			if _, err := ns.s.Unseal(label, blob); err != nil {
				t.Fatalf("original no longer unseals: %v", err)
			}
		})
	}
}

func TestOtherKey(t *testing.T) {
	soft1, soft2 := newTestSoftware(t), newTestSoftware(t)
	mem1, mem2 := NewMemory(), NewMemory()
	tests := []struct {
		name       string
		seal, open Sealer
	}{
		{"software to other software", soft1, soft2},
		{"memory to other memory", mem1, mem2},
		{"software to memory", soft1, mem1},
		{"memory to software", mem1, soft1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := tt.seal.Seal("share/w-1", []byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tt.open.Unseal("share/w-1", blob); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Unseal error = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestKeyFile(t *testing.T) {
	tests := []struct {
		name       string
		passphrase []byte
		prefix     string
	}{
		{"unprotected", nil, "# countersign hsm key"},
		{"protected", []byte("correct horse battery staple"), "-----BEGIN AGE ENCRYPTED FILE-----"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hsm.key")
			if err := GenerateSoftwareKey(path, tt.passphrase); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("key file mode = %v, want 0600", perm)
			}
			content, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(content, []byte(tt.prefix)) {
				t.Errorf("key file starts %q, want %q", content[:min(len(content), 40)], tt.prefix)
			}
			if protected := len(tt.passphrase) > 0; protected == bytes.Contains(content, []byte("AGE-SECRET-KEY-")) {
				t.Errorf("key file in the clear = %t, want %t", !protected, protected)
			}

			s1, err := OpenSoftware(path, tt.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			blob, err := s1.Seal("share/w-1", []byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			s2, err := OpenSoftware(path, tt.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s2.Unseal("share/w-1", blob)
			if err != nil || string(got) != "secret" {
				t.Fatalf("Unseal after reopening = %q, %v", got, err)
			}
		})
	}
}

func TestOpenSoftwareErrors(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("correct horse battery staple")
	protected := filepath.Join(dir, "protected.key")
	if err := GenerateSoftwareKey(protected, pass); err != nil {
		t.Fatal(err)
	}
	unprotected := filepath.Join(dir, "unprotected.key")
	if err := GenerateSoftwareKey(unprotected, nil); err != nil {
		t.Fatal(err)
	}
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	protectedContent, err := os.ReadFile(protected)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(protectedContent)
	damaged[len(damaged)/2] ^= 0x01
	unprotectedContent, err := os.ReadFile(unprotected)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		path       string
		passphrase []byte
		wantMsg    string
		wantAlso   error
	}{
		{"wrong passphrase", protected, []byte("incorrect horse"), "wrong passphrase: try again", nil},
		{"no passphrase for protected file", protected, nil, "give its passphrase", nil},
		{"passphrase for unprotected file", unprotected, pass, "not passphrase-protected", nil},
		{"missing file", filepath.Join(dir, "absent.key"), nil, "absent.key", fs.ErrNotExist},
		{"garbage", write("garbage.key", []byte("hello\n")), nil, "no valid age identity", nil},
		{"empty", write("empty.key", nil), nil, "no valid age identity", nil},
		{"damaged protected file", write("damaged.key", damaged), pass, "restore it from its backup", nil},
		{"two identities", write("two.key", append(bytes.Clone(unprotectedContent), unprotectedContent...)), nil, "2 identities", nil},
		{"too large", write("large.key", bytes.Repeat([]byte("#\n"), maxKeyFileLen)), nil, "larger than", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenSoftware(tt.path, tt.passphrase)
			if !errors.Is(err, ErrLocked) {
				t.Fatalf("error = %v, want ErrLocked", err)
			}
			if s != nil {
				t.Error("returned a sealer with an error")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if tt.wantAlso != nil && !errors.Is(err, tt.wantAlso) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantAlso)
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

func TestGenerateRefusesOverwrite(t *testing.T) {
	for _, pass := range [][]byte{nil, []byte("pass")} {
		path := filepath.Join(t.TempDir(), "hsm.key")
		if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := GenerateSoftwareKey(path, pass)
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("error = %v, want fs.ErrExist", err)
		}
		if got, _ := os.ReadFile(path); string(got) != "precious" {
			t.Fatalf("existing file changed to %q", got)
		}
	}
}

func TestRedaction(t *testing.T) {
	soft := newTestSoftware(t)
	secret := soft.id.String()
	if !strings.HasPrefix(secret, "AGE-SECRET-KEY-1") {
		t.Fatalf("unexpected identity encoding %q", secret[:10])
	}
	mem := NewMemory()
	for _, v := range []any{soft, *soft, mem, *mem} {
		name := fmt.Sprintf("%T", v)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(strings.ToUpper(out), secret) {
				t.Errorf("%s formatted with %s shows the key", name, verb)
			}
			if verb == "%v" && !strings.Contains(out, "REDACTED") {
				t.Errorf("%s formatted with %%v = %q, want REDACTED", name, out)
			}
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "sealer", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "sealer", v)
		if strings.Contains(buf.String(), secret) || strings.Count(buf.String(), "REDACTED") != 2 {
			t.Errorf("%s in slog: %s", name, buf.String())
		}
		if out, err := json.Marshal(v); err == nil {
			t.Errorf("json.Marshal(%s) = %s, want an error", name, out)
		}
		if out, err := json.Marshal(map[string]any{"sealer": v}); err == nil {
			t.Errorf("json.Marshal of a map holding %s = %s, want an error", name, out)
		}
	}
}

func TestConcurrent(t *testing.T) {
	for _, ns := range testSealers(t) {
		t.Run(ns.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					label := fmt.Sprintf("share/%d", i)
					for range 10 {
						blob, err := ns.s.Seal(label, []byte(label))
						if err != nil {
							t.Error(err)
							return
						}
						got, err := ns.s.Unseal(label, blob)
						if err != nil || string(got) != label {
							t.Errorf("Unseal = %q, %v", got, err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestGolden opens a blob sealed by an earlier build, so that a change to
// the format that would strand stored secrets fails here. The key in
// testdata is for this test only. Run with -update to rewrite the files
// (only when the format version changes).
func TestGolden(t *testing.T) {
	const (
		keyPath   = "testdata/golden-test-only.key"
		blobPath  = "testdata/golden-v1.sealed"
		label     = "share/w-golden"
		plaintext = "countersign golden secret"
	)
	if *update {
		os.Remove(keyPath)
		if err := GenerateSoftwareKey(keyPath, nil); err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		key = append([]byte("# TEST ONLY: a published key that protects nothing.\n"), key...)
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSoftware(keyPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := s.Seal(label, []byte(plaintext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blobPath, blob, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := OpenSoftware(keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Unseal(label, blob)
	if err != nil || string(got) != plaintext {
		t.Fatalf("Unseal(golden) = %q, %v", got, err)
	}
	if !bytes.HasPrefix(blob, appendHeader(nil, schemeSoftware, label)) {
		t.Fatalf("golden blob header = %q", blob[:7+len(label)])
	}
}

func FuzzUnseal(f *testing.F) {
	soft := newTestSoftware(f)
	mem := NewMemory()
	type genuine struct {
		label     string
		plaintext []byte
		blob      []byte
	}
	var seeds []genuine
	for _, s := range []Sealer{soft, mem} {
		for _, sd := range []struct {
			label     string
			plaintext []byte
		}{
			{"share/w-1a2b", []byte("secret")},
			{"p", nil},
			{"preparams/3", bytes.Repeat([]byte{7}, 300)},
		} {
			blob, err := s.Seal(sd.label, sd.plaintext)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, genuine{sd.label, sd.plaintext, blob})
			f.Add(sd.label, blob)
		}
	}
	f.Add("x", []byte("CSSL\x01\x01\x01x"))
	f.Add("x", []byte("CSSL\x01\x02\x01x"))
	f.Add("", []byte{})

	f.Fuzz(func(t *testing.T, label string, blob []byte) {
		for _, s := range []Sealer{soft, mem} {
			got, err := s.Unseal(label, blob)
			if err != nil {
				if got != nil {
					t.Fatal("plaintext returned with an error")
				}
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongLabel) && !errors.Is(err, ErrInvalidLabel) {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				continue
			}
			found := false
			for _, g := range seeds {
				if bytes.Equal(blob, g.blob) && label == g.label && bytes.Equal(got, g.plaintext) {
					found = true
				}
			}
			if !found {
				t.Fatalf("Unseal(%q, %x) succeeded on a blob that no sealer made", label, blob)
			}
		}
	})
}

func benchmarkSealers(b *testing.B) []namedSealer {
	return testSealers(b)
}

func BenchmarkSeal16KiB(b *testing.B) {
	plaintext := make([]byte, 16<<10)
	for _, ns := range benchmarkSealers(b) {
		b.Run(ns.name, func(b *testing.B) {
			b.SetBytes(int64(len(plaintext)))
			for b.Loop() {
				if _, err := ns.s.Seal("share/w-1a2b", plaintext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnseal16KiB(b *testing.B) {
	plaintext := make([]byte, 16<<10)
	for _, ns := range benchmarkSealers(b) {
		blob, err := ns.s.Seal("share/w-1a2b", plaintext)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(ns.name, func(b *testing.B) {
			b.SetBytes(int64(len(plaintext)))
			for b.Loop() {
				if _, err := ns.s.Unseal("share/w-1a2b", blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
