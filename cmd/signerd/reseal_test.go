package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/pki"
	"github.com/countersign/countersign/policy/policytest"
	"github.com/countersign/countersign/signer"
	"github.com/countersign/countersign/signer/audit"
	"github.com/countersign/countersign/signer/store"
	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// mssim serves go-tpm-tools' in-process TPM simulator on two loopback ports
// with the TCP protocol of the TCG reference simulator, so that these tests
// reach it through tpm_address, as a lab node reaches a simulator. The
// simulator is one per process (simulator.Get blocks until it is closed)
// and runs one command at a time.
type mssim struct {
	mu   sync.Mutex
	sim  *simulator.Simulator
	addr string
}

func startMSSim(t *testing.T) *mssim {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Skipf("the TPM simulator needs cgo: %v", err)
	}
	m := &mssim{sim: sim}
	var cmd, plat net.Listener
	for range 20 { // the platform port must be the command port + 1
		if cmd, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port := cmd.Addr().(*net.TCPAddr).Port
		if plat, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil {
			break
		}
		cmd.Close()
	}
	if plat == nil {
		t.Fatal("no two consecutive free ports")
	}
	m.addr = cmd.Addr().String()
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []net.Conn
	serve := func(l net.Listener, handle func(net.Conn)) {
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				connsMu.Lock()
				conns = append(conns, c)
				connsMu.Unlock()
				wg.Go(func() { defer c.Close(); handle(c) })
			}
		})
	}
	serve(cmd, m.serveCommands)
	serve(plat, func(c net.Conn) {
		var code uint32
		for binary.Read(c, binary.BigEndian, &code) == nil {
			binary.Write(c, binary.BigEndian, uint32(0))
		}
	})
	t.Cleanup(func() {
		cmd.Close()
		plat.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
		sim.Close()
	})
	return m
}

func (m *mssim) serveCommands(c net.Conn) {
	for {
		var code uint32
		if binary.Read(c, binary.BigEndian, &code) != nil {
			return
		}
		switch code {
		case 8: // TPM_SEND_COMMAND: locality, length, command
			var hdr struct {
				Locality uint8
				Len      uint32
			}
			if binary.Read(c, binary.BigEndian, &hdr) != nil || hdr.Len > 1<<20 {
				return
			}
			in := make([]byte, hdr.Len)
			if _, err := io.ReadFull(c, in); err != nil {
				return
			}
			out := m.run(in)
			msg := binary.BigEndian.AppendUint32(nil, uint32(len(out)))
			msg = append(msg, out...)
			if _, err := c.Write(binary.BigEndian.AppendUint32(msg, 0)); err != nil {
				return
			}
		case 20, 21: // TPM_SESSION_END, TPM_STOP
			return
		default:
			binary.Write(c, binary.BigEndian, uint32(0))
		}
	}
}

func (m *mssim) run(cmd []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.sim.Write(cmd); err != nil {
		return nil
	}
	out, _ := io.ReadAll(m.sim)
	return out
}

// Send lets the test talk to the simulator directly.
func (m *mssim) Send(cmd []byte) ([]byte, error) { return m.run(cmd), nil }

func (m *mssim) extendPCR7(t *testing.T) {
	t.Helper()
	d := sha256.Sum256([]byte("a changed Secure Boot policy"))
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: 7, Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(transport.TPM(m))
	if err != nil {
		t.Fatal(err)
	}
}

func (m *mssim) reboot(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.sim.Reset(); err != nil {
		t.Fatal(err)
	}
}

// node is a node's config and database, made as `signerd init` makes
// them, holding two sealed shares and two sealed sets of pre-parameters.
type node struct {
	dir, config, db string
	key             crypto.Signer
	certDER         []byte
}

