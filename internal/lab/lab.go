// Package lab makes what a lab cluster needs besides its nodes: key files
// for three lab officers (alice, bob and carol) and for the ledger that
// signs intents, and a genesis policy bundle those officers signed.
// `signerd dev` creates its clusters with it, and tests that drive a lab
// cluster use the very same genesis.
//
// It guarantees that the bundle it writes is one the nodes accept as a
// genesis (policy.AcceptGenesis): cluster "lab", the three officers, any
// two of whom change the policy (ChangeQuorum 2, signed by alice and bob),
// group treasury holding all three and security carol alone, and no
// wallet yet.
//
// It is for labs and tests only: the key files are not passphrase
// protected, and whoever can read them is the cluster's officers.
package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/keys"
)

// Officers are the officers of a lab genesis, in the order they sign.
var Officers = []string{"alice", "bob", "carol"}

// Ledger is the name of the ledger's key file (Ledger.key, Ledger.key.pub).
const Ledger = "ledger"

// GenesisFile is the name of the genesis bundle WriteGenesis writes; its
// officers' signatures are in GenesisFile + ".sigs".
const GenesisFile = "genesis-policy.json"

// WriteGenesis writes into dir, which must exist, a key file NAME.key (and
// NAME.key.pub) for each officer and for the ledger, and the genesis
// bundle GenesisFile with its signatures; it returns the bundle's path.
func WriteGenesis(dir string) (string, error) {
	b := policy.Bundle{Format: policy.BundleFormat, Cluster: "lab", Version: 1, Description: "lab cluster genesis: officers only, no wallet",
		Groups: map[string][]string{"treasury": Officers, "security": {"carol"}}, ChangeQuorum: 2, Wallets: map[string]*policy.WalletRules{}}
	var signers []keys.Signer
	for _, name := range append(slices.Clone(Officers), Ledger) {
		pub, err := keys.GenerateKeyFile(filepath.Join(dir, name+".key"), name+"@lab")
		if err != nil {
			return "", err
		}
		if name == Ledger {
			continue
		}
		b.Officers = append(b.Officers, policy.Officer{Name: name, Key: pub})
		s, err := keys.LoadKeyFile(filepath.Join(dir, name+".key"))
		if err != nil {
			return "", err
		}
		signers = append(signers, s)
	}
	raw, err := json.MarshalIndent(&b, "", "  ")
	if err != nil {
		return "", err
	}
	raw = append(raw, '\n')
	var sigs []policy.Signature
	for i, s := range signers[:b.ChangeQuorum] {
		sig, err := s.Sign(keys.NamespacePolicy, raw)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, policy.Signature{Officer: Officers[i], Signature: string(sig)})
	}
	sigRaw, err := json.MarshalIndent(sigs, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, GenesisFile)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return "", err
	}
	return path, os.WriteFile(path+".sigs", sigRaw, 0o644)
}
