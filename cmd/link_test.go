// Package cmd holds no code: only this test, which keeps the client
// binaries from linking the node.
package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The node's modules: threshold signing, its store and the TPM.
const (
	tssLib = "github.com/bnb-chain/tss-lib/v2"
	bbolt  = "go.etcd.io/bbolt"
	goTPM  = "github.com/google/go-tpm"
)

// TestClientsDoNotLinkTheNode runs `go list -deps` for each binary and
// checks which of the node's modules it links. The officer and operator
// CLIs link none; the auditor reads node databases, so it may link bbolt
// (through signer/store), but not threshold signing or the TPM. signerd
// must link all three: that proves the check sees them.
func TestClientsDoNotLinkTheNode(t *testing.T) {
	tests := []struct {
		binary    string
		forbidden []string
		required  []string
	}{
		{binary: "./cmd/officer", forbidden: []string{tssLib, bbolt, goTPM}},
		{binary: "./cmd/signerctl", forbidden: []string{tssLib, bbolt, goTPM}},
		{binary: "./cmd/auditor", forbidden: []string{tssLib, goTPM}},
		{binary: "./cmd/signerd", required: []string{tssLib, bbolt, goTPM}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.binary, "./cmd/"), func(t *testing.T) {
			pkgs := listDeps(t, tt.binary)
			for _, mod := range tt.forbidden {
				if chain := chainTo(pkgs, mod); chain != nil {
					t.Errorf("%s links %s (module %s): %s", tt.binary, chain[len(chain)-1], mod, strings.Join(chain, " -> "))
				}
			}
			for _, mod := range tt.required {
				if chainTo(pkgs, mod) == nil {
					t.Errorf("%s does not link module %s: is the check looking at the right modules?", tt.binary, mod)
				}
			}
		})
	}
}

// pkg is what `go list -json` says of one package, the fields used here.
type pkg struct {
	ImportPath string
	Imports    []string
	Module     *struct{ Path string }
}

// listDeps returns every package binary links, itself included, as
// `go list -deps` lists them (dependencies first), from the module root.
func listDeps(t *testing.T, binary string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Module", binary)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", binary, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list -deps %s: %v", binary, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 || pkgs[len(pkgs)-1].Module == nil {
		t.Fatalf("go list -deps %s listed no package of this module", binary)
	}
	return pkgs
}

// chainTo is a shortest chain of imports from the binary, the last of
// pkgs (go list -deps lists dependencies first), to a package of module
// mod; nil if the binary links none.
func chainTo(pkgs []pkg, mod string) []string {
	byPath := map[string]pkg{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	root := pkgs[len(pkgs)-1].ImportPath
	prev := map[string]string{root: ""}
	for queue := []string{root}; len(queue) > 0; queue = queue[1:] {
		p := byPath[queue[0]]
		if p.Module != nil && p.Module.Path == mod {
			var chain []string
			for at := p.ImportPath; at != ""; at = prev[at] {
				chain = append(chain, strings.TrimPrefix(at, "github.com/countersign/countersign/"))
			}
			slices.Reverse(chain)
			return chain
		}
		for _, q := range p.Imports {
			if _, seen := prev[q]; !seen {
				prev[q] = p.ImportPath
				queue = append(queue, q)
			}
		}
	}
	return nil
}
