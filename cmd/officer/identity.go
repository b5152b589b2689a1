package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/keys"
)

// officerFile is officer.json: who the officer is and where their key is.
// It holds no secret. Exactly one of KeyFile (relative to the file's
// directory, or absolute) and Agent is set. Unknown fields are refused.
type officerFile struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
	KeyFile   string `json:"key_file,omitempty"`
	Agent     bool   `json:"agent,omitempty"`
}

// maxOfficerFile bounds officer.json.
const maxOfficerFile = 64 << 10

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func readOfficerFile(path string) (*officerFile, error) {
	raw, err := readFileMax(path, maxOfficerFile)
	if err != nil {
		return nil, err
	}
	var f officerFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("officer file %s: %v", path, err)
	}
	switch {
	case !namePattern.MatchString(f.Name):
		return nil, fmt.Errorf("officer file %s: name %q: want a-z, 0-9, _ and -, starting with a letter", path, f.Name)
	case (f.KeyFile == "") == !f.Agent:
		return nil, fmt.Errorf("officer file %s: set exactly one of key_file and agent", path)
	}
	if _, err := keys.ParsePublicKey(f.PublicKey); err != nil {
		return nil, fmt.Errorf("officer file %s: public_key: %w", path, err)
	}
	if f.KeyFile != "" && !filepath.IsAbs(f.KeyFile) {
		f.KeyFile = filepath.Join(filepath.Dir(path), f.KeyFile)
	}
	return &f, nil
}

// writeOfficerFile writes f to path, which must not exist.
func writeOfficerFile(path string, f officerFile) error {
	raw, _ := json.MarshalIndent(f, "", "  ")
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return withHint(fmt.Errorf("%s exists; not overwriting it", path), "pass -officer with another file name, or remove %s", path)
	}
	if err != nil {
		return err
	}
	_, err = file.Write(append(raw, '\n'))
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// identity is the officer this run acts as.
type identity struct {
	name   string // "" until found in a bundle
	pub    keys.PublicKey
	signer keys.Signer
	where  string // "key file alice.key", "ssh-agent"
}

// identity loads the officer's key from the flags and officer.json. The
// key is needed by every command that signs and by whoami.
func (c *cli) identity() (*identity, error) {
	g := &c.g
	var f *officerFile
	if g.officer != "" {
		var err error
		if f, err = readOfficerFile(g.officer); err != nil {
			return nil, err
		}
	}
	id := &identity{name: g.name}
	if id.name == "" && f != nil {
		id.name = f.Name
	}
	if id.name != "" && !namePattern.MatchString(id.name) {
		return nil, usagef("-name %q: want a-z, 0-9, _ and -, starting with a letter", id.name)
	}
	keyFile, agent := g.key, g.agent
	if keyFile != "" && agent {
		return nil, usagef("-key and -agent: give one")
	}
	if keyFile == "" && !agent && f != nil {
		keyFile, agent = f.KeyFile, f.Agent
	}
	var want keys.PublicKey
	if f != nil {
		want, _ = keys.ParsePublicKey(f.PublicKey)
	}
	switch {
	case keyFile != "":
		s, err := keys.LoadKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		id.signer, id.where = s, "key file "+keyFile
	case agent:
		if g.pubkey != "" {
			raw, err := readFileMax(g.pubkey, 16<<10)
			if err != nil {
				return nil, err
			}
			if want, err = keys.ParsePublicKey(strings.TrimSpace(string(raw))); err != nil {
				return nil, fmt.Errorf("-pubkey %s: %w", g.pubkey, err)
			}
		}
		s, err := keys.AgentSigner(c.getenv(envAgent), want)
		if err != nil {
			return nil, err
		}
		id.signer, id.where = s, "ssh-agent"
	default:
		return nil, withHint(errors.New("no signing key: pass -key FILE or -agent, or -officer officer.json"),
			"'officer keygen' makes a key file and officer.json; for a security key, ssh-keygen -t ed25519-sk, ssh-add it, and use -agent")
	}
	id.pub = id.signer.PublicKey()
	if f != nil && !want.IsZero() && !id.pub.Equal(want) {
		return nil, fmt.Errorf("the key in %s is %s, but officer file %s names %s", id.where, id.pub.Fingerprint(), g.officer, want.Fingerprint())
	}
	return id, nil
}

