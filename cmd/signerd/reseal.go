package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/hsm"
	"github.com/countersign/countersign/signer"
	"github.com/countersign/countersign/signer/store"
)

// errUsage is a command line the reseal command cannot run; flag has
// already said why.
var errUsage = errors.New("usage")

const resealUsage = `usage: signerd reseal -config CONFIG -to software|tpm [flags]

Re-seals every sealed secret of a stopped node (key shares and
pre-parameters, in node.db) from the sealer its config names to another,
in one database transaction, then rewrites the config's sealer section.
Plaintext stays in memory. The node must be stopped.

  software -> tpm   move a node onto its host's TPM
  tpm -> tpm        change the PCRs before a planned firmware or Secure Boot
                    change (-pcrs), or change the PIN
  tpm -> software   leave the TPM (before moving the disk to another host)

The new key file is made next to the config (tpm-key.blob or sealer.key,
or a dated name if that exists) unless -to-key-file names one; an existing
-to-key-file is opened, not replaced, so an interrupted re-seal can be run
again with the same flags.

Flags:
`

// reseal is `signerd reseal`.
func reseal(args []string, stdin io.Reader, stdout, stderr io.Writer, env lookupEnv) error {
	flags := flag.NewFlagSet("reseal", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(stderr, resealUsage)
		flags.PrintDefaults()
	}
	configPath := flags.String("config", "config.json", "the node's config `file`")
	to := flags.String("to", "", "the new sealer: `software` or tpm")
	keyFile := flags.String("to-key-file", "", "the new sealer's key `file` (default: next to the config)")
	passEnv := flags.String("passphrase-env", "", "software: the environment `variable` holding the new key file's passphrase")
	noPass := flags.Bool("no-passphrase", false, "software: write the new key file unprotected (labs and tests only)")
	pcrsFlag := flags.String("pcrs", "", "tpm: the `PCRs` to seal to, such as 7 or 0,2,7 (default: the config's tpm_pcrs, else 7)")
	pinEnv := flags.String("pin-env", "", "tpm: the environment `variable` holding the new key's PIN")
	pinFile := flags.String("pin-file", "", "tpm: a `file` holding the new key's PIN")
	noPIN := flags.Bool("no-pin", false, "tpm: no PIN, even if the current TPM key has one")
	device := flags.String("tpm-device", "", "tpm: the TPM `device` (default: the config's, else /dev/tpmrm0)")
	address := flags.String("tpm-address", "", "tpm: a TPM simulator's command port `host:port`, for labs")
	yes := flags.Bool("yes", false, "do not ask for confirmation")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	usage := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "signerd reseal: "+format+"\n", a...)
		flags.Usage()
		return errUsage
	}
	if flags.NArg() > 0 {
		return usage("unexpected argument %q", flags.Arg(0))
	}
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	onlyFor := func(kind string, names ...string) error {
		for _, n := range names {
			if set[n] && *to != kind {
				return usage("-%s is for -to %s", n, kind)
			}
		}
		return nil
	}
	switch *to {
	case "software", "tpm":
	case "":
		return usage("-to is required: software or tpm")
	default:
		return usage("-to %q: want software or tpm", *to)
	}
	if err := onlyFor("software", "passphrase-env", "no-passphrase"); err != nil {
		return err
	}
	if err := onlyFor("tpm", "pcrs", "pin-env", "pin-file", "no-pin", "tpm-device", "tpm-address"); err != nil {
		return err
	}
	if *to == "software" && (*passEnv == "") == !*noPass {
		return usage("-to software needs -passphrase-env VARIABLE (or -no-passphrase, for labs and tests only)")
	}
	if n := btoi(*pinEnv != "") + btoi(*pinFile != "") + btoi(*noPIN); n > 1 {
		return usage("-pin-env, -pin-file and -no-pin exclude each other")
	}
	if *device != "" && *address != "" {
		return usage("-tpm-device and -tpm-address exclude each other")
	}

	cfg, err := signer.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	// LoadConfig made the config's paths absolute; the new ones are made
	// absolute against the same directory, once.
	dir, err := filepath.Abs(filepath.Dir(*configPath))
	if err != nil {
		return err
	}
	from := cfg.Sealer

	// The new sealer section, with paths as they will be written.
	var next signer.SealerConfig
	next.Kind = *to
	switch *to {
	case "software":
		next.KeyFile = *keyFile
		next.PassphraseEnv = *passEnv
	case "tpm":
		next.TPMKeyFile = *keyFile
		if from.Kind == "tpm" { // keep where the TPM is and how its PIN is given
			next.TPMDevice, next.TPMAddress, next.TPMPCRs = from.TPMDevice, from.TPMAddress, from.TPMPCRs
			next.PINFile, next.PINEnv = from.PINFile, from.PINEnv
		}
		if *device != "" || *address != "" {
			next.TPMDevice, next.TPMAddress = *device, *address
		}
		if *pcrsFlag != "" {
			if next.TPMPCRs, err = parsePCRs(*pcrsFlag); err != nil {
				return usage("-pcrs %q: %v", *pcrsFlag, err)
			}
		}
		switch {
		case *noPIN:
			next.PINFile, next.PINEnv = "", ""
		case *pinEnv != "":
			next.PINFile, next.PINEnv = "", *pinEnv
		case *pinFile != "":
			next.PINFile, next.PINEnv = *pinFile, ""
		}
	}
	if *keyFile == "" {
		name := map[string][2]string{"software": {"sealer", ".key"}, "tpm": {"tpm-key", ".blob"}}[*to]
		p, err := freshPath(dir, name[0], name[1])
		if err != nil {
			return err
		}
		if *to == "software" {
			next.KeyFile = p
		} else {
			next.TPMKeyFile = p
		}
	}
	resolveSealerPaths(&next, dir)
	newKey := next.KeyFile + next.TPMKeyFile
	if newKey == from.KeyFile+from.TPMKeyFile {
		return usage("%s is the node's current key file: re-sealing to it changes nothing", newKey)
	}

	// The config as written, with only the sealer section replaced, checked
	// before anything changes.
	raw, err := readRawConfig(*configPath)
	if err != nil {
		return err
	}
	raw.Sealer = relativeSealerPaths(next, dir)
	if err := raw.Validate(); err != nil {
		return err
	}

	// Take the database's lock first: nothing is made for a running node.
	dbPath := filepath.Join(cfg.DataDir, "node.db")
	db, err := store.OpenOffline(dbPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		db = nil // a node that has not run yet: only the key and the config
	case err != nil:
		return err
	default:
		defer db.Close()
	}
	var shares, preparams int
	var current hsm.Sealer
	if db != nil {
		if shares, preparams, err = db.Count(); err != nil {
			return err
		}
		if current, err = signer.OpenSealer(from, env); err != nil {
			return fmt.Errorf("open the current sealer: %w", err)
		}
	}

	_, statErr := os.Stat(newKey)
	existing := statErr == nil
	fmt.Fprintf(stdout, "Node %s: re-seal %d key shares and %d pre-parameter sets\n", cfg.NodeID, shares, preparams)
	fmt.Fprintf(stdout, "  from: %s\n", describeSealer(from))
	fmt.Fprintf(stdout, "  to:   %s", describeSealer(next))
	if existing {
		fmt.Fprintf(stdout, " (existing key file)\n")
	} else {
		fmt.Fprintf(stdout, " (new key file)\n")
	}
	fmt.Fprintf(stdout, "then rewrite the sealer section of %s.\n", *configPath)
	if !*yes {
		fmt.Fprint(stdout, "Continue? [y/N] ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("nothing changed: not confirmed (-yes skips the question)")
		}
	}

	target, err := makeSealer(next, existing, env)
	if err != nil {
		return err
	}
	if !existing {
		fmt.Fprintf(stdout, "made %s\n", newKey)
	}
	if db != nil {
		err := db.Reseal(func(bucket, key string, sealed []byte) ([]byte, error) {
			return move(current, target, sealLabel(bucket, key), sealed)
		})
		if err != nil {
			return fmt.Errorf("nothing re-sealed, config unchanged: %w", err)
		}
		if err := db.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-sealed %d key shares and %d pre-parameter sets in %s\n", shares, preparams, dbPath)
	}

	if err := writeConfigAtomic(*configPath, raw); err != nil {
		section, _ := json.MarshalIndent(raw.Sealer, "  ", "  ")
		return fmt.Errorf("the secrets are re-sealed, but the config could not be rewritten (%w): set its sealer section to\n  %s", err, section)
	}
	fmt.Fprintf(stdout, "rewrote the sealer section of %s\n", *configPath)
	if old := from.KeyFile + from.TPMKeyFile; old != "" && db != nil {
		fmt.Fprintf(stdout, "%s no longer opens this node's live secrets. Keep it until the node has started and signed; then destroy it, "+
			"or keep it offline with a copy of the data dir as the node's backup (bbolt does not wipe freed pages, so node.db may still "+
			"hold secrets sealed under it).\n", old)
	}
	return nil
}

