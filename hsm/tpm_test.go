package hsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// simTPM is go-tpm-tools' in-process TPM simulator. There is one per
// process: simulator.Get blocks until the previous holder closes it, and
// starts it with a manufacturer reset (new seeds, PCRs zero, no lockout),
// so every test that takes it starts from a new TPM. Tests use it one
// command at a time.
type simTPM struct {
	sim *simulator.Simulator
}

func newSimTPM(tb testing.TB) *simTPM {
	tb.Helper()
	sim, err := simulator.Get()
	if err != nil {
		tb.Skipf("the TPM simulator needs cgo: %v", err)
	}
	tb.Cleanup(func() { sim.Close() })
	return &simTPM{sim: sim}
}

// noClose hands the simulator to a sealer, which closes its connection
// after use, without closing the simulator.
type noClose struct{ io.ReadWriter }

func (noClose) Close() error { return nil }

func (s *simTPM) config(pin string) TPMConfig {
	var p []byte
	if pin != "" {
		p = []byte(pin)
	}
	return TPMConfig{Open: func() (io.ReadWriteCloser, error) { return noClose{s.sim}, nil }, PIN: p}
}

func (s *simTPM) tpm() transport.TPM { return transport.FromReadWriter(s.sim) }

// extend extends pcr (SHA-256 bank) with the hash of data and returns the
// PCR's new value, computed independently of the TPM.
func (s *simTPM) extend(tb testing.TB, pcr int, old []byte, data string) []byte {
	tb.Helper()
	d := sha256.Sum256([]byte(data))
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(s.tpm())
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	h.Write(old)
	h.Write(d[:])
	return h.Sum(nil)
}

// reboot power-cycles the simulated platform: PCRs return to zero, the
// seeds, and so the storage key, stay.
func (s *simTPM) reboot(tb testing.TB) {
	tb.Helper()
	if err := s.sim.Reset(); err != nil {
		tb.Fatal(err)
	}
}

func newTestTPM(tb testing.TB, s *simTPM, pin string, pcrs ...int) (*TPM, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tpm-key.blob")
	c := s.config(pin)
	c.PCRs = pcrs
	if err := CreateTPMKey(path, c); err != nil {
		tb.Fatal(err)
	}
	t, err := OpenTPM(path, s.config(pin))
	if err != nil {
		tb.Fatal(err)
	}
	return t, path
}

func TestTPMRoundTrip(t *testing.T) {
	s := newSimTPM(t)
	for _, pin := range []string{"", "1234"} {
		t.Run(fmt.Sprintf("pin %q", pin), func(t *testing.T) {
			tpm, path := newTestTPM(t, s, pin)
			if got := tpm.PCRs(); len(got) != 1 || got[0] != 7 {
				t.Fatalf("PCRs = %v, want [7]", got)
			}
			for _, pt := range [][]byte{{}, []byte("s"), bytes.Repeat([]byte{0xa5}, 16<<10)} {
				blob, err := tpm.Seal("share/w-1a2b", pt)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(blob, appendHeader(nil, schemeTPM, "share/w-1a2b")) {
					t.Fatalf("header %q", blob[:20])
				}
				if len(pt) > 4 && bytes.Contains(blob, pt) {
					t.Fatal("blob contains the plaintext")
				}
				got, err := tpm.Unseal("share/w-1a2b", blob)
				if err != nil || got == nil || !bytes.Equal(got, pt) {
					t.Fatalf("Unseal = %d bytes, %v", len(got), err)
				}
				again, _ := tpm.Seal("share/w-1a2b", pt)
				if bytes.Equal(blob, again) {
					t.Fatal("two seals of the same secret are identical")
				}
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, %v", fi, err)
			}
			content, _ := os.ReadFile(path)
			if !bytes.Contains(content, []byte(`"format": "countersign-tpm-key"`)) {
				t.Fatalf("key file:\n%s", content)
			}
		})
	}
}

