package audit

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/countersign/countersign/policy/chain"
)

// Body returns the canonical body bytes of v, one of the body types below:
// its encoding/json encoding, which for a struct is deterministic. The
// bytes are stored and hashed as they are; verification never re-encodes a
// body.
//
// Body types may gain optional (omitempty) fields; a field is never
// renamed, retyped or reused. No body type holds a secret.
func Body(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: encoding body: %w", err)
	}
	if len(b) > MaxBody {
		return nil, fmt.Errorf("%w: body of %d bytes, limit %d", ErrMalformed, len(b), MaxBody)
	}
	return b, nil
}

// Genesis is the body of KindGenesis, record 0: it makes a log
// self-describing.
type Genesis struct {
	NodeID string `json:"node_id"`
	// CertDER is the node's X.509 certificate; its public key signs the log.
	CertDER []byte `json:"cert_der"`
	// Format is the record format version the log was started with.
	Format int `json:"format"`
}

// PublicKey returns the public key of the genesis certificate.
func (g *Genesis) PublicKey() (crypto.PublicKey, error) {
	cert, err := x509.ParseCertificate(g.CertDER)
	if err != nil {
		return nil, fmt.Errorf("audit: genesis certificate: %w", err)
	}
	return cert.PublicKey, nil
}

// genesisProblem checks a genesis body against the log's key. wrongKey
// reports that the body is well formed but names another key.
func genesisProblem(body []byte, pub crypto.PublicKey) (problem string, wrongKey bool) {
	var g Genesis
	if err := json.Unmarshal(body, &g); err != nil {
		return fmt.Sprintf("genesis body: %v", err), false
	}
	if g.NodeID == "" {
		return "genesis body: no node_id", false
	}
	if g.Format != Version {
		return fmt.Sprintf("genesis body: format %d, want %d", g.Format, Version), false
	}
	certKey, err := g.PublicKey()
	if err != nil {
		return fmt.Sprintf("genesis body: %v", err), false
	}
	k, ok := certKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(pub) {
		return "the genesis certificate holds another key than the log's", true
	}
	return "", false
}

// Session kinds of SessionStarted.
const (
	SessionKeygen  = "keygen"
	SessionSigning = "signing"
)

// WalletCreated is the body of KindWalletCreated.
type WalletCreated struct {
	WalletID string `json:"wallet_id"`
	Label    string `json:"label"`
	// PublicKey is the group public key, hex of its compressed SEC 1 form.
	PublicKey string `json:"public_key"`
	// Threshold is how many nodes sign together: 2 in a 2-of-3 wallet,
	// as everywhere in countersign (tss-lib's own t is Threshold-1).
	Threshold int      `json:"threshold"`
	Nodes     []string `json:"nodes"`
	// SessionID is the keygen session, in hex.
	SessionID string `json:"session_id"`
	// ChainCodeHash is hex of SHA-256 of the wallet's chain code; the chain
	// code itself is never logged.
	ChainCodeHash string `json:"chain_code_hash"`
}

// ChainCodeHash is what WalletCreated.ChainCodeHash holds, in hex: SHA-256
// over the tag "countersign/chain-code-hash/v1", a zero byte, and the chain
// code. It is the hash the nodes compare during key generation
// (signer/mpc), so a replay can check a chain code it was given.
func ChainCodeHash(chainCode [32]byte) [32]byte {
	return sha256.Sum256(append([]byte("countersign/chain-code-hash/v1\x00"), chainCode[:]...))
}

// WalletDiscarded is the body of KindWalletDiscarded.
type WalletDiscarded struct {
	WalletID string `json:"wallet_id"`
	Reason   string `json:"reason"`
}

// SessionStarted is the body of KindSessionStarted.
type SessionStarted struct {
	SessionID   string   `json:"session_id"` // hex
	Kind        string   `json:"kind"`       // SessionKeygen or SessionSigning
	WalletID    string   `json:"wallet_id,omitempty"`
	Committee   []string `json:"committee"`   // node ids
	Coordinator string   `json:"coordinator"` // node id
	Purpose     string   `json:"purpose"`
}

// SessionEnded is the body of KindSessionEnded.
type SessionEnded struct {
	SessionID string `json:"session_id"` // hex
	Outcome   string `json:"outcome"`
	// Signatures are the signatures the session produced, in hex, one per
	// digest; none for keygen.
	Signatures []string `json:"signatures,omitempty"`
}