// move re-seals one secret. A blob the target already opens was moved by an
// earlier, interrupted run and stays as it is.
func move(from, to hsm.Sealer, label string, sealed []byte) ([]byte, error) {
	plain, err := from.Unseal(label, sealed)
	if err != nil {
		if p, err2 := to.Unseal(label, sealed); err2 == nil {
			clear(p)
			return sealed, nil
		}
		return nil, err
	}
	defer clear(plain)
	out, err := to.Seal(label, plain)
	if err != nil {
		return nil, err
	}
	check, err := to.Unseal(label, out)
	if err != nil || !bytes.Equal(check, plain) {
		return nil, fmt.Errorf("the new sealer does not give back what it sealed: %v", err)
	}
	clear(check)
	return out, nil
}

// sealLabel is the label a node seals a stored secret with (signer's
// shareLabel and preParamsLabel).
func sealLabel(bucket, key string) string {
	if bucket == store.ResealShares {
		return "share/" + key
	}
	return "preparams"
}

// makeSealer opens the new sealer, making its key file first unless it
// exists.
func makeSealer(c signer.SealerConfig, existing bool, env lookupEnv) (hsm.Sealer, error) {
	if !existing {
		switch c.Kind {
		case "software":
			var pass []byte
			if c.PassphraseEnv != "" {
				v, ok := env(c.PassphraseEnv)
				if !ok || v == "" {
					return nil, fmt.Errorf("set %s to the new key file's passphrase", c.PassphraseEnv)
				}
				pass = []byte(v)
			}
			if err := hsm.GenerateSoftwareKey(c.KeyFile, pass); err != nil {
				return nil, err
			}
		case "tpm":
			tc, err := signer.TPMSettings(c, env)
			if err != nil {
				return nil, err
			}
			if err := hsm.CreateTPMKey(c.TPMKeyFile, tc); err != nil {
				return nil, err
			}
		}
	}
	return signer.OpenSealer(c, env)
}

