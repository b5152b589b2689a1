package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"officer": main})
}

// TestScripts runs the scripts in testdata: the CLI as an officer types
// it, offline (keys, signing and comparing bundle files, errors).
//
// Each script finds, in $WORK/keys, the OpenSSH key files of the test
// officers alice, bob, carol and mallory: the keys of package policytest,
// derived from their names and public, for tests only.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			dir := filepath.Join(env.WorkDir, "keys")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			for _, name := range []string{"alice", "bob", "carol", "mallory"} {
				if err := writeTestKey(filepath.Join(dir, name+".key"), name); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// writeTestKey writes policytest's key of name as an OpenSSH key file and
// its .pub.
func writeTestKey(path, name string) error {
	seed := sha256.Sum256([]byte("countersign policytest key: " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return err
	}
	return os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(pub), 0o644)
}
