package audit

// Kind names what a record says: dot-separated lower-case words, such as
// "wallet.created". See the package documentation for the exact rules.
// A kind, once written to a log, keeps its meaning and is never reused.
type Kind string

// Kinds known today. New kinds are added here; none is ever removed or
// renamed.
const (
	// KindGenesis is record 0 of every log; its body is a Genesis.
	KindGenesis Kind = "log.genesis"
	// KindWalletCreated records a finished distributed key generation; its
	// body is a WalletCreated.
	KindWalletCreated Kind = "wallet.created"
	// KindWalletDiscarded records that a wallet was discarded; its body is a
	// WalletDiscarded.
	KindWalletDiscarded Kind = "wallet.discarded"
	// KindSessionStarted records that the node joined a keygen or signing
	// session; its body is a SessionStarted.
	KindSessionStarted Kind = "session.started"
	// KindSessionEnded records that a session finished; its body is a
	// SessionEnded.
	KindSessionEnded Kind = "session.ended"
	// KindSessionAborted records that a session aborted; its body is a
	// SessionAborted.
	KindSessionAborted Kind = "session.aborted"
	// KindCallRefused records a refused RPC; its body is a CallRefused.
	KindCallRefused Kind = "call.refused"
	// KindPeerHead records the head of a peer's log seen during a session;
	// its body is a PeerHead.
	KindPeerHead Kind = "peer.head"
	// KindWithdrawalReceived records a withdrawal as it arrived, intent and
	// unsigned transaction in full; its body is a WithdrawalReceived.
	KindWithdrawalReceived Kind = "withdrawal.received"
	// KindWithdrawalDecided records the node's own decision on a
	// withdrawal; its body is a WithdrawalDecided.
	KindWithdrawalDecided Kind = "withdrawal.decided"
	// KindWithdrawalConflict is an alert: a withdrawal id already bound to
	// one request was offered with another; its body is a
	// WithdrawalConflict.
	KindWithdrawalConflict Kind = "withdrawal.conflict"
	// KindWithdrawalSigned records a signed withdrawal; its body is a
	// WithdrawalSigned.
	KindWithdrawalSigned Kind = "withdrawal.signed"
	// KindWithdrawalFailed records a withdrawal that could not be signed;
	// its body is a WithdrawalFailed.
	KindWithdrawalFailed Kind = "withdrawal.failed"
	// KindWithdrawalApproval records an officer's approval or rejection as
	// received, and whether it counted; its body is a WithdrawalApproval.
	KindWithdrawalApproval Kind = "withdrawal.approval"
	// KindWithdrawalApproved records that a withdrawal's approvals reached
	// its tier's quorum; its body is a WithdrawalApproved.
	KindWithdrawalApproved Kind = "withdrawal.approved"
	// KindWithdrawalRejected records that an officer's rejection ended a
	// withdrawal; its body is a WithdrawalRejected.
	KindWithdrawalRejected Kind = "withdrawal.rejected"
	// KindPolicyAccepted records a policy bundle the node accepted, bytes
	// and signatures in full; its body is a PolicyAccepted.
	KindPolicyAccepted Kind = "policy.accepted"
	// KindPolicyRefused is an alert: a policy bundle was offered and
	// refused; its body is a PolicyRefused.
	KindPolicyRefused Kind = "policy.refused"
)

// Valid reports whether k is a well-formed kind: MinKind to MaxKind bytes,
// at least two words separated by '.', each word a letter a-z followed by
// letters a-z, digits 0-9 and '_'.
func (k Kind) Valid() bool {
	if len(k) < MinKind || len(k) > MaxKind {
		return false
	}
	words := 1
	start := true // at the first byte of a word
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z':
		case c == '.':
			if start {
				return false
			}
			words++
			start = true
			continue
		case '0' <= c && c <= '9', c == '_':
			if start {
				return false
			}
		default:
			return false
		}
		start = false
	}
	return !start && words >= 2
}