// SessionAborted is the body of KindSessionAborted.
type SessionAborted struct {
	SessionID string `json:"session_id"` // hex
	Reason    string `json:"reason"`
	// Culprits are the node ids blamed for the abort, if any is known.
	Culprits []string `json:"culprits,omitempty"`
}

// CallRefused is the body of KindCallRefused.
type CallRefused struct {
	Caller string `json:"caller"` // identity from the client certificate
	Role   string `json:"role"`
	Method string `json:"method"` // full gRPC method name
	Code   uint32 `json:"code"`   // gRPC status code number
	Reason string `json:"reason"`
}

// PeerHead is the body of KindPeerHead: the head of a peer's log, as the
// peer sent it during a session. Check one read from a log with
// [PeerHead.Head].
type PeerHead struct {
	Peer string `json:"peer"` // node id
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"` // hex
	// SessionID is the session, in hex, during which the peer sent it.
	SessionID string `json:"session_id,omitempty"`
}

// WithdrawalReceived is the body of KindWithdrawalReceived. Intent is the
// canonical intent bytes the request hash covers (JSON); replay re-derives
// the withdrawal from Intent and the unsigned transaction (Tx). A request
// the node refused is logged without its transaction, by
// UnsignedTxSHA256 and UnsignedTxSize: what a client makes a node log
// for a refused call is bounded by the intent and its signature.
type WithdrawalReceived struct {
	WithdrawalID string          `json:"withdrawal_id"`
	RequestHash  string          `json:"request_hash"` // hex
	Intent       json.RawMessage `json:"intent"`
	// PSBT is the unsigned transaction of records written before
	// UnsignedTx existed (Bitcoin only); read both with Tx.
	PSBT []byte `json:"psbt,omitempty"` // base64 in JSON
	From string `json:"from"`           // the caller: backend identity or coordinating node
	// IntentSignature is the originating system's armored SSH signature
	// over Intent.
	IntentSignature string `json:"intent_signature,omitempty"`
	// UnsignedTx is the unsigned transaction, on any chain (base64).
	UnsignedTx []byte `json:"unsigned_tx,omitempty"`
	// UnsignedTxSHA256 and UnsignedTxSize stand for the unsigned
	// transaction of a request the node refused, which is logged by its
	// hash (hex of its SHA-256) and length only; UnsignedTx is then
	// empty. RequestHash still covers the transaction's bytes.
	UnsignedTxSHA256 string `json:"unsigned_tx_sha256,omitempty"`
	UnsignedTxSize   int    `json:"unsigned_tx_size,omitempty"`
}

// Tx returns the unsigned transaction of new and old records.
func (b *WithdrawalReceived) Tx() []byte {
	if len(b.UnsignedTx) > 0 {
		return b.UnsignedTx
	}
	return b.PSBT
}

