package bitcoin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/countersign/countersign/policy/bip32"
	"github.com/countersign/countersign/policy/chain"
)

// Name is the chain's name in intents and bundles.
const Name = "bitcoin"

// Chain is Bitcoin behind the [chain.Chain] seam: the adapter from
// chain-neutral intents, keys and limits to [Rederive] and
// [Withdrawal.Finalize].
type Chain struct{}

var _ chain.Chain = Chain{}

// Name returns "bitcoin".
func (Chain) Name() string { return Name }

// Scheme returns ECDSA over secp256k1.
func (Chain) Scheme() chain.Scheme { return chain.ECDSASecp256k1 }

// Params are a Bitcoin wallet's chain parameters in a policy bundle.
type Params struct {
	Net Network `json:"-"`
	// AllowRBF allows the replace-by-fee sequence 0xfffffffd.
	AllowRBF bool `json:"allow_rbf,omitempty"`
	// MaxLockTime is the highest block height a lock time may name; 0
	// allows only lock time 0.
	MaxLockTime uint32 `json:"max_lock_time,omitempty"`
}

var _ chain.Params = Params{}

// Network returns the wallet's network.
func (p Params) Network() string { return string(p.Net) }

// FeeAsset returns "BTC".
func (Params) FeeAsset() string { return Asset }

// Decimals returns 8 for BTC, the only asset.
func (Params) Decimals(asset string) (int, bool) { return 8, asset == Asset }

// ParseParams reads a wallet's Bitcoin parameters: {"allow_rbf": bool,
// "max_lock_time": height}, both optional.
func (Chain) ParseParams(network string, raw json.RawMessage) (chain.Params, error) {
	p := Params{Net: Network(network)}
	if _, err := ParamsFor(p.Net); err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("bitcoin: params: %v", err)
		}
		if dec.More() {
			return nil, fmt.Errorf("bitcoin: params: bytes after the object")
		}
	}
	if p.MaxLockTime >= LockTimeThreshold {
		return nil, fmt.Errorf("bitcoin: params: max_lock_time is a block height, below %d", LockTimeThreshold)
	}
	return p, nil
}

// IntentOf returns a chain-neutral intent as this package's [Intent], or
// the refusal its fields earn: amounts must fit in satoshis.
func IntentOf(in chain.Intent) (Intent, error) {
	out := Intent{WithdrawalID: in.WithdrawalID, WalletID: in.WalletID, Network: Network(in.Network), Asset: in.Asset,
		Destination: in.Destination, RequestedBy: in.RequestedBy}
	if in.Chain != Name {
		return out, refuse(chain.RuleIntentChain, "chain %s, want %q", quote(in.Chain), Name)
	}
	if in.Replaces != "" {
		return out, refuse(chain.RuleIntentReplaces, "a Bitcoin intent cannot replace another withdrawal (replacement is of account nonces)")
	}
	var ok bool
	if out.Amount, ok = in.Amount.Int64(); !ok || out.Amount > MaxSatoshi {
		return out, refuse(RuleIntentAmount, "amount %s sats is not in 1..%d", in.Amount, int64(MaxSatoshi))
	}
	if out.FeeCap, ok = in.FeeCap.Int64(); !ok || out.FeeCap > MaxSatoshi {
		return out, refuse(RuleIntentFeeCap, "fee cap %s sats is not in 1..%d", in.FeeCap, int64(MaxSatoshi))
	}
	return out, nil
}

// NeutralIntent returns in as a chain-neutral intent of version 2.
func NeutralIntent(in Intent) chain.Intent {
	return chain.Intent{Version: chain.IntentV2, WithdrawalID: in.WithdrawalID, WalletID: in.WalletID, Chain: Name,
		Network: string(in.Network), Asset: in.Asset, Destination: in.Destination,
		Amount: chain.AmountOf(uint64(max(in.Amount, 0))), FeeCap: chain.AmountOf(uint64(max(in.FeeCap, 0))), RequestedBy: in.RequestedBy}
}

// CheckIntent checks an intent without its PSBT.
func (Chain) CheckIntent(in chain.Intent, _ chain.Params) error {
	bin, err := IntentOf(in)
	if err != nil {
		return err
	}
	return bin.Check()
}

// KeyOf returns a chain-neutral wallet key as a BIP32 root.
func KeyOf(k chain.Key) (Key, error) {
	if k.Scheme != chain.ECDSASecp256k1 || len(k.PublicKey) != 33 {
		return Key{}, fmt.Errorf("%w: a %s key of %d bytes", ErrBadKey, k.Scheme, len(k.PublicKey))
	}
	return Key{PublicKey: [33]byte(k.PublicKey), ChainCode: k.ChainCode}, nil
}

