package cmdline

import (
	"context"
	"flag"
	"slices"
	"testing"
)

type inv struct{}

func noop(inv, *flag.FlagSet) func(context.Context, []string) error { return nil }

var cmds = []*Command[inv]{{Name: "status", Flags: noop}, {Name: "wallet create", Flags: noop}, {Name: "wallet list", Flags: noop}, {Name: "wallet", Flags: noop}}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want     string
		wantRest []string
	}{
		{[]string{"status", "-all"}, "status", []string{"-all"}},
		{[]string{"wallet", "create", "-label", "x"}, "wallet create", []string{"-label", "x"}},
		{[]string{"wallet", "w-1"}, "wallet", []string{"w-1"}}, // two-word names first, then one
		{[]string{"nope"}, "", nil},
		{nil, "", nil},
	} {
		cmd, rest := Lookup(cmds, tc.args)
		got := ""
		if cmd != nil {
			got = cmd.Name
		}
		if got != tc.want || !slices.Equal(rest, tc.wantRest) {
			t.Errorf("Lookup(%q) = %q %q, want %q %q", tc.args, got, rest, tc.want, tc.wantRest)
		}
	}
	if g := Names(Group(cmds, "wallet")); !slices.Equal(g, []string{"wallet create", "wallet list"}) {
		t.Errorf("Group(wallet) = %q", g)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantPos  []string
		wantJSON bool
	}{
		{[]string{"ID", "-json"}, []string{"ID"}, true},
		{[]string{"-json", "ID"}, []string{"ID"}, true},
		{[]string{"A", "-json", "B"}, []string{"A", "B"}, true},
		{[]string{"A", "--", "-json"}, []string{"A", "-json"}, false},
		{nil, nil, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		j := fs.Bool("json", false, "")
		pos, err := ParseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.wantPos) || *j != tc.wantJSON {
			t.Errorf("ParseInterspersed(%q) = %q, json %v, %v", tc.args, pos, *j, err)
		}
	}
}
