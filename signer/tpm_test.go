package signer

import (
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/hsm"
	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// noClose hands the simulator to the TPM sealer, which closes its
// connection after use, without closing the simulator.
type noClose struct{ io.ReadWriter }

func (noClose) Close() error { return nil }

// TestTPMSealedNode runs a 2-of-3 cluster whose node-2 seals to a TPM (the
// in-process simulator, one per test binary: simulator.Get blocks until
// it is closed), creates a wallet, restarts node-2 across a reboot of its
// simulated platform, and signs with it. node-2's sealer talks to the TPM
// only when it opens.
func TestTPMSealedNode(t *testing.T) {
	sim, err := simulator.Get()
	if err != nil {
		t.Skipf("the TPM simulator needs cgo: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	keyFile := filepath.Join(t.TempDir(), "tpm-key.blob")
	tc := hsm.TPMConfig{Open: func() (io.ReadWriteCloser, error) { return noClose{sim}, nil }, PIN: []byte("2468")}
	if err := hsm.CreateTPMKey(keyFile, tc); err != nil {
		t.Fatal(err)
	}
	open := func() (hsm.Sealer, error) { return hsm.OpenTPM(keyFile, tc) }

	c := newTestClusterSealed(t, 3, 2, nil, map[string]func() (hsm.Sealer, error){"node-2": open})
	if _, ok := c.nodes["node-2"].node.sealer.(*hsm.TPM); !ok {
		t.Fatalf("node-2 seals with %T", c.nodes["node-2"].node.sealer)
	}
	w, _, err := c.createWallet("node-1", "tpm-sealed")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := c.nodes["node-2"].node.store.SealedShare(w.WalletId)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) < 6 || sealed[5] != 3 {
		t.Fatalf("node-2's share is not a TPM blob (scheme byte %v)", sealed[5])
	}

	c.stop("node-2")
	if err := sim.Reset(); err != nil { // the host reboots: PCRs measured anew
		t.Fatal(err)
	}
	c.start("node-2")
	c.selfTest(t, "node-2", w.WalletId, []string{"node-2", "node-3"}, []uint32{0, 1})

	t.Run("a changed PCR 7 keeps node-2 from starting", func(t *testing.T) {
		c.stop("node-2")
		d := sha256.Sum256([]byte("a new Secure Boot db"))
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: 7, Auth: tpm2.PasswordAuth(nil)},
			Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
		}.Execute(transport.FromReadWriter(sim))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := open(); !errors.Is(err, hsm.ErrPCRChanged) {
			t.Fatalf("open after a PCR 7 change: %v, want ErrPCRChanged", err)
		}
		// The rest of the cluster still signs.
		c.selfTest(t, "node-1", w.WalletId, []string{"node-1", "node-3"}, []uint32{0, 2})
	})
}

func TestTPMSealerConfig(t *testing.T) {
	tpm := func(edit func(s *SealerConfig)) func(c *Config) {
		return func(c *Config) {
			c.Sealer = SealerConfig{Kind: "tpm", TPMKeyFile: "tpm-key.blob"}
			edit(&c.Sealer)
		}
	}
	cases := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"tpm, defaults", tpm(func(*SealerConfig) {}), ""},
		{"tpm, everything", tpm(func(s *SealerConfig) { s.TPMDevice, s.TPMPCRs, s.PINEnv = "/dev/tpmrm0", []int{0, 7, 23}, "PIN" }), ""},
		{"tpm, simulator", tpm(func(s *SealerConfig) { s.TPMAddress, s.PINFile = "127.0.0.1:2321", "pin" }), ""},
		{"tpm without key file", tpm(func(s *SealerConfig) { s.TPMKeyFile = "" }), "sealer: tpm needs tpm_key_file"},
		{"tpm with key_file", tpm(func(s *SealerConfig) { s.KeyFile = "sealer.key" }), "key_file and passphrase_env are for kind software"},
		{"device and address", tpm(func(s *SealerConfig) { s.TPMDevice, s.TPMAddress = "/dev/tpm0", "127.0.0.1:2321" }), "tpm_device and tpm_address exclude each other"},
		{"address without port", tpm(func(s *SealerConfig) { s.TPMAddress = "localhost" }), "sealer.tpm_address"},
		{"last port", tpm(func(s *SealerConfig) { s.TPMAddress = "127.0.0.1:65535" }), "sealer.tpm_address"},
		{"PCR 24", tpm(func(s *SealerConfig) { s.TPMPCRs = []int{7, 24} }), "sealer.tpm_pcrs[1] is 24"},
		{"PCR twice", tpm(func(s *SealerConfig) { s.TPMPCRs = []int{7, 7} }), "sealer.tpm_pcrs[1]: PCR 7 appears twice"},
		{"two PIN sources", tpm(func(s *SealerConfig) { s.PINFile, s.PINEnv = "pin", "PIN" }), "pin_file and pin_env exclude each other"},
		{"software with a TPM field", func(c *Config) { c.Sealer.PINEnv = "PIN" }, "sealer.pin_env is for kind tpm"},
		{"software with empty PCRs", func(c *Config) { c.Sealer.TPMPCRs = []int{} }, "sealer.tpm_pcrs is for kind tpm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.edit(c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("%v does not wrap ErrConfig", err)
			}
		})
	}
}