// freshPath is dir/base+ext, or a dated name if that exists.
func freshPath(dir, base, ext string) (string, error) {
	p := filepath.Join(dir, base+ext)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	p = filepath.Join(dir, base+"-"+time.Now().UTC().Format("20060102T150405Z")+ext)
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s exists: give -to-key-file", p)
	}
	return p, nil
}

func parsePCRs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 23 {
			return nil, fmt.Errorf("%q is not a PCR from 0 to 23", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func describeSealer(c signer.SealerConfig) string {
	switch c.Kind {
	case "software":
		if c.PassphraseEnv == "" {
			return fmt.Sprintf("software, %s, no passphrase", c.KeyFile)
		}
		return fmt.Sprintf("software, %s, passphrase from $%s", c.KeyFile, c.PassphraseEnv)
	case "tpm":
		where := c.TPMDevice
		switch {
		case c.TPMAddress != "":
			where = "simulator at " + c.TPMAddress
		case where == "":
			where = hsm.DefaultTPMDevice
		}
		pin := "no PIN"
		switch {
		case c.PINEnv != "":
			pin = "PIN from $" + c.PINEnv
		case c.PINFile != "":
			pin = "PIN from " + c.PINFile
		}
		return fmt.Sprintf("tpm, %s, PCRs %s, %s, %s", c.TPMKeyFile, hsm.FormatPCRs(c.PCRs()), pin, where)
	}
	return c.Kind
}

// readRawConfig reads the config file as written: relative paths stay
// relative, so rewriting it changes only the sealer section.
func readRawConfig(path string) (*signer.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c signer.Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// relativeSealerPaths writes paths inside dir relative to it.
func relativeSealerPaths(c signer.SealerConfig, dir string) signer.SealerConfig {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return c
	}
	for _, p := range []*string{&c.KeyFile, &c.TPMKeyFile, &c.PINFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(absDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
			*p = rel
		}
	}
	return c
}

// writeConfigAtomic replaces the config file in one rename.
func writeConfigAtomic(path string, c *signer.Config) error {
	tmp := path + ".reseal-tmp"
	if err := signer.WriteConfig(tmp, c); err != nil {
		os.Remove(tmp)
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
