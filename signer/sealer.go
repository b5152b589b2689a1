package signer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/countersign/countersign/hsm"
)

// OpenSealer opens the sealer c names, reading a passphrase or PIN from
// env (os.LookupEnv in a daemon). Paths must be resolved, as LoadConfig
// does. signerd and signerd dev (for every node) open their sealers here.
func OpenSealer(c SealerConfig, env func(string) (string, bool)) (hsm.Sealer, error) {
	switch c.Kind {
	case "software":
		var pass []byte
		if c.PassphraseEnv != "" {
			v, ok := env(c.PassphraseEnv)
			if !ok {
				return nil, fmt.Errorf("sealer: the key file is passphrase-protected; set %s", c.PassphraseEnv)
			}
			pass = []byte(v)
		}
		return hsm.OpenSoftware(c.KeyFile, pass)
	case "tpm":
		tc, err := TPMSettings(c, env)
		if err != nil {
			return nil, err
		}
		t, err := hsm.OpenTPM(c.TPMKeyFile, tc)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w; a node's TPM key is made by `signerd reseal -config CONFIG -to tpm`", err)
		}
		if err != nil {
			return nil, err
		}
		if want := c.PCRs(); !slices.Equal(t.PCRs(), want) {
			return nil, fmt.Errorf("sealer: tpm_pcrs is %s, but %s is sealed to PCRs %s: set tpm_pcrs to match, or re-seal with `signerd reseal -to tpm -pcrs %s`",
				hsm.FormatPCRs(want), c.TPMKeyFile, hsm.FormatPCRs(t.PCRs()), hsm.FormatPCRs(want))
		}
		return t, nil
	}
	return nil, fmt.Errorf("sealer: unknown kind %q", c.Kind)
}

// TPMSettings is how to reach the TPM c names, with its PIN.
func TPMSettings(c SealerConfig, env func(string) (string, bool)) (hsm.TPMConfig, error) {
	pin, err := readPIN(c.PINFile, c.PINEnv, env)
	if err != nil {
		return hsm.TPMConfig{}, err
	}
	return hsm.TPMConfig{Device: c.TPMDevice, Address: c.TPMAddress, PCRs: c.PCRs(), PIN: pin}, nil
}

// PCRs is tpm_pcrs, sorted, or the default.
func (c SealerConfig) PCRs() []int {
	if len(c.TPMPCRs) == 0 {
		return hsm.DefaultTPMPCRs()
	}
	p := slices.Clone(c.TPMPCRs)
	slices.Sort(p)
	return p
}

// readPIN reads a PIN from a file (one trailing newline dropped) or an
// environment variable; neither set means no PIN.
func readPIN(file, name string, env func(string) (string, bool)) ([]byte, error) {
	var pin []byte
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("sealer: PIN file: %w", err)
		}
		pin, err = io.ReadAll(io.LimitReader(f, 1024))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("sealer: PIN file: %w", err)
		}
		pin = bytes.TrimSuffix(pin, []byte("\n"))
		pin = bytes.TrimSuffix(pin, []byte("\r"))
		if len(pin) == 0 {
			return nil, fmt.Errorf("sealer: PIN file %s is empty", file)
		}
	case name != "":
		v, ok := env(name)
		if !ok || v == "" {
			return nil, fmt.Errorf("sealer: the TPM key has a PIN; set %s", name)
		}
		pin = []byte(v)
	}
	return pin, nil
}