func TestTPMSealerRules(t *testing.T) {
	s := newSimTPM(t)
	tpm, _ := newTestTPM(t, s, "")
	other, _ := newTestTPM(t, s, "")

	t.Run("wrong label", func(t *testing.T) {
		blob, _ := tpm.Seal("share/w-1a2b", []byte("secret"))
		for _, label := range []string{"share/w-1a2c", "preparams"} {
			got, err := tpm.Unseal(label, blob)
			if !errors.Is(err, ErrWrongLabel) || errors.Is(err, ErrCorrupt) || got != nil {
				t.Errorf("Unseal(%q) = %v, %v; want ErrWrongLabel only", label, got, err)
			}
		}
	})
	t.Run("invalid label", func(t *testing.T) {
		if _, err := tpm.Seal("share w", nil); !errors.Is(err, ErrInvalidLabel) {
			t.Errorf("Seal: %v", err)
		}
		if _, err := tpm.Unseal("", nil); !errors.Is(err, ErrInvalidLabel) {
			t.Errorf("Unseal: %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		if _, err := tpm.Seal("big", make([]byte, MaxPlaintextLen+1)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Seal: %v", err)
		}
	})
	t.Run("tamper", func(t *testing.T) {
		const label = "share/w-1a2b"
		blob, _ := tpm.Seal(label, []byte("a secret of some thirty bytes.."))
		check := func(what string, b []byte) {
			t.Helper()
			got, err := tpm.Unseal(label, b)
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrWrongLabel) || got != nil {
				t.Fatalf("%s: %v, %v; want ErrCorrupt only", what, got, err)
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
	})
	t.Run("other keys and sealers", func(t *testing.T) {
		mem := NewMemory()
		for _, tt := range []struct {
			name       string
			seal, open Sealer
		}{
			{"tpm to other tpm key", tpm, other},
			{"tpm to memory", tpm, mem},
			{"memory to tpm", mem, tpm},
		} {
			blob, err := tt.seal.Seal("share/w-1", []byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tt.open.Unseal("share/w-1", blob); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: %v, want ErrCorrupt", tt.name, err)
			}
		}
	})
	t.Run("redaction", func(t *testing.T) {
		for _, v := range []any{tpm, *tpm} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				if out := fmt.Sprintf(verb, v); !strings.Contains(out, "REDACTED") {
					t.Errorf("%s = %q", verb, out)
				}
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "sealer", v)
			if !strings.Contains(buf.String(), `"sealer":"REDACTED"`) {
				t.Errorf("slog: %s", buf.String())
			}
			if out, err := json.Marshal(map[string]any{"sealer": v}); err == nil {
				t.Errorf("json.Marshal = %s, want an error", out)
			}
		}
	})
}

