package bitcoin_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/policy/bitcoin"
)

func TestParsePath(t *testing.T) {
	good := []struct {
		name string
		in   string
		want bitcoin.Path
	}{
		{"root", "m", bitcoin.Path{}},
		{"one", "m/0", bitcoin.Path{0}},
		{"receive", "m/0/7", bitcoin.Path{0, 7}},
		{"change", "m/1/12345", bitcoin.Path{1, 12345}},
		{"max index", "m/2147483647", bitcoin.Path{1<<31 - 1}},
		{"max depth", "m/1/2/3/4", bitcoin.Path{1, 2, 3, 4}},
		{"ten digits", "m/1000000000", bitcoin.Path{1000000000}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bitcoin.ParsePath(tc.in)
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
		{"empty", "", bitcoin.ErrBadPath},
		{"no m", "0/7", bitcoin.ErrBadPath},
		{"no m slash", "/0/7", bitcoin.ErrBadPath},
		{"capital M", "M/0", bitcoin.ErrBadPath},
		{"m twice", "mm/0", bitcoin.ErrBadPath},
		{"no slash after m", "m0", bitcoin.ErrBadPath},
		{"trailing slash", "m/0/", bitcoin.ErrBadPath},
		{"root slash", "m/", bitcoin.ErrBadPath},
		{"double slash", "m//0", bitcoin.ErrBadPath},
		{"leading zero", "m/07", bitcoin.ErrBadPath},
		{"zero zero", "m/00", bitcoin.ErrBadPath},
		{"leading space", " m/0", bitcoin.ErrBadPath},
		{"trailing space", "m/0 ", bitcoin.ErrBadPath},
		{"inner space", "m/ 0", bitcoin.ErrBadPath},
		{"trailing newline", "m/0\n", bitcoin.ErrBadPath},
		{"plus sign", "m/+1", bitcoin.ErrBadPath},
		{"minus sign", "m/-1", bitcoin.ErrBadPath},
		{"hex", "m/0x10", bitcoin.ErrBadPath},
		{"letters", "m/a", bitcoin.ErrBadPath},
		{"backslash", "m\\0", bitcoin.ErrBadPath},
		{"unicode digit", "m/\u0661", bitcoin.ErrBadPath},
		{"fullwidth digit", "m/\uff11", bitcoin.ErrBadPath},
		{"overflow uint32", "m/4294967296", bitcoin.ErrBadPath},
		{"huge", "m/99999999999999999999999", bitcoin.ErrBadPath},
		{"bare apostrophe", "m/'", bitcoin.ErrBadPath},
		{"hardened apostrophe", "m/0'", bitcoin.ErrHardened},
		{"hardened h", "m/44h/0", bitcoin.ErrHardened},
		{"hardened H", "m/0/1H", bitcoin.ErrHardened},
		{"hardened number", "m/2147483648", bitcoin.ErrHardened},
		{"max uint32", "m/4294967295", bitcoin.ErrHardened},
		{"too deep", "m/0/0/0/0/0", bitcoin.ErrPathTooDeep},
		{"far too deep", "m" + strings.Repeat("/1", 10000), bitcoin.ErrPathTooDeep},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bitcoin.ParsePath(tc.in)
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
		p    bitcoin.Path
		want string
	}{
		{"nil", nil, "m"},
		{"empty", bitcoin.Path{}, "m"},
		{"receive", bitcoin.ReceivePath(7), "m/0/7"},
		{"change", bitcoin.ChangePath(0), "m/1/0"},
		{"max index", bitcoin.ReceivePath(1<<31 - 1), "m/0/2147483647"},
		{"hardened", bitcoin.Path{1<<31 + 44, 0}, "m/44'/0"},
		{"max uint32", bitcoin.Path{1<<32 - 1}, "m/2147483647'"},
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
		if got, want := bitcoin.ReceivePath(i), (bitcoin.Path{0, i}); !slices.Equal(got, want) {
			t.Errorf("ReceivePath(%d) = %v, want %v", i, got, want)
		}
		if got, want := bitcoin.ChangePath(i), (bitcoin.Path{1, i}); !slices.Equal(got, want) {
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
		p, err := bitcoin.ParsePath(s)
		if err != nil {
			if !errors.Is(err, bitcoin.ErrBadPath) && !errors.Is(err, bitcoin.ErrHardened) && !errors.Is(err, bitcoin.ErrPathTooDeep) {
				t.Fatalf("ParsePath(%q): unexpected error %v", s, err)
			}
			return
		}
		if len(p) > bitcoin.MaxPathDepth {
			t.Fatalf("ParsePath(%q) = %v, deeper than %d", s, []uint32(p), bitcoin.MaxPathDepth)
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
		again, err := bitcoin.ParsePath(out)
		if err != nil {
			t.Fatalf("ParsePath(%q): %v", out, err)
		}
		if !slices.Equal(again, p) {
			t.Fatalf("ParsePath(%q) = %v, then %v", s, []uint32(p), []uint32(again))
		}
	})
}
