package bip32

import (
	"fmt"
	"strconv"
	"strings"
)

// FirstHardened is BIP32's first hardened index, 2³¹.
const FirstHardened = 1 << 31

// The BIP32 branches under a wallet's root.
const (
	ReceiveBranch = 0
	ChangeBranch  = 1
)

// Path is a BIP32 derivation path below a wallet's root: its indexes from
// the root down. A valid Path has at most [MaxPathDepth] indexes, each
// below 2³¹ (non-hardened). The empty Path names the root itself.
type Path []uint32

// ReceivePath returns m/0/index, the path of the wallet's deposit address
// number index. An index of 2³¹ or more gives a Path that Derive refuses.
func ReceivePath(index uint32) Path { return Path{ReceiveBranch, index} }

// ChangePath returns m/1/index, the path of the wallet's change address
// number index. An index of 2³¹ or more gives a Path that Derive refuses.
func ChangePath(index uint32) Path { return Path{ChangeBranch, index} }

// ParsePath parses a path written as [Path.String] writes it: "m", then for
// each index a "/" and the index in decimal, without sign, spaces or leading
// zeros, such as "m/0/7". Each path has exactly one spelling that parses.
//
// Errors wrap [ErrHardened] for an index of 2³¹ or more or one marked ', h
// or H; [ErrPathTooDeep] for more than [MaxPathDepth] indexes; and
// [ErrBadPath] for anything else that is not a path.
func ParsePath(s string) (Path, error) {
	rest, ok := strings.CutPrefix(s, "m")
	if !ok {
		return nil, pathError(ErrBadPath, s, "want \"m\" first")
	}
	p := make(Path, 0, MaxPathDepth)
	for rest != "" {
		n := len(p) + 1 // the component being read, counted from 1
		if rest[0] != '/' {
			if len(p) == 0 {
				return nil, pathError(ErrBadPath, s, "want \"/\" after \"m\"")
			}
			return nil, pathError(ErrBadPath, s, fmt.Sprintf("unexpected %q after component %d", rest[0], len(p)))
		}
		if len(p) == MaxPathDepth {
			return nil, pathError(ErrPathTooDeep, s, fmt.Sprintf("more than %d components", MaxPathDepth))
		}
		rest = rest[1:]
		end := 0
		for end < len(rest) && '0' <= rest[end] && rest[end] <= '9' {
			end++
		}
		digits := rest[:end]
		rest = rest[end:]
		switch {
		case digits == "":
			return nil, pathError(ErrBadPath, s, fmt.Sprintf("component %d is not a decimal number", n))
		case len(digits) > 1 && digits[0] == '0':
			return nil, pathError(ErrBadPath, s, fmt.Sprintf("component %d has a leading zero", n))
		case rest != "" && (rest[0] == '\'' || rest[0] == 'h' || rest[0] == 'H'):
			return nil, pathError(ErrHardened, s, fmt.Sprintf("component %d is hardened", n))
		}
		index, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return nil, pathError(ErrBadPath, s, fmt.Sprintf("component %d is out of range", n))
		}
		if index >= FirstHardened {
			return nil, pathError(ErrHardened, s, fmt.Sprintf("component %d is 2^31 or more", n))
		}
		p = append(p, uint32(index))
	}
	return p, nil
}

func pathError(sentinel error, s, detail string) error {
	return fmt.Errorf("%w: %s: %s", sentinel, quote(s), detail)
}

// String returns p in BIP32 notation, such as "m/0/7". An index of 2³¹ or
// more is written as hardened ("m/0'"), though no such Path is valid here.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("m")
	for _, index := range p {
		b.WriteByte('/')
		if index >= FirstHardened {
			b.WriteString(strconv.FormatUint(uint64(index-FirstHardened), 10))
			b.WriteByte('\'')
			continue
		}
		b.WriteString(strconv.FormatUint(uint64(index), 10))
	}
	return b.String()
}

// check reports whether p is a valid Path.
func (p Path) check() error {
	if len(p) > MaxPathDepth {
		return fmt.Errorf("%w: %d components, at most %d", ErrPathTooDeep, len(p), MaxPathDepth)
	}
	for i, index := range p {
		if index >= FirstHardened {
			return fmt.Errorf("%w: %s: component %d", ErrHardened, p, i+1)
		}
	}
	return nil
}
