package bip32

import (
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Deriver is [Key.Derive] with the parent of each path remembered, so that
// the many inputs and change outputs of one withdrawal, which share the
// parents m/0 and m/1, cost one derivation step each. It gives exactly
// what Key.Derive gives, errors included.
type Deriver struct {
	key     Key
	parents map[string]*parent
}

// parent is a derived key that children are derived from.
type parent struct {
	node  node
	tweak btcec.ModNScalar
	err   error // from deriving the parent itself
}

func NewDeriver(k Key) *Deriver {
	return &Deriver{key: k, parents: make(map[string]*parent)}
}

// Derive returns k.Derive(path).
func (d *Deriver) Derive(path Path) (Child, error) {
	if len(path) < 2 {
		return d.key.Derive(path)
	}
	if err := path.check(); err != nil {
		return Child{}, err
	}
	parentPath := path[:len(path)-1]
	name := parentPath.String()
	p, ok := d.parents[name]
	if !ok {
		p = &parent{}
		c, err := d.key.Derive(parentPath)
		if err == nil {
			var pub *btcec.PublicKey
			pub, err = btcec.ParsePubKey(c.PublicKey[:])
			if err == nil {
				p.node = node{pub: c.PublicKey, chain: c.ChainCode}
				pub.AsJacobian(&p.node.point)
				p.tweak.SetBytes(&c.Tweak)
			}
		}
		p.err = err
		d.parents[name] = p
	}
	if p.err != nil {
		return Child{}, p.err
	}
	c, il, err := p.node.child(path[len(path)-1])
	if err != nil {
		return Child{}, fmt.Errorf("%w: %s", err, path)
	}
	tweak := p.tweak
	tweak.Add(&il)
	return Child{
		PublicKey: c.pub,
		ChainCode: c.chain,
		Tweak:     tweak.Bytes(),
		Path:      slices.Clone(path),
	}, nil
}
