package ethcheck

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/countersign/countersign/policy/chain"
	"github.com/countersign/countersign/policy/ethereum"
)

// clusterSigned is one withdrawal a real 2-of-3 cluster signed in package
// signer's TestEthereumWithdrawals (go test ./signer -run
// TestEthereumWithdrawals -args -update-ethcheck rewrites the file).
type clusterSigned struct {
	WithdrawalID string `json:"withdrawal_id"`
	Kind         string `json:"kind"`
	Intent       string `json:"intent"`
	UnsignedTx   string `json:"unsigned_tx"`
	Signed       string `json:"signed"`
	TxID         string `json:"txid"`
	From         string `json:"from"`
	ChainID      uint64 `json:"chain_id"`
	SafeVersion  string `json:"safe_version"`
}

// TestClusterSigned decodes every transaction and owner signature the
// cluster signed with go-ethereum alone, and checks that it pays exactly
// what its intent says, from the wallet's address, on the policy's chain.
func TestClusterSigned(t *testing.T) {
	raw, err := os.ReadFile("testdata/cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []clusterSigned
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[c.Kind]++
		t.Run(c.WithdrawalID, func(t *testing.T) {
			in, err := chain.ParseIntent([]byte(c.Intent))
			if err != nil {
				t.Fatal(err)
			}
			unsigned, _ := hex.DecodeString(c.UnsignedTx)
			signed, _ := hex.DecodeString(c.Signed)
			switch c.Kind {
			case "transaction":
				checkClusterTx(t, c, in, unsigned, signed)
			case "safe_signature":
				checkClusterSafe(t, c, in, unsigned, signed)
			default:
				t.Fatalf("kind %q", c.Kind)
			}
		})
	}
	if kinds["transaction"] < 3 || kinds["safe_signature"] < 1 {
		t.Fatalf("the cluster file holds %v: want ETH and USDC transactions and a Safe signature", kinds)
	}
}

func checkClusterTx(t *testing.T, c clusterSigned, in chain.Intent, unsigned, signed []byte) {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(signed); err != nil {
		t.Fatal(err)
	}
	signer := types.NewLondonSigner(new(big.Int).SetUint64(c.ChainID))
	from, err := types.Sender(signer, &tx)
	if err != nil || from != common.HexToAddress(c.From) || from.Hex() != c.From {
		t.Fatalf("sender %s (%v), the wallet is %s", from.Hex(), err, c.From)
	}
	if tx.Hash().Hex()[2:] != c.TxID || tx.Type() != types.DynamicFeeTxType || tx.ChainId().Uint64() != c.ChainID {
		t.Fatalf("hash %s type %d chain %v; the node says %s", tx.Hash().Hex(), tx.Type(), tx.ChainId(), c.TxID)
	}
	// What was signed is the unsigned transaction the request carried.
	if h := signer.Hash(&tx); !bytes.Equal(h[:], crypto.Keccak256(unsigned)) {
		t.Fatalf("the signature covers %x, the request's transaction hashes to %x", h, crypto.Keccak256(unsigned))
	}
	if _, _, s := tx.RawSignatureValues(); s.Cmp(new(big.Int).Rsh(crypto.S256().Params().N, 1)) > 0 {
		t.Fatal("a high s (EIP-2)")
	}
	dest := common.HexToAddress(in.Destination)
	switch in.Asset {
	case "ETH":
		if *tx.To() != dest || tx.Value().Cmp(in.Amount.Big()) != 0 || len(tx.Data()) != 0 {
			t.Fatalf("pays %v to %s with data %x; the intent %s to %s", tx.Value(), tx.To().Hex(), tx.Data(), in.Amount, dest.Hex())
		}
	default:
		data := tx.Data()
		if tx.Value().Sign() != 0 || len(data) != 68 || !bytes.Equal(data[:4], []byte{0xa9, 0x05, 0x9c, 0xbb}) ||
			common.BytesToAddress(data[4:36]) != dest || !bytes.Equal(data[4:16], make([]byte, 12)) ||
			new(big.Int).SetBytes(data[36:]).Cmp(in.Amount.Big()) != 0 {
			t.Fatalf("calldata %x, value %v; the intent %s %s to %s", data, tx.Value(), in.Amount, in.Asset, dest.Hex())
		}
	}
	fee := new(big.Int).Mul(tx.GasFeeCap(), new(big.Int).SetUint64(tx.Gas()))
	if fee.Cmp(in.FeeCap.Big()) > 0 {
		t.Fatalf("worst-case fee %v over the intent's cap %s", fee, in.FeeCap)
	}
}