// WithdrawalDecided is the body of KindWithdrawalDecided.
type WithdrawalDecided struct {
	WithdrawalID string   `json:"withdrawal_id"`
	RequestHash  string   `json:"request_hash"` // hex
	Allowed      bool     `json:"allowed"`
	Rule         string   `json:"rule,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	PolicyHash   string   `json:"policy_hash"` // hex SHA-256 of the policy file
	Digests      []string `json:"digests,omitempty"`
	TxID         string   `json:"txid,omitempty"`
	FeeSat       int64    `json:"fee_sat,omitempty"`
	OutflowSat   int64    `json:"outflow_sat,omitempty"`
	// PolicyVersion is the version of the bundle PolicyHash names.
	PolicyVersion int64 `json:"policy_version,omitempty"`
	// Originator names the system whose signature the intent carries.
	Originator string `json:"originator,omitempty"`
	// DecidedAt is the time the decision used (windows, hours).
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// SpentDaySat and SpentWeekSat are the wallet's outflow over the
	// rolling 24 hours and 7 days before DecidedAt, this withdrawal
	// excluded, by this node's committed history.
	SpentDaySat  int64 `json:"spent_day_sat,omitempty"`
	SpentWeekSat int64 `json:"spent_week_sat,omitempty"`
	// Approvals required before signing: that many officers of
	// ApprovalGroup (the tier starting at TierMinAmountSat); 0 if none.
	Approvals        int    `json:"approvals,omitempty"`
	ApprovalGroup    string `json:"approval_group,omitempty"`
	TierMinAmountSat int64  `json:"tier_min_amount_sat,omitempty"`

	// The fields of any chain; records written before them have the _sat
	// fields (BTC): read both with the methods in decided.go. Fee is the
	// transaction's (worst-case) fee in FeeAsset; Outflow, SpentDay and
	// SpentWeek are per asset, in base units as decimal strings; the tier
	// starts at TierMinAmount of TierAsset.
	Fee           chain.Amount  `json:"fee,omitzero"`
	FeeAsset      string        `json:"fee_asset,omitempty"`
	Outflow       chain.Amounts `json:"outflow,omitempty"`
	SpentDay      chain.Amounts `json:"spent_day,omitempty"`
	SpentWeek     chain.Amounts `json:"spent_week,omitempty"`
	TierAsset     string        `json:"tier_asset,omitempty"`
	TierMinAmount chain.Amount  `json:"tier_min_amount,omitzero"`
	// NonceAccount and Nonce: the account nonce an allowed withdrawal
	// holds (account chains); Replaces the withdrawal it took it over from.
	NonceAccount string  `json:"nonce_account,omitempty"`
	Nonce        *uint64 `json:"nonce,omitempty"`
	Replaces     string  `json:"replaces,omitempty"`
}

// WithdrawalConflict is the body of KindWithdrawalConflict.
type WithdrawalConflict struct {
	WithdrawalID string `json:"withdrawal_id"`
	BoundHash    string `json:"bound_hash"`   // hex
	OfferedHash  string `json:"offered_hash"` // hex
	From         string `json:"from"`
}

// WithdrawalSigned is the body of KindWithdrawalSigned.
type WithdrawalSigned struct {
	WithdrawalID string   `json:"withdrawal_id"`
	SessionID    string   `json:"session_id"`
	TxID         string   `json:"txid"`
	Signatures   []string `json:"signatures"`          // hex r||s, one per input
	SignedTx     string   `json:"signed_tx,omitempty"` // hex, on the coordinator
}

// WithdrawalFailed is the body of KindWithdrawalFailed.
type WithdrawalFailed struct {
	WithdrawalID string `json:"withdrawal_id"`
	Reason       string `json:"reason"`
}

// WithdrawalApproval is the body of KindWithdrawalApproval.
type WithdrawalApproval struct {
	WithdrawalID string `json:"withdrawal_id"`
	Officer      string `json:"officer"`
	Verdict      string `json:"verdict"`   // approve or reject, as the statement says
	Statement    string `json:"statement"` // the exact bytes signed
	Signature    string `json:"signature"` // armored SSH signature
	Counted      bool   `json:"counted"`
	// Problem is why it does not count (a stable approval.* code and a
	// reason); empty when it counts.
	Problem string `json:"problem,omitempty"`
	From    string `json:"from"` // who delivered it: an officer client or a coordinating node
}

// WithdrawalApproved is the body of KindWithdrawalApproved.
type WithdrawalApproved struct {
	WithdrawalID string   `json:"withdrawal_id"`
	Approvers    []string `json:"approvers"`
}

// WithdrawalRejected is the body of KindWithdrawalRejected.
type WithdrawalRejected struct {
	WithdrawalID string `json:"withdrawal_id"`
	Officer      string `json:"officer"`
	Reason       string `json:"reason"`
}

// PolicySignature is one officer's signature over a bundle.
type PolicySignature struct {
	Officer   string `json:"officer"`
	Signature string `json:"signature"`
}

// PolicyAccepted is the body of KindPolicyAccepted. Bundle holds the exact
// bytes officers signed, so a replay can re-evaluate every decision under
// the bundle then in force.
type PolicyAccepted struct {
	Version    int64             `json:"version"`
	Hash       string            `json:"hash"`   // hex SHA-256 of Bundle
	Bundle     []byte            `json:"bundle"` // base64 in JSON
	Signatures []PolicySignature `json:"signatures"`
	// SignedBy are the officers whose signatures counted, under the
	// bundle in force before (or this one's own, for the first).
	SignedBy []string `json:"signed_by"`
	// Previous is the hash of the bundle this one replaced; empty for the
	// first bundle, installed when the cluster was created.
	Previous string `json:"previous,omitempty"`
	From     string `json:"from"`
}

// PolicyRefused is the body of KindPolicyRefused.
type PolicyRefused struct {
	Hash    string `json:"hash"` // hex SHA-256 of the offered bytes
	Version int64  `json:"version,omitempty"`
	Reason  string `json:"reason"`
	From    string `json:"from"`
}