// Rederive re-derives a PSBT behind the seam; see the package function
// [Rederive] for what it checks.
func (Chain) Rederive(in chain.Intent, psbt []byte, wallet chain.Key, p chain.Params, lim chain.Limits) (*chain.Tx, error) {
	bp, ok := p.(Params)
	if !ok {
		return nil, refuse(RuleLimitsInvalid, "the wallet's parameters are not Bitcoin's")
	}
	bin, err := IntentOf(in)
	if err != nil {
		return nil, err
	}
	key, err := KeyOf(wallet)
	if err != nil {
		return nil, refuse(RuleWalletKey, "the wallet's root key: %v", err)
	}
	maxFee, ok := lim.MaxFee.Int64()
	if !ok || maxFee > MaxSatoshi {
		maxFee = MaxSatoshi
	}
	w, err := Rederive(bin, psbt, key, Limits{MaxFee: maxFee, MaxInputs: MaxInputs, MaxOutputs: MaxOutputs,
		MaxLockTime: bp.MaxLockTime, AllowRBF: bp.AllowRBF, ChangeIndexMax: MaxChangeIndex})
	if err != nil {
		return nil, err
	}
	return w.neutral(bin), nil
}

// neutral is w as the seam's [chain.Tx].
func (w *Withdrawal) neutral(in Intent) *chain.Tx {
	var change int64
	for _, c := range w.Change {
		change += c.Value
	}
	tx := &chain.Tx{
		ID: w.TxID.String(), Fee: chain.AmountOf(uint64(w.Fee)), FeeAsset: Asset,
		Outflow: chain.Amounts{Asset: chain.AmountOf(uint64(in.Amount + w.Fee))},
		Vars: map[string]any{
			"amount_sat": in.Amount, "fee_sat": w.Fee, "outflow_sat": in.Amount + w.Fee,
			"inputs": int64(len(w.Inputs)), "change_sat": change,
		},
		Finish: func(sigs [][64]byte) (*chain.Finished, error) {
			raw, err := w.Finalize(sigs)
			if err != nil {
				return nil, err
			}
			return &chain.Finished{Raw: raw, TxID: w.TxID.String()}, nil
		},
	}
	for i, input := range w.Inputs {
		tx.Sign = append(tx.Sign, chain.SignItem{Message: w.Digests[i][:], Path: input.Path, Tweak: input.Tweak, PublicKey: input.PublicKey[:]})
	}
	fact := func(label, value string, risk bool) {
		tx.Facts = append(tx.Facts, chain.Fact{Label: label, Value: value, Risk: risk})
	}
	fact("network", string(in.Network), in.Network == Mainnet)
	fact("destination", fmt.Sprintf("%s (output %d)", in.Destination, w.Destination.Index), false)
	fact("amount", fmt.Sprintf("%s (%d sat)", btcutil.Amount(in.Amount).Format(btcutil.AmountBTC), in.Amount), false)
	rate := ""
	if w.VSize > 0 {
		rate = fmt.Sprintf(", %s sat/vB", strconv.FormatFloat(float64(w.Fee)/float64(w.VSize), 'f', 1, 64))
	}
	fact("fee", fmt.Sprintf("%d sat%s (intent's cap %d sat)", w.Fee, rate, in.FeeCap), false)
	for _, c := range w.Change {
		fact("change", fmt.Sprintf("%d sat to %s (%s, output %d)", c.Value, c.Address, c.Path, c.Index), false)
	}
	for i, input := range w.Inputs {
		fact(fmt.Sprintf("input %d", i), fmt.Sprintf("%s, %d sat, key %s", input.Outpoint, input.Value, input.Path), false)
	}
	fact("txid", w.TxID.String(), false)
	return tx
}

// Address returns the P2WPKH address of the wallet's key at path.
func (Chain) Address(wallet chain.Key, network string, path bip32.Path) (string, error) {
	key, err := KeyOf(wallet)
	if err != nil {
		return "", err
	}
	child, err := key.Derive(path)
	if err != nil {
		return "", err
	}
	return P2WPKHAddress(child.PublicKey, Network(network))
}

// AddressKey returns the output script paying address on network.
func (Chain) AddressKey(network string, address string) (string, error) {
	params, err := ParamsFor(Network(network))
	if err != nil {
		return "", err
	}
	script, err := scriptOf(address, params)
	return string(script), err
}

// NeutralKey returns a BIP32 root as the seam's wallet key.
func NeutralKey(k Key) chain.Key {
	return chain.Key{Scheme: chain.ECDSASecp256k1, PublicKey: k.PublicKey[:], ChainCode: k.ChainCode}
}
