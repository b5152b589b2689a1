package bip32_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/bip32"
)

func TestParsePath(t *testing.T) {
	good := []struct {
		name string
		in   string
		want bip32.Path
	}{
		{"root", "m", bip32.Path{}},
		{"one", "m/0", bip32.Path{0}},
		{"receive", "m/0/7", bip32.Path{0, 7}},
		{"change", "m/1/12345", bip32.Path{1, 12345}},
		{"max index", "m/2147483647", bip32.Path{1<<31 - 1}},
		{"max depth", "m/1/2/3/4", bip32.Path{1, 2, 3, 4}},
		{"ten digits", "m/1000000000", bip32.Path{1000000000}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bip32.ParsePath(tc.in)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ParsePath(%q) = %v, want %v", tc.in, []uint32(got), []uint32(tc.want))
			}
			if s := got.String(); s != tc.in {
				t.Fatalf("String() = %q, want %q", s, tc.in)
			}
		})
	}

	bad := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", bip32.ErrBadPath},
		{"no m", "0/7", bip32.ErrBadPath},
		{"no m slash", "/0/7", bip32.ErrBadPath},
		{"capital M", "M/0", bip32.ErrBadPath},
		{"m twice", "mm/0", bip32.ErrBadPath},
		{"no slash after m", "m0", bip32.ErrBadPath},
		{"trailing slash", "m/0/", bip32.ErrBadPath},
		{"root slash", "m/", bip32.ErrBadPath},
		{"double slash", "m//0", bip32.ErrBadPath},
		{"leading zero", "m/07", bip32.ErrBadPath},
		{"zero zero", "m/00", bip32.ErrBadPath},
		{"leading space", " m/0", bip32.ErrBadPath},
		{"trailing space", "m/0 ", bip32.ErrBadPath},
		{"inner space", "m/ 0", bip32.ErrBadPath},
		{"trailing newline", "m/0\n", bip32.ErrBadPath},
		{"plus sign", "m/+1", bip32.ErrBadPath},
		{"minus sign", "m/-1", bip32.ErrBadPath},
		{"hex", "m/0x10", bip32.ErrBadPath},
		{"letters", "m/a", bip32.ErrBadPath},
		{"backslash", "m\\0", bip32.ErrBadPath},
		{"unicode digit", "m/\u0661", bip32.ErrBadPath},
		{"fullwidth digit", "m/\uff11", bip32.ErrBadPath},
		{"overflow uint32", "m/4294967296", bip32.ErrBadPath},
		{"huge", "m/99999999999999999999999", bip32.ErrBadPath},
		{"bare apostrophe", "m/'", bip32.ErrBadPath},
		{"hardened apostrophe", "m/0'", bip32.ErrHardened},
		{"hardened h", "m/44h/0", bip32.ErrHardened},
		{"hardened H", "m/0/1H", bip32.ErrHardened},
		{"hardened number", "m/2147483648", bip32.ErrHardened},
		{"max uint32", "m/4294967295", bip32.ErrHardened},
		{"too deep", "m/0/0/0/0/0", bip32.ErrPathTooDeep},
		{"far too deep", "m" + strings.Repeat("/1", 10000), bip32.ErrPathTooDeep},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bip32.ParsePath(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParsePath(%q) = %v, %v; want error %v", tc.in, []uint32(got), err, tc.want)
			}
			if got != nil {
				t.Fatalf("ParsePath(%q) returned path %v with error", tc.in, []uint32(got))
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestPathString(t *testing.T) {
	tests := []struct {
		name string
		p    bip32.Path
		want string
	}{
		{"nil", nil, "m"},
		{"empty", bip32.Path{}, "m"},
		{"receive", bip32.ReceivePath(7), "m/0/7"},
		{"change", bip32.ChangePath(0), "m/1/0"},
		{"max index", bip32.ReceivePath(1<<31 - 1), "m/0/2147483647"},
		{"hardened", bip32.Path{1<<31 + 44, 0}, "m/44'/0"},
		{"max uint32", bip32.Path{1<<32 - 1}, "m/2147483647'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReceiveAndChangePaths(t *testing.T) {
	for _, i := range []uint32{0, 1, 7, 1<<31 - 1} {
		if got, want := bip32.ReceivePath(i), (bip32.Path{0, i}); !slices.Equal(got, want) {
			t.Errorf("ReceivePath(%d) = %v, want %v", i, got, want)
		}
		if got, want := bip32.ChangePath(i), (bip32.Path{1, i}); !slices.Equal(got, want) {
			t.Errorf("ChangePath(%d) = %v, want %v", i, got, want)
		}
	}
}

// FuzzParsePath checks that ParsePath never panics, that it fails only with
// the package's path errors, and that a path has exactly one spelling:
// whatever parses is written back byte for byte and parses to the same path.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"m", "m/0", "m/0/7", "m/1/2147483647", "m/1/2/3/4", "m/0/0/0/0/0",
		"m/0'", "m/44h/0", "m/07", "m//", "m/4294967296", "", "0/1", "m/ 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := bip32.ParsePath(s)
		if err != nil {
			if !errors.Is(err, bip32.ErrBadPath) && !errors.Is(err, bip32.ErrHardened) && !errors.Is(err, bip32.ErrPathTooDeep) {
				t.Fatalf("ParsePath(%q): unexpected error %v", s, err)
			}
			return
		}
		if len(p) > bip32.MaxPathDepth {
			t.Fatalf("ParsePath(%q) = %v, deeper than %d", s, []uint32(p), bip32.MaxPathDepth)
		}
		for _, index := range p {
			if index >= 1<<31 {
				t.Fatalf("ParsePath(%q) = %v, has a hardened index", s, []uint32(p))
			}
		}
		out := p.String()
		if out != s {
			t.Fatalf("ParsePath(%q).String() = %q", s, out)
		}
		again, err := bip32.ParsePath(out)
		if err != nil {
			t.Fatalf("ParsePath(%q): %v", out, err)
		}
		if !slices.Equal(again, p) {
			t.Fatalf("ParsePath(%q) = %v, then %v", s, []uint32(p), []uint32(again))
		}
	})
}
