// Package policytest makes signed policy bundles, intents and approvals
// for tests: officers and originating systems with fixed keys derived from
// their names. Never use these keys for anything else: anyone can derive
// them.
package policytest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/keys"
)

// T is what the helpers need of a *testing.T or *testing.B. The package
// does not import testing, so that tools (auditor gen) can use the cast.
type T interface {
	Helper()
	Fatal(args ...any)
}

// Party is an officer or an originating system with a key.
type Party struct {
	Name   string
	Signer keys.Signer
}

// NewParty returns the party named name, with an ed25519 key derived from
// the name.
func NewParty(name string) Party {
	seed := sha256.Sum256([]byte("countersign policytest key: " + name))
	s, err := keys.NewSigner(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		panic(err)
	}
	return Party{Name: name, Signer: s}
}

// The usual cast: three officers, an outsider and the exchange's ledger.
var (
	Alice   = NewParty("alice")
	Bob     = NewParty("bob")
	Carol   = NewParty("carol")
	Mallory = NewParty("mallory") // not an officer
	Ledger  = NewParty("ledger")  // the originating system
)

// Key is the party's public key.
func (p Party) Key() keys.PublicKey { return p.Signer.PublicKey() }

// Officer is the party as a bundle's officer.
func (p Party) Officer() policy.Officer { return policy.Officer{Name: p.Name, Key: p.Key()} }

// Originator is the party as a wallet's originator.
func (p Party) Originator() policy.Originator { return policy.Originator{Name: p.Name, Key: p.Key()} }

// Genesis is a first bundle for cluster: officers Alice, Bob and Carol, any
// two of whom change the policy; group "treasury" holds all three and
// "security" Carol alone; no wallet.
func Genesis(cluster string) policy.Bundle {
	return policy.Bundle{
		Format: policy.BundleFormat, Cluster: cluster, Version: 1, Description: "genesis",
		Officers:     []policy.Officer{Alice.Officer(), Bob.Officer(), Carol.Officer()},
		Groups:       map[string][]string{"treasury": {"alice", "bob", "carol"}, "security": {"carol"}},
		ChangeQuorum: 2, Wallets: map[string]*policy.WalletRules{},
	}
}

// Marshal writes a bundle file, indented as officers would read it.
func Marshal(t T, b policy.Bundle) []byte {
	t.Helper()
	raw, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(raw, '\n')
}

// SignBundle has each party sign raw.
func SignBundle(t T, raw []byte, by ...Party) []policy.Signature {
	t.Helper()
	var out []policy.Signature
	for _, p := range by {
		sig, err := p.Signer.Sign(keys.NamespacePolicy, raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, policy.Signature{Officer: p.Name, Signature: string(sig)})
	}
	return out
}

// SignaturesFile is sigs as a signatures file.
func SignaturesFile(t T, sigs []policy.Signature) []byte {
	t.Helper()
	raw, err := json.MarshalIndent(sigs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// SignIntent is p's signature over the intent's canonical bytes.
func SignIntent(t T, in chain.Intent, p Party) []byte {
	t.Helper()
	sig, err := p.Signer.Sign(keys.NamespaceIntent, in.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// Approve is p's signed approval statement a.
func Approve(t T, p Party, a policy.Approval) policy.SignedApproval {
	t.Helper()
	st := a.Statement()
	sig, err := p.Signer.Sign(keys.NamespaceApproval, st)
	if err != nil {
		t.Fatal(err)
	}
	return policy.SignedApproval{Officer: p.Name, Statement: st, Signature: sig}
}