// TestTPMReopen opens the same key file again, through a new connection,
// and after a reboot of the simulated platform.
func TestTPMReopen(t *testing.T) {
	s := newSimTPM(t)
	for _, pin := range []string{"", "open sesame"} {
		tpm, path := newTestTPM(t, s, pin)
		blob, err := tpm.Seal("share/w-1", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		for _, reboot := range []bool{false, true} {
			if reboot {
				s.reboot(t)
			}
			again, err := OpenTPM(path, s.config(pin))
			if err != nil {
				t.Fatalf("reopen (reboot %t): %v", reboot, err)
			}
			if got, err := again.Unseal("share/w-1", blob); err != nil || string(got) != "secret" {
				t.Fatalf("Unseal after reopening (reboot %t) = %q, %v", reboot, got, err)
			}
		}
	}
}

func TestTPMPCRChanged(t *testing.T) {
	s := newSimTPM(t)
	zero := make([]byte, 32)

	t.Run("PCR 7", func(t *testing.T) {
		tpm, path := newTestTPM(t, s, "")
		blob, _ := tpm.Seal("share/w-1", []byte("secret"))
		now := s.extend(t, 7, zero, "a new Secure Boot db")
		got, err := OpenTPM(path, s.config(""))
		if !errors.Is(err, ErrPCRChanged) || got != nil {
			t.Fatalf("OpenTPM = %v, %v; want ErrPCRChanged", got, err)
		}
		want := fmt.Sprintf("hsm: the platform state changed since sealing: PCR 7 differs (sealed to %x, now %x); "+
			"if this follows a planned firmware or Secure Boot change, re-seal from a backup or software sealer: see README", zero, now)
		if err.Error() != want {
			t.Fatalf("error\n%s\nwant\n%s", err, want)
		}
		// A reboot restores the measured state: the key opens again.
		s.reboot(t)
		again, err := OpenTPM(path, s.config(""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := again.Unseal("share/w-1", blob); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("two of three PCRs", func(t *testing.T) {
		_, path := newTestTPM(t, s, "1234", 7, 0, 4)
		now0 := s.extend(t, 0, zero, "new firmware")
		now4 := s.extend(t, 4, zero, "new boot loader")
		_, err := OpenTPM(path, s.config("1234"))
		if !errors.Is(err, ErrPCRChanged) {
			t.Fatalf("OpenTPM: %v, want ErrPCRChanged", err)
		}
		want := fmt.Sprintf("PCRs 0, 4 differ (PCR 0 sealed to %x, now %x; PCR 4 sealed to %x, now %x)", zero, now0, zero, now4)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
		s.reboot(t)
	})
	t.Run("changed between the check and the policy", func(t *testing.T) {
		_, path := newTestTPM(t, s, "")
		key, err := parseTPMKey(mustRead(t, path))
		if err != nil {
			t.Fatal(err)
		}
		c := s.config("")
		tpm, err := openTransport(c)
		if err != nil {
			t.Fatal(err)
		}
		srk, err := createPrimary(tpm, "sim")
		if err != nil {
			t.Fatal(err)
		}
		defer flush(tpm, srk.handle)
		s.extend(t, 7, zero, "racing change")
		if _, err := unsealDataKey(tpm, c, key, srk); !errors.Is(err, ErrPCRChanged) {
			t.Fatalf("unseal: %v, want ErrPCRChanged", err)
		}
		s.reboot(t)
	})
}

func TestTPMPIN(t *testing.T) {
	s := newSimTPM(t)
	tpm, path := newTestTPM(t, s, "1234")
	blob, _ := tpm.Seal("share/w-1", []byte("secret"))

	if _, err := OpenTPM(path, s.config("")); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "needs a PIN") {
		t.Fatalf("no PIN: %v", err)
	}
	_, noPIN := newTestTPM(t, s, "")
	if _, err := OpenTPM(noPIN, s.config("1234")); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "has no PIN") {
		t.Fatalf("PIN for a key without one: %v", err)
	}

	// The simulator allows 3 failures and forgets one every 1000 s.
	for i, want := range []string{
		"hsm: wrong TPM PIN; 2 more failures lock the TPM out for 17 minutes",
		"hsm: wrong TPM PIN; 1 more failures lock the TPM out for 17 minutes",
		"hsm: wrong TPM PIN; the TPM is now locked out: it takes one more try after 17 minutes",
	} {
		_, err := OpenTPM(path, s.config("4321"))
		if !errors.Is(err, ErrWrongPIN) || err.Error() != want {
			t.Fatalf("wrong PIN, try %d: %v, want %q", i+1, err, want)
		}
	}
	_, err := OpenTPM(path, s.config("1234"))
	if !errors.Is(err, ErrTPMLockout) || errors.Is(err, ErrWrongPIN) {
		t.Fatalf("right PIN in lockout: %v, want ErrTPMLockout", err)
	}
	if !strings.Contains(err.Error(), "17 minutes") {
		t.Errorf("lockout error does not say how long: %v", err)
	}
	// A key without a PIN is outside the lockout.
	if _, err := OpenTPM(noPIN, s.config("")); err != nil {
		t.Fatalf("key without PIN during lockout: %v", err)
	}
	_ = blob
}

func TestTPMNoTPM(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, nil, 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	key := filepath.Join(dir, "tpm-key.blob")
	for _, tt := range []struct {
		name string
		c    TPMConfig
		want string
	}{
		{"missing device", TPMConfig{Device: "/nonexistent/tpmrm0"}, "hsm: no TPM at /nonexistent/tpmrm0: stat /nonexistent/tpmrm0: no such file or directory"},
		{"not a device", TPMConfig{Device: regular}, "neither a TPM character device nor a unix socket"},
		{"nothing listening", TPMConfig{Address: closed}, "hsm: no TPM at tcp " + closed + ": could not connect"},
		{"opener fails", TPMConfig{Open: func() (io.ReadWriteCloser, error) { return nil, errors.New("boom") }}, "hsm: no TPM at the TPM connection given: boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CreateTPMKey(key, tt.c)
			if !errors.Is(err, ErrNoTPM) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CreateTPMKey: %v, want ErrNoTPM saying %q", err, tt.want)
			}
			if _, err := os.Stat(key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a key file was written")
			}
		})
	}
}

func TestTPMConfigChecks(t *testing.T) {
	s := newSimTPM(t)
	path := filepath.Join(t.TempDir(), "k")
	for _, tt := range []struct {
		name string
		pcrs []int
		pin  string
		want string
	}{
		{"no PCRs", []int{}, "", "no PCRs chosen"},
		{"PCR 24", []int{7, 24}, "", "PCR 24: want 0 to 23"},
		{"negative PCR", []int{-1}, "", "PCR -1"},
		{"PCR twice", []int{7, 0, 7}, "", "PCR 7 chosen twice"},
		{"long PIN", nil, strings.Repeat("9", MaxTPMPIN+1), "at most 32"},
		{"NUL in PIN", nil, "12\x0034", "NUL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := s.config(tt.pin)
			c.PCRs = tt.pcrs
			if err := CreateTPMKey(path, c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CreateTPMKey: %v, want %q", err, tt.want)
			}
		})
	}
	c := s.config("")
	c.Device = "/dev/tpmrm0"
	if err := CreateTPMKey(path, c); err == nil || !strings.Contains(err.Error(), "give one of") {
		t.Errorf("device and opener: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a key file was written")
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// editKeyFile rewrites one field of a key file's JSON.
func editKeyFile(tb testing.TB, content []byte, edit func(f map[string]any)) []byte {
	tb.Helper()
	var f map[string]any
	if err := json.Unmarshal(content, &f); err != nil {
		tb.Fatal(err)
	}
	edit(f)
	out, err := json.Marshal(f)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestTPMKeyFileErrors(t *testing.T) {
	s := newSimTPM(t)
	_, path := newTestTPM(t, s, "")
	dir := t.TempDir()
	content := mustRead(t, path)
	flipB64 := func(field string, i int) func(map[string]any) {
		return func(f map[string]any) {
			b, _ := base64.StdEncoding.DecodeString(f[field].(string))
			b[i] ^= 0x01
			f[field] = base64.StdEncoding.EncodeToString(b)
		}
	}

	if err := CreateTPMKey(path, s.config("")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v, want fs.ErrExist", err)
	}
	if !bytes.Equal(mustRead(t, path), content) {
		t.Fatal("existing key file changed")
	}

	for _, tt := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"garbage", []byte("hello\n"), "not a TPM key file"},
		{"empty", nil, "not a TPM key file"},
		{"unknown field", editKeyFile(t, content, func(f map[string]any) { f["extra"] = 1 }), "unknown field"},
		{"other version", editKeyFile(t, content, func(f map[string]any) { f["version"] = 2 }), "version 2"},
		{"altered PCR value", editKeyFile(t, content, func(f map[string]any) {
			f["pcr_values"] = []string{hex.EncodeToString(bytes.Repeat([]byte{1}, 32))}
		}), "not the one its PCR values"},
		{"other PCRs", editKeyFile(t, content, func(f map[string]any) { f["pcrs"] = []int{0} }), "not the one its PCR values"},
		{"PIN flag", editKeyFile(t, content, func(f map[string]any) { f["pin"] = true }), "not the one its PCR values"},
		{"altered public", editKeyFile(t, content, flipB64("public", 40)), "public"},
		{"altered private", editKeyFile(t, content, flipB64("private", 20)), "refuses the key file's sealed object"},
		{"truncated private", editKeyFile(t, content, func(f map[string]any) {
			b, _ := base64.StdEncoding.DecodeString(f["private"].(string))
			f["private"] = base64.StdEncoding.EncodeToString(b[:len(b)-1])
		}), "malformed private"},
		{"too large", bytes.Repeat([]byte(" "), maxKeyFileLen+1), "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(p, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := OpenTPM(p, s.config(""))
			if !errors.Is(err, ErrLocked) || got != nil {
				t.Fatalf("OpenTPM: %v, want ErrLocked", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		_, err := OpenTPM(filepath.Join(dir, "absent"), s.config(""))
		if !errors.Is(err, ErrLocked) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenTPM: %v", err)
		}
	})
	t.Run("another TPM", func(t *testing.T) {
		if err := s.sim.ManufactureReset(); err != nil {
			t.Fatal(err)
		}
		_, err := OpenTPM(path, s.config(""))
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "made by another TPM, or this TPM (the TPM connection given) was cleared") {
			t.Fatalf("OpenTPM: %v", err)
		}
	})
}

// TestTPMGolden opens a key file and a blob made by an earlier build on a
// simulator with fixed seeds, so that a change to either format that would
// strand stored secrets fails here. The files are for this test only. Run
// with -update to rewrite them (only when a format version changes).
func TestTPMGolden(t *testing.T) {
	const (
		keyPath   = "testdata/tpm-golden-test-only.blob"
		blobPath  = "testdata/tpm-golden-v1.sealed"
		label     = "share/w-golden"
		plaintext = "countersign golden secret"
		seed      = 20260101
	)
	sim, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		t.Skipf("the TPM simulator needs cgo: %v", err)
	}
	defer sim.Close()
	s := &simTPM{sim: sim}
	if *update {
		os.Remove(keyPath)
		if err := CreateTPMKey(keyPath, s.config("")); err != nil {
			t.Fatal(err)
		}
		tpm, err := OpenTPM(keyPath, s.config(""))
		if err != nil {
			t.Fatal(err)
		}
		blob, err := tpm.Seal(label, []byte(plaintext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blobPath, blob, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tpm, err := OpenTPM(keyPath, s.config(""))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpm.Unseal(label, mustRead(t, blobPath))
	if err != nil || string(got) != plaintext {
		t.Fatalf("Unseal(golden) = %q, %v", got, err)
	}
}

func FuzzTPMUnseal(f *testing.F) {
	s := newSimTPM(f)
	tpm, _ := newTestTPM(f, s, "")
	type genuine struct {
		label     string
		plaintext []byte
		blob      []byte
	}
	var seeds []genuine
	for _, sd := range []genuine{
		{label: "share/w-1a2b", plaintext: []byte("secret")},
		{label: "p", plaintext: []byte{}},
		{label: "preparams", plaintext: bytes.Repeat([]byte{7}, 300)},
	} {
		blob, err := tpm.Seal(sd.label, sd.plaintext)
		if err != nil {
			f.Fatal(err)
		}
		sd.blob = blob
		seeds = append(seeds, sd)
		f.Add(sd.label, blob)
	}
	f.Add("x", []byte("CSSL\x01\x03\x01x"))
	f.Add("", []byte{})

	f.Fuzz(func(t *testing.T, label string, blob []byte) {
		got, err := tpm.Unseal(label, blob)
		if err != nil {
			if got != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongLabel) && !errors.Is(err, ErrInvalidLabel) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		for _, g := range seeds {
			if bytes.Equal(blob, g.blob) && label == g.label && bytes.Equal(got, g.plaintext) {
				return
			}
		}
		t.Fatalf("Unseal(%q, %x) succeeded on a blob that no sealer made", label, blob)
	})
}

// FuzzParseTPMKey feeds key files to the parser: it must never panic, and
// whatever it accepts must describe itself consistently.
func FuzzParseTPMKey(f *testing.F) {
	s := newSimTPM(f)
	_, path := newTestTPM(f, s, "")
	_, pinPath := newTestTPM(f, s, "1234", 0, 7)
	f.Add(mustRead(f, path))
	f.Add(mustRead(f, pinPath))
	f.Add([]byte(`{"format":"countersign-tpm-key","version":1,"public":"AAA=","private":"AAA="}`))
	f.Fuzz(func(t *testing.T, content []byte) {
		k, err := parseTPMKey(content)
		if err != nil {
			return
		}
		if len(k.pcrValues) != len(k.file.PCRs) || len(k.primaryName) != 34 {
			t.Fatalf("accepted an inconsistent key file: %s", content)
		}
	})
}

// recorder passes commands to the simulator and keeps every byte that
// crosses the "bus", both ways.
type recorder struct {
	rw  io.ReadWriter
	log bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) { r.log.Write(p); return r.rw.Write(p) }
func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.rw.Read(p)
	r.log.Write(p[:n])
	return n, err
}
func (r *recorder) Close() error { return nil }

// TestTPMBusCarriesNoSecrets records the traffic of creating and opening a
// key with a PIN: neither the data key nor the PIN may cross in the clear
// (salted sessions with parameter encryption, PolicyAuthValue's HMAC).
func TestTPMBusCarriesNoSecrets(t *testing.T) {
	s := newSimTPM(t)
	const pin = "a distinctive PIN"
	rec := &recorder{rw: s.sim}
	c := TPMConfig{Open: func() (io.ReadWriteCloser, error) { return rec, nil }, PIN: []byte(pin)}
	path := filepath.Join(t.TempDir(), "tpm-key.blob")
	if err := CreateTPMKey(path, c); err != nil {
		t.Fatal(err)
	}
	key, err := parseTPMKey(mustRead(t, path))
	if err != nil {
		t.Fatal(err)
	}
	tpm, err := openTransport(c)
	if err != nil {
		t.Fatal(err)
	}
	srk, err := createPrimary(tpm, "sim")
	if err != nil {
		t.Fatal(err)
	}
	defer flush(tpm, srk.handle)
	dataKey, err := unsealDataKey(tpm, c, key, srk)
	if err != nil || len(dataKey) != 32 {
		t.Fatalf("unseal: %d bytes, %v", len(dataKey), err)
	}
	if rec.log.Len() < 1000 {
		t.Fatalf("recorded only %d bytes", rec.log.Len())
	}
	if bytes.Contains(rec.log.Bytes(), dataKey) {
		t.Error("the data key crossed the bus in the clear")
	}
	if bytes.Contains(rec.log.Bytes(), []byte(pin)) {
		t.Error("the PIN crossed the bus in the clear")
	}
	// The control: the same unseal without parameter encryption shows
	// the key, so the check above can fail.
	rec.log.Reset()
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    key.private, InPublic: key.public,
	}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	defer flush(tpm, loaded.ObjectHandle)
	sess, closeSession, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, 16, tpm2.Auth([]byte(pin)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeSession()
	if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), PcrDigest: tpm2.TPM2BDigest{Buffer: pcrDigest(key.pcrValues)}, Pcrs: pcrSelection(key.file.PCRs)}).Execute(tpm); err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.PolicyAuthValue{PolicySession: sess.Handle()}).Execute(tpm); err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: sess}}).Execute(tpm); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rec.log.Bytes(), dataKey) {
		t.Error("control: an unencrypted unseal did not show the data key")
	}
}