// in finds the officer in b: by -name if given (whose key must then be
// this key), else by this key.
func (id *identity) in(b *policy.Bundle) (policy.Officer, error) {
	if id.name != "" {
		o, ok := b.Officer(id.name)
		if !ok {
			return policy.Officer{}, fmt.Errorf("%s is not an officer of policy version %d (officers: %s)", id.name, b.Version, officerNames(b))
		}
		if !o.Key.Equal(id.pub) {
			return policy.Officer{}, fmt.Errorf("officer %s of policy version %d has key %s; you are signing with %s (%s)", id.name, b.Version, o.Key.Fingerprint(), id.pub.Fingerprint(), id.where)
		}
		return o, nil
	}
	for _, o := range b.Officers {
		if o.Key.Equal(id.pub) {
			return o, nil
		}
	}
	return policy.Officer{}, fmt.Errorf("your key %s (%s) is not an officer's key in policy version %d (officers: %s)", id.pub.Fingerprint(), id.where, b.Version, officerNames(b))
}

// resolve sets the officer's name from b, checking it.
func (id *identity) resolve(b *policy.Bundle) error {
	o, err := id.in(b)
	if err != nil {
		return err
	}
	id.name = o.Name
	return nil
}

func officerNames(b *policy.Bundle) string {
	var names []string
	for _, o := range b.Officers {
		names = append(names, o.Name)
	}
	return strings.Join(names, ", ")
}