func newNode(t *testing.T, withDB bool) *node {
	t.Helper()
	dir := t.TempDir()
	genesis := policytest.Marshal(t, policytest.Genesis("test"))
	m, err := signer.CreateCluster(dir, signer.ClusterOptions{Nodes: 2, Threshold: 2, Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"},
		Genesis: genesis, GenesisSignatures: policytest.SignaturesFile(t, policytest.SignBundle(t, genesis, policytest.Alice, policytest.Bob))})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{config: filepath.Join(dir, m.Nodes[0].Config)}
	n.dir = filepath.Dir(n.config)
	cfg, err := signer.LoadConfig(n.config)
	if err != nil {
		t.Fatal(err)
	}
	n.db = filepath.Join(cfg.DataDir, "node.db")
	if !withDB {
		return n
	}
	soft, err := hsm.OpenSoftware(cfg.Sealer.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(cfg.TLS.Key)
	if n.key, err = pki.SignerFromKeyPEM(keyPEM); err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(cfg.TLS.Cert)
	b, _ := pem.Decode(certPEM)
	n.certDER = b.Bytes
	st := n.openStore(t)
	defer st.Close()
	for _, id := range []string{"w-1", "w-2"} {
		sealed, err := soft.Seal("share/"+id, []byte("share of "+id))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutPendingWallet(&store.Wallet{ID: id, State: store.WalletPending}, sealed); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		sealed, _ := soft.Seal("preparams", fmt.Appendf(nil, "preparams %d", i))
		if err := st.PushPreParams(sealed); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n *node) openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(n.db, n.key, audit.Genesis{NodeID: "node-1", CertDER: n.certDER, Format: audit.Version}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sealer opens the sealer the node's config names now, as signerd does.
func (n *node) sealer(env map[string]string) (hsm.Sealer, *signer.Config, error) {
	cfg, err := signer.LoadConfig(n.config)
	if err != nil {
		return nil, nil, err
	}
	s, err := signer.OpenSealer(cfg.Sealer, envFunc(env))
	return s, cfg, err
}

// checkSecrets checks that every secret in the database opens with the
// node's sealer, and returns that sealer.
func (n *node) checkSecrets(t *testing.T, env map[string]string) hsm.Sealer {
	t.Helper()
	s, _, err := n.sealer(env)
	if err != nil {
		t.Fatal(err)
	}
	st := n.openStore(t)
	defer st.Close()
	for _, id := range []string{"w-1", "w-2"} {
		sealed, err := st.SealedShare(id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Unseal("share/"+id, sealed); err != nil || string(got) != "share of "+id {
			t.Fatalf("share %s: %q, %v", id, got, err)
		}
	}
	if st.CountPreParams() != 2 {
		t.Fatalf("%d pre-parameter sets", st.CountPreParams())
	}
	return s
}

func envFunc(env map[string]string) lookupEnv {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

type result struct {
	err            error
	stdout, stderr string
}

func runReseal(env map[string]string, stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	err := reseal(args, strings.NewReader(stdin), &stdout, &stderr, envFunc(env))
	return result{err, stdout.String(), stderr.String()}
}

func TestResealSoftwareTPMSoftware(t *testing.T) {
	sim := startMSSim(t)
	n := newNode(t, true)
	env := map[string]string{"NODE_PIN": "2468"}
	original := mustRead(t, n.config)

	t.Run("a running node is refused", func(t *testing.T) {
		st := n.openStore(t)
		defer st.Close()
		r := runReseal(env, "", "-config", n.config, "-to", "tpm", "-tpm-address", sim.addr, "-yes")
		if !errors.Is(r.err, store.ErrInUse) || !strings.Contains(r.err.Error(), "stop signerd first") {
			t.Fatalf("reseal: %v", r.err)
		}
		if _, err := os.Stat(filepath.Join(n.dir, "tpm-key.blob")); err == nil {
			t.Error("a TPM key was made for a running node")
		}
		if !bytes.Equal(mustRead(t, n.config), original) {
			t.Error("config changed")
		}
	})

	t.Run("not confirmed", func(t *testing.T) {
		r := runReseal(env, "n\n", "-config", n.config, "-to", "tpm", "-tpm-address", sim.addr)
		if r.err == nil || !strings.Contains(r.err.Error(), "nothing changed") || !strings.Contains(r.stdout, "re-seal 2 key shares and 2 pre-parameter sets") {
			t.Fatalf("reseal: %v\n%s", r.err, r.stdout)
		}
		if !bytes.Equal(mustRead(t, n.config), original) {
			t.Error("config changed")
		}
		n.checkSecrets(t, env)
	})

	t.Run("software to tpm", func(t *testing.T) {
		r := runReseal(env, "", "-config", n.config, "-to", "tpm", "-tpm-address", sim.addr, "-pin-env", "NODE_PIN", "-yes")
		if r.err != nil {
			t.Fatalf("reseal: %v\n%s%s", r.err, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"from: software, " + filepath.Join(n.dir, "sealer.key") + ", no passphrase",
			"to:   tpm, " + filepath.Join(n.dir, "tpm-key.blob") + ", PCRs 7, PIN from $NODE_PIN, simulator at " + sim.addr + " (new key file)",
			"re-sealed 2 key shares and 2 pre-parameter sets",
			filepath.Join(n.dir, "sealer.key") + " no longer opens this node's live secrets",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output does not say %q:\n%s", want, r.stdout)
			}
		}
		raw, err := readRawConfig(n.config)
		if err != nil {
			t.Fatal(err)
		}
		want := signer.SealerConfig{Kind: "tpm", TPMKeyFile: "tpm-key.blob", TPMAddress: sim.addr, PINEnv: "NODE_PIN"}
		if fmt.Sprint(raw.Sealer) != fmt.Sprint(want) {
			t.Fatalf("sealer section %+v, want %+v", raw.Sealer, want)
		}
		if raw.DataDir != "data" || raw.TLS.Cert != "node.pem" {
			t.Errorf("other sections changed: %+v", raw)
		}
		if _, ok := n.checkSecrets(t, env).(*hsm.TPM); !ok {
			t.Fatal("not a TPM sealer")
		}
		soft, _ := hsm.OpenSoftware(filepath.Join(n.dir, "sealer.key"), nil)
		st := n.openStore(t)
		sealed, _ := st.SealedShare("w-1")
		st.Close()
		if _, err := soft.Unseal("share/w-1", sealed); !errors.Is(err, hsm.ErrCorrupt) {
			t.Fatalf("the old software key still opens a share: %v", err)
		}
	})

	t.Run("the node refuses to start", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			env   map[string]string
			setup func()
			want  error
			say   string
		}{
			{"without its PIN", map[string]string{}, nil, nil, "set NODE_PIN"},
			{"with a wrong PIN", map[string]string{"NODE_PIN": "1357"}, nil, hsm.ErrWrongPIN, "2 more failures lock the TPM out"},
			{"after a PCR 7 change", env, func() { sim.extendPCR7(t) }, hsm.ErrPCRChanged, "PCR 7 differs (sealed to 0000"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if tt.setup != nil {
					tt.setup()
				}
				_, _, err := n.sealer(tt.env)
				if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.say) {
					t.Fatalf("open: %v, want %v saying %q", err, tt.want, tt.say)
				}
			})
		}
		// signerd itself: it stops before serving and says why.
		if err := run(t.Context(), &serveFlags{config: n.config}, io.Discard, envFunc(env)); !errors.Is(err, hsm.ErrPCRChanged) {
			t.Fatalf("run: %v", err)
		}
		sim.reboot(t)
		n.checkSecrets(t, env)
	})

	t.Run("tpm to tpm with other PCRs", func(t *testing.T) {
		r := runReseal(env, "", "-config", n.config, "-to", "tpm", "-pcrs", "7,0", "-yes")
		if r.err != nil {
			t.Fatalf("reseal: %v\n%s%s", r.err, r.stdout, r.stderr)
		}
		raw, _ := readRawConfig(n.config)
		if !slices.Equal(raw.Sealer.TPMPCRs, []int{7, 0}) || raw.Sealer.PINEnv != "NODE_PIN" || raw.Sealer.TPMAddress != sim.addr ||
			!strings.HasPrefix(raw.Sealer.TPMKeyFile, "tpm-key-") {
			t.Fatalf("sealer section %+v", raw.Sealer)
		}
		s := n.checkSecrets(t, env)
		if got := s.(*hsm.TPM).PCRs(); !slices.Equal(got, []int{0, 7}) {
			t.Fatalf("sealed to PCRs %v", got)
		}
	})

	t.Run("tpm to software", func(t *testing.T) {
		r := runReseal(env, "", "-config", n.config, "-to", "software", "-to-key-file", "back.key", "-passphrase-env", "BACK_PASS", "-yes")
		if r.err == nil || !strings.Contains(r.err.Error(), "set BACK_PASS") {
			t.Fatalf("reseal without the passphrase set: %v", r.err)
		}
		// (A passphrase costs seconds of scrypt: the rest runs without.)
		r = runReseal(env, "", "-config", n.config, "-to", "software", "-to-key-file", filepath.Join(n.dir, "back.key"), "-no-passphrase", "-yes")
		if r.err != nil {
			t.Fatalf("reseal: %v\n%s%s", r.err, r.stdout, r.stderr)
		}
		raw, _ := readRawConfig(n.config)
		if want := (signer.SealerConfig{Kind: "software", KeyFile: "back.key"}); fmt.Sprint(raw.Sealer) != fmt.Sprint(want) {
			t.Fatalf("sealer section %+v", raw.Sealer)
		}
		if _, ok := n.checkSecrets(t, env).(*hsm.Software); !ok {
			t.Fatal("not a software sealer")
		}
	})
}

func TestResealNewNode(t *testing.T) {
	sim := startMSSim(t)
	n := newNode(t, false)
	r := runReseal(nil, "", "-config", n.config, "-to", "tpm", "-tpm-address", sim.addr, "-yes")
	if r.err != nil {
		t.Fatalf("reseal: %v\n%s", r.err, r.stdout)
	}
	if !strings.Contains(r.stdout, "re-seal 0 key shares") || strings.Contains(r.stdout, "no longer opens") {
		t.Errorf("output:\n%s", r.stdout)
	}
	if _, _, err := n.sealer(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.db); err == nil {
		t.Error("reseal made a database")
	}
}

func TestResealUsage(t *testing.T) {
	n := newNode(t, false)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no -to", nil, "-to is required"},
		{"bad -to", []string{"-to", "hsm"}, `-to "hsm": want software or tpm`},
		{"software without a passphrase choice", []string{"-to", "software"}, "needs -passphrase-env"},
		{"software with PCRs", []string{"-to", "software", "-no-passphrase", "-pcrs", "7"}, "-pcrs is for -to tpm"},
		{"tpm with a passphrase", []string{"-to", "tpm", "-passphrase-env", "X"}, "-passphrase-env is for -to software"},
		{"PCR out of range", []string{"-to", "tpm", "-pcrs", "7,24"}, `"24" is not a PCR`},
		{"two PIN sources", []string{"-to", "tpm", "-pin-env", "A", "-no-pin"}, "exclude each other"},
		{"device and address", []string{"-to", "tpm", "-tpm-device", "/dev/tpm0", "-tpm-address", "127.0.0.1:2321"}, "exclude each other"},
		{"the current key file", []string{"-to", "software", "-no-passphrase", "-to-key-file", filepath.Join(n.dir, "sealer.key")}, "is the node's current key file"},
		{"stray argument", []string{"-to", "tpm", "now"}, `unexpected argument "now"`},
		{"undefined flag", []string{"-from", "x"}, "flag provided but not defined: -from"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runReseal(nil, "", append([]string{"-config", n.config}, tt.args...)...)
			if !errors.Is(r.err, errUsage) || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "usage: signerd reseal") {
				t.Fatalf("reseal: %v\n%s", r.err, r.stderr)
			}
		})
	}
	r := runReseal(nil, "", "-config", n.config, "-to", "tpm", "-tpm-address", "127.0.0.1:99999", "-yes")
	if r.err == nil || !strings.Contains(r.err.Error(), "sealer.tpm_address") {
		t.Fatalf("bad address: %v", r.err)
	}
}

// TestMoveResumes checks that a secret already sealed by the target, as an
// interrupted run leaves it, is kept, and one neither sealer opens fails.
func TestMoveResumes(t *testing.T) {
	from, to, other := hsm.NewMemory(), hsm.NewMemory(), hsm.NewMemory()
	done, _ := to.Seal("share/w-1", []byte("s"))
	if got, err := move(from, to, "share/w-1", done); err != nil || !bytes.Equal(got, done) {
		t.Fatalf("move of a moved secret: %v", err)
	}
	stranger, _ := other.Seal("share/w-1", []byte("s"))
	if _, err := move(from, to, "share/w-1", stranger); !errors.Is(err, hsm.ErrCorrupt) {
		t.Fatalf("move of a foreign secret: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
