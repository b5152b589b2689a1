package bip32

import (
	"crypto/sha256"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// TestDeriverMatchesDerive checks that deriver gives what Key.Derive
// gives, values and errors, for paths of every depth, repeated so that
// remembered parents are used, and for a root that is not a key.
func TestDeriverMatchesDerive(t *testing.T) {
	seed := sha256.Sum256([]byte("countersign deriver test"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	good := Key{PublicKey: [33]byte(priv.PubKey().SerializeCompressed()), ChainCode: sha256.Sum256(seed[:])}
	bad := good
	bad.PublicKey[0] = 0x05

	paths := []Path{
		{}, {0}, {1}, {0, 0}, {0, 7}, {1, 3}, {1, 3}, {0, 7}, {5, 6, 7}, {5, 6, 8}, {5, 6, 7, 8},
		{0, FirstHardened}, {FirstHardened, 0}, {0, 1, 2, 3, 4}, {FirstHardened - 1, FirstHardened - 1},
	}
	for i := range uint32(40) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], i)
		h := sha256.Sum256(b[:])
		paths = append(paths, Path{i % 2, binary.BigEndian.Uint32(h[:]) % 50})
	}
	for _, k := range []Key{good, bad} {
		d := NewDeriver(k)
		for _, path := range paths {
			want, wantErr := k.Derive(path)
			got, gotErr := d.Derive(path)
			if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) ||
				(gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("%s: deriver gives %+v, %v; Derive gives %+v, %v", path, got, gotErr, want, wantErr)
			}
		}
	}
}
