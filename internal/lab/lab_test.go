package lab

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/countersign/countersign/policy"
	"github.com/countersign/countersign/policy/keys"
)

// The genesis is one the nodes accept, signed by the officers whose key
// files lie beside it.
func TestWriteGenesis(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteGenesis(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sigRaw, err := os.ReadFile(path + ".sigs")
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := policy.ParseSignatures(sigRaw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policy.AcceptGenesis(raw, sigs)
	if err != nil {
		t.Fatalf("the nodes would refuse the lab genesis: %v", err)
	}
	if b.Cluster != "lab" || b.ChangeQuorum != 2 || len(b.Wallets) != 0 || !slices.Equal(b.Groups["treasury"], Officers) || !slices.Equal(b.Groups["security"], []string{"carol"}) {
		t.Errorf("the lab genesis: %+v", b)
	}
	for i, name := range append(slices.Clone(Officers), Ledger) {
		s, err := keys.LoadKeyFile(filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == Ledger {
			for _, o := range b.Officers {
				if o.Key.Equal(s.PublicKey()) {
					t.Errorf("the ledger's key is officer %s's", o.Name)
				}
			}
			continue
		}
		if b.Officers[i].Name != name || !b.Officers[i].Key.Equal(s.PublicKey()) {
			t.Errorf("officer %d is %s with another key than %s.key", i, b.Officers[i].Name, name)
		}
	}
	if _, err := WriteGenesis(dir); err == nil {
		t.Error("a second WriteGenesis into the same directory replaced the key files")
	}
}
