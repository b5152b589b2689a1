package bitcoin

import "github.com/countersign/countersign/policy/bip32"

// Wallet keys and paths are package bip32's; these aliases keep this
// package's callers short.
type (
	Key   = bip32.Key
	Child = bip32.Child
	Path  = bip32.Path
)

// MaxPathDepth is bip32.MaxPathDepth.
const MaxPathDepth = bip32.MaxPathDepth

// ReceivePath returns m/0/index; see bip32.ReceivePath.
func ReceivePath(index uint32) Path { return bip32.ReceivePath(index) }

// ChangePath returns m/1/index; see bip32.ChangePath.
func ChangePath(index uint32) Path { return bip32.ChangePath(index) }

// ParsePath parses a path; see bip32.ParsePath.
func ParsePath(s string) (Path, error) { return bip32.ParsePath(s) }

// Fingerprint returns the BIP32 fingerprint of a public key.
func Fingerprint(pub [33]byte) [4]byte { return bip32.Fingerprint(pub) }