// groupsOf lists the groups officer belongs to in b.
func groupsOf(b *policy.Bundle, officer string) []string {
	var out []string
	for g := range b.Groups {
		if b.InGroup(officer, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

var keygenCommand = &command{
	Name:  "keygen",
	Args:  "-name NAME [-o FILE]",
	Short: "make an ed25519 signing key and officer.json",
	Long: `Keygen makes a new ed25519 key, as ssh-keygen -t ed25519 would: the private
key, unencrypted, in FILE (mode 0600) and its public key in FILE.pub. It
writes officer.json beside it (or to -officer), naming you and your key, so
that other commands find both with -officer officer.json (or
COUNTERSIGN_OFFICER). It prints the line to add to the policy bundle's
officers.

A key file on disk suits a lab. For real money, keep the key on a security
key and sign through ssh-agent: the agent asks for a touch for every
signature, and the key never leaves the device:

  ssh-keygen -t ed25519-sk -f ~/.ssh/countersign_sk
  ssh-add ~/.ssh/countersign_sk
  officer init -name alice -agent -pubkey ~/.ssh/countersign_sk.pub
  officer whoami -officer officer.json`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		out := fs.String("o", "", "write the private key to this `file` (default NAME.key), the public key to FILE.pub")
		return func(_ context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			name := c.g.name
			if name == "" {
				return usagef("-name is required: your officer name, as the policy will list it")
			}
			if !namePattern.MatchString(name) {
				return usagef("-name %q: want a-z, 0-9, _ and -, starting with a letter, at most 32", name)
			}
			path := *out
			if path == "" {
				path = name + ".key"
			}
			officerPath := c.g.officer
			if officerPath == "" {
				officerPath = filepath.Join(filepath.Dir(path), "officer.json")
			}
			if _, err := os.Lstat(officerPath); err == nil {
				return withHint(fmt.Errorf("%s exists; not overwriting it", officerPath), "pass -officer with another file name")
			}
			pub, err := keys.GenerateKeyFile(path, "countersign officer "+name)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(filepath.Dir(officerPath), path)
			if err != nil || filepath.IsAbs(path) {
				rel = path
			}
			if err := writeOfficerFile(officerPath, officerFile{Name: name, PublicKey: pub.String(), KeyFile: rel}); err != nil {
				return err
			}
			entry, _ := json.Marshal(policy.Officer{Name: name, Key: pub})
			fmt.Fprintf(c.stdout, `wrote %s (the private key: keep it secret) and %s.pub
wrote %s: officer %s, key %s

Add this officer to the policy bundle's "officers":
  %s

authorized_keys line:
%s countersign officer %s

This key is a file on disk, fine for a lab. For real money use a security
key through ssh-agent (ssh-keygen -t ed25519-sk; see 'officer help keygen').
`, path, path, officerPath, name, pub.Fingerprint(), entry, pub, name)
			return nil
		}
	},
}

var initCommand = &command{
	Name:  "init",
	Args:  "-name NAME (-key FILE | -agent [-pubkey FILE]) [-officer officer.json]",
	Short: "write officer.json for an existing key (a security key through ssh-agent)",
	Long: `Init writes officer.json (or -officer FILE) naming you and the key you sign
with: a key file (-key), or a key held by ssh-agent (-agent; -pubkey FILE
chooses one of several), such as a security key made with
ssh-keygen -t ed25519-sk and added with ssh-add. It checks that it can use
the key, and never overwrites a file.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if c.g.name == "" {
				return usagef("-name is required")
			}
			if c.g.key == "" && !c.g.agent {
				return usagef("give -key FILE or -agent")
			}
			path := c.g.officer
			if path == "" {
				path = "officer.json"
			}
			c.g.officer = "" // write it, do not read it
			id, err := c.identity()
			if err != nil {
				return err
			}
			f := officerFile{Name: id.name, PublicKey: id.pub.String(), Agent: c.g.agent}
			if c.g.key != "" {
				f.KeyFile = c.g.key
				if abs, err := filepath.Abs(c.g.key); err == nil {
					f.KeyFile = abs
				}
			}
			if err := writeOfficerFile(path, f); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "wrote %s: officer %s, %s key %s in %s\n", path, id.name, id.pub.Type(), id.pub.Fingerprint(), id.where)
			return nil
		}
	},
}

var whoamiCommand = &command{
	Name:  "whoami",
	Args:  "[-officer FILE | -key FILE | -agent [-pubkey FILE]] [-name NAME] [-cluster DIR]",
	Short: "show your key and, with -cluster, whether it is an officer's in the policy in force",
	Long: `Whoami shows the key you sign with: its type, fingerprint and public key.
With -cluster it fetches the policy in force, verifies it here, and says
whether the key is an officer's, under which name and in which groups.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			id, err := c.identity()
			if err != nil {
				return err
			}
			name := id.name
			if name == "" {
				name = "(not set: pass -name, or -cluster to find it in the policy)"
			}
			fmt.Fprintf(c.stdout, "name         %s\nkey          %s %s\npublic key   %s\nsigns with   %s\n", name, id.pub.Type(), id.pub.Fingerprint(), id.pub, id.where)
			if c.g.cluster == "" {
				return nil
			}
			cl, err := c.openCluster()
			if err != nil {
				return err
			}
			defer cl.Close()
			v, err := c.verifiedPolicy(ctx, cl, 0)
			if err != nil {
				return err
			}
			o, err := id.in(v.bundle)
			if err != nil {
				fmt.Fprintf(c.stdout, "officer      NO: %v\n", err)
				return errors.New("not an officer of the policy in force")
			}
			groups := groupsOf(v.bundle, o.Name)
			g := strings.Join(groups, ", ")
			if g == "" {
				g = "(none)"
			}
			fmt.Fprintf(c.stdout, "officer      yes: %s, in policy version %d (verified here)\ngroups       %s\n", o.Name, v.bundle.Version, g)
			return nil
		}
	},
}

// readFileMax reads a file of at most max bytes.
func readFileMax(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, info.Size(), max)
	}
	buf := make([]byte, 0, info.Size())
	b := bytes.NewBuffer(buf)
	if _, err := b.ReadFrom(f); err != nil {
		return nil, err
	}
	if int64(b.Len()) > max {
		return nil, fmt.Errorf("%s is more than %d bytes", path, max)
	}
	return b.Bytes(), nil
}