// safeTx is the SafeTx encoding Rederive reads, decoded with go-ethereum's
// rlp: 0x53 || rlp([safe, chainId, to, value, data, operation, safeTxGas,
// baseGas, gasPrice, gasToken, refundReceiver, nonce]).
type safeTx struct {
	Safe           common.Address
	ChainID        *big.Int
	To             common.Address
	Value          *big.Int
	Data           []byte
	Operation      uint8
	SafeTxGas      *big.Int
	BaseGas        *big.Int
	GasPrice       *big.Int
	GasToken       common.Address
	RefundReceiver common.Address
	Nonce          *big.Int
}

func checkClusterSafe(t *testing.T, c clusterSigned, in chain.Intent, unsigned, signed []byte) {
	if len(unsigned) == 0 || unsigned[0] != ethereum.TypeSafeTx {
		t.Fatalf("unsigned SafeTx starts %x", unsigned[:1])
	}
	var s safeTx
	if err := rlp.DecodeBytes(unsigned[1:], &s); err != nil {
		t.Fatal(err)
	}
	if s.Operation != 0 || s.BaseGas.Sign() != 0 || s.GasPrice.Sign() != 0 || s.GasToken != (common.Address{}) || s.RefundReceiver != (common.Address{}) {
		t.Fatalf("an owner signed a SafeTx with operation %d or refunds: %+v", s.Operation, s)
	}
	if s.To != common.HexToAddress(in.Destination) || s.Value.Cmp(in.Amount.Big()) != 0 || len(s.Data) != 0 || in.Asset != "ETH" {
		t.Fatalf("the SafeTx pays %v to %s; the intent %s %s to %s", s.Value, s.To.Hex(), in.Amount, in.Asset, in.Destination)
	}
	domainType := []apitypes.Type{{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}}
	if c.SafeVersion == "1.1.1" || c.SafeVersion == "1.2.0" {
		t.Fatalf("version %s has no chain id in its domain", c.SafeVersion)
	}
	td := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": domainType,
			"SafeTx": {
				{Name: "to", Type: "address"}, {Name: "value", Type: "uint256"}, {Name: "data", Type: "bytes"},
				{Name: "operation", Type: "uint8"}, {Name: "safeTxGas", Type: "uint256"}, {Name: "baseGas", Type: "uint256"},
				{Name: "gasPrice", Type: "uint256"}, {Name: "gasToken", Type: "address"}, {Name: "refundReceiver", Type: "address"},
				{Name: "nonce", Type: "uint256"},
			},
		},
		PrimaryType: "SafeTx",
		Domain:      apitypes.TypedDataDomain{VerifyingContract: s.Safe.Hex(), ChainId: (*math.HexOrDecimal256)(s.ChainID)},
		Message: apitypes.TypedDataMessage{
			"to": s.To.Hex(), "value": s.Value, "data": s.Data, "operation": big.NewInt(int64(s.Operation)),
			"safeTxGas": s.SafeTxGas, "baseGas": s.BaseGas, "gasPrice": s.GasPrice,
			"gasToken": s.GasToken.Hex(), "refundReceiver": s.RefundReceiver.Hex(), "nonce": s.Nonce,
		},
	}
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(hash) != c.TxID || s.ChainID.Uint64() != c.ChainID {
		t.Fatalf("SafeTx hash %x, the node says %s", hash, c.TxID)
	}
	if len(signed) != 65 || (signed[64] != 27 && signed[64] != 28) {
		t.Fatalf("owner signature %x: want r||s||v with v 27 or 28", signed)
	}
	sig := append(bytes.Clone(signed[:64]), signed[64]-27)
	pub, err := crypto.SigToPub(hash, sig)
	if err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*pub).Hex(), c.From) {
		t.Fatalf("the owner signature recovers to %v (%v), the wallet is %s", pub, err, c.From)
	}
}
