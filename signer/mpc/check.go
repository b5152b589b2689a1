package mpc

import (
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Message is one protocol message, outgoing or incoming.
type Message struct {
	// Type names the message: a tss-lib type such as
	// "binance.tsslib.ecdsa.signing.SignRound3Message", prefixed with the
	// digest index in a signing session ("2/…"), or one of countersign's own.
	Type      string
	Payload   []byte
	Broadcast bool
	// To lists the receivers of a point-to-point message; empty for a
	// broadcast.
	To []string
}

// msgSpec is what a protocol allows of one message type.
type msgSpec struct {
	round     int
	broadcast bool
}

// tss-lib message types, by their protobuf full names.
const (
	kgRound1   = "binance.tsslib.ecdsa.keygen.KGRound1Message"
	kgRound2M1 = "binance.tsslib.ecdsa.keygen.KGRound2Message1"
	kgRound2M2 = "binance.tsslib.ecdsa.keygen.KGRound2Message2"
	kgRound3   = "binance.tsslib.ecdsa.keygen.KGRound3Message"
)

var signingSpecs = map[string]msgSpec{
	"binance.tsslib.ecdsa.signing.SignRound1Message1": {1, false},
	"binance.tsslib.ecdsa.signing.SignRound1Message2": {1, true},
	"binance.tsslib.ecdsa.signing.SignRound2Message":  {2, false},
	"binance.tsslib.ecdsa.signing.SignRound3Message":  {3, true},
	"binance.tsslib.ecdsa.signing.SignRound4Message":  {4, true},
	"binance.tsslib.ecdsa.signing.SignRound5Message":  {5, true},
	"binance.tsslib.ecdsa.signing.SignRound6Message":  {6, true},
	"binance.tsslib.ecdsa.signing.SignRound7Message":  {7, true},
	"binance.tsslib.ecdsa.signing.SignRound8Message":  {8, true},
	"binance.tsslib.ecdsa.signing.SignRound9Message":  {9, true},
}

// parseTSS checks the envelope-level facts of a tss-lib message and parses
// it. typeName is the tss-lib type the caller expects (already checked
// against the protocol's table).
func parseTSS(c *committee, from string, typeName string, m Message) (tss.ParsedMessage, error) {
	if len(m.Payload) > MaxMessageSize {
		return nil, badMessage(from, "%d bytes, limit %d", len(m.Payload), MaxMessageSize)
	}
	sender, ok := c.byNode[from]
	if !ok || sender == c.self {
		return nil, badMessage(from, "sender is not another member of the committee")
	}
	var a anypb.Any
	if err := proto.Unmarshal(m.Payload, &a); err != nil {
		return nil, badMessage(from, "undecodable: %v", err)
	}
	if got := string(a.MessageName()); got != typeName {
		return nil, badMessage(from, "claims type %s but carries %s", typeName, got)
	}
	pm, err := tss.ParseWireMessage(m.Payload, sender, m.Broadcast)
	if err != nil {
		return nil, badMessage(from, "%s: %v", typeName, err)
	}
	if !pm.ValidateBasic() {
		return nil, badMessage(from, "%s: malformed content", typeName)
	}
	return pm, nil
}

// checkKeygenRound2M2 guards what tss-lib v2.0.2 leaves unchecked in key
// generation's round 2 broadcast: the decommitted VSS vector must hold
// exactly threshold+1 points (1 random value plus 2 coordinates each), and
// the Paillier-Blum proof must be present with gcd(W, N) = 1 for the
// sender's Paillier modulus N from its round 1 message.
func checkKeygenRound2M2(from string, pm tss.ParsedMessage, threshold int, senderN *big.Int) error {
	msg := pm.Content().(*keygen.KGRound2Message2)
	if want := 1 + 2*(threshold+1); len(msg.GetDeCommitment()) != want {
		return badMessage(from, "VSS decommitment has %d parts, want %d", len(msg.GetDeCommitment()), want)
	}
	if len(msg.GetModProof()) != modproof.ProofModBytesParts {
		return badMessage(from, "Paillier-Blum proof has %d parts, want %d", len(msg.GetModProof()), modproof.ProofModBytesParts)
	}
	if senderN == nil {
		return badMessage(from, "round 2 broadcast before its round 1 message")
	}
	w := new(big.Int).SetBytes(msg.GetModProof()[0])
	if w.Sign() == 0 || new(big.Int).GCD(nil, nil, w, senderN).Cmp(big.NewInt(1)) != 0 {
		return badMessage(from, "Paillier-Blum proof: gcd(W, N) != 1")
	}
	return nil
}

// checkKeygenRound2M1 requires the factorization proof tss-lib would let a
// sender omit.
func checkKeygenRound2M1(from string, pm tss.ParsedMessage) error {
	msg := pm.Content().(*keygen.KGRound2Message1)
	if len(msg.GetFacProof()) != facproof.ProofFacBytesParts {
		return badMessage(from, "factorization proof has %d parts, want %d", len(msg.GetFacProof()), facproof.ProofFacBytesParts)
	}
	return nil
}
