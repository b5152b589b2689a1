/*
Package audit is the core of a signer node's audit log: an append-only
sequence of records, each holding the hash of the one before it and a
signature by the node's identity key, so that an edit, a deletion, a
reordering or a truncation is found by replaying the log.

This package builds, encodes, decodes, signs and verifies records. It does
no I/O and reads no clock: the time of a record is passed in. Storing the
records is the caller's business; this document says everything needed to
verify a log without this package, in any language.

# Writing

A log starts with a genesis record, and every later record is built from the
one before it:

	g, err := audit.Body(audit.Genesis{NodeID: "node-a", CertDER: cert.Raw, Format: audit.Version})
	r0, err := audit.Next(nil, audit.KindGenesis, g, now, key)
	...
	b, err := audit.Body(audit.CallRefused{Caller: "backend", Method: "/countersign.v1.Wallet/Create", Code: 7, Reason: "role backend may not create wallets"})
	r1, err := audit.Next(r0, audit.KindCallRefused, b, now, key)
	store(r1.Seq, r1.Encode())

key is the node's identity key (a crypto.Signer for ECDSA P-256 or
Ed25519; the node uses its TLS key). Next refuses to start a log with
anything but a genesis record, whose certificate must hold key's public key.

Reading the last record and storing the next must happen in one write
transaction: two records built on the same predecessor are a fork, and the
log verifies as broken from the second one on.

If now is earlier than the previous record's time (the clock was stepped
back), Next records the previous record's time instead: an append never
fails because of the clock, and times in a log never go backwards.

# Storage

Each record is stored under an 8-byte key, its sequence number in
big-endian, so that key order is log order. The value is the record's
encoding, below. Nothing else is needed to verify the log.

# Record format

A record is encoded as follows. Integers are big-endian and of fixed width;
there is no padding and nothing follows the signature.

	offset     size  field
	0          1     version: 0x01
	1          8     seq: uint64; 0 for the genesis record, then +1 for each record
	9          8     time: int64, nanoseconds since 1970-01-01T00:00:00Z (UTC)
	17         32    prev: SHA-256 record hash of record seq-1; 32 zero bytes for seq 0
	49         4     K: uint32, length of kind, 3 <= K <= 64
	53         K     kind: ASCII, see Kinds
	53+K       4     B: uint32, length of body, 0 <= B <= 1048576
	57+K       B     body: the body bytes, see Bodies
	57+K+B     4     S: uint32, length of sig, 1 <= S <= 128
	61+K+B     S     sig: signature over the record hash, see Signatures

A record is exactly 61+K+B+S bytes long. A decoder rejects a record with
another version byte, a length outside its bounds, an invalid kind, fewer
bytes than the lengths announce, or any byte after the signature. So every
record has one encoding: decoding and re-encoding gives back the same bytes.

# Hashing

The record hash is

	SHA-256( "countersign audit record" || 0x00 || record[0 : 57+K+B] )

that is, SHA-256 over the 24 ASCII bytes "countersign audit record", one zero
byte, and the encoded record up to the end of the body: every field but the
signature length and the signature. The hash is computed over the stored
bytes as they are; nothing is decoded and re-encoded first. A record's Head
is its seq and hash; peers record each other's heads (kind peer.head).

The signature is not covered by the hash. ECDSA signatures are not unique
(a signer may produce many valid ones for one hash), so two valid records
may differ in their signature bytes only, and their hashes are equal.

# Signatures

sig is the node key's signature of the 32-byte record hash:

  - ECDSA P-256: the hash is the digest (it is not hashed again), and the
    signature is ASN.1 DER: SEQUENCE { r INTEGER, s INTEGER }, at most 72
    bytes. Verification follows FIPS 186-5; high and low s are both valid.
  - Ed25519: the 32-byte hash is the message (pure Ed25519, RFC 8032), and
    the signature is its 64 bytes.

The prefix "countersign audit record" makes the signed digest one that no
other protocol using the same key (TLS) asks it to sign.

# Kinds

A kind names what a record says, as dot-separated lower-case words: 3 to 64
bytes, at least two words, each word a letter a-z followed by letters a-z,
digits 0-9 and '_'. Kinds known today:

	log.genesis       the first record: the node and its certificate (Genesis)
	wallet.created    a distributed key generation finished (WalletCreated)
	wallet.discarded  a wallet was discarded (WalletDiscarded)
	session.started   the node joined a keygen or signing session (SessionStarted)
	session.ended     a session finished (SessionEnded)
	session.aborted   a session aborted, naming culprits if known (SessionAborted)
	call.refused      an RPC was refused (CallRefused)
	peer.head         the head of a peer's log, seen during a session (PeerHead)
	withdrawal.received  a withdrawal as it arrived (WithdrawalReceived)
	withdrawal.decided   the node's decision on it (WithdrawalDecided)
	withdrawal.conflict  alert: an id offered with another request (WithdrawalConflict)
	withdrawal.approval  an officer's approval or rejection, counted or not (WithdrawalApproval)
	withdrawal.approved  the approvals reached the tier's quorum (WithdrawalApproved)
	withdrawal.rejected  an officer's rejection ended the withdrawal (WithdrawalRejected)
	withdrawal.signed    the withdrawal was signed (WithdrawalSigned)
	withdrawal.failed    it could not be signed (WithdrawalFailed)
	policy.accepted      a policy bundle was accepted, in full (PolicyAccepted)
	policy.refused       alert: a policy bundle was offered and refused (PolicyRefused)

The log format does not depend on the kind: a decoder and a verifier accept
any valid kind, including kinds added after they were written.

# Bodies

A body is the UTF-8 JSON encoding of the Go struct for its kind, as
encoding/json writes it (object keys in struct field order, no
insignificant white space). The body bytes are hashed and stored exactly as
given; a verifier never re-encodes a body and must not expect to get the
same bytes by doing so. Only replay, which interprets a log, parses bodies.
Bodies hold no secret: no key share, pre-parameter, chain code or
credential; values that identify a secret (a chain code) are hashed.

The genesis body is the JSON object

	{"node_id": "node-a", "cert_der": "<base64 of the DER certificate>", "format": 1}

where cert_der is the node's X.509 certificate in standard base64 with
padding and format is the record format version the log was started with.

# Verification

A verifier is given the node's public key (ECDSA P-256 or Ed25519) and the
stored (key, value) pairs in key order. It keeps only the previous record's
seq, hash and time, so a log of any length is verified in constant memory.
For each pair it checks, in this order, and stops at the first failure:

 1. The key follows the previous key by exactly one, and the first key is 0.
    A repeated or decreasing key is ErrOrder at that key; a first key other
    than 0 is ErrNoGenesis at 0; a skipped key is ErrGap at the first
    missing seq.
 2. The value decodes as above, else ErrMalformed.
 3. seq equals the key, else ErrOrder.
 4. Record 0 is of kind log.genesis, else ErrNoGenesis; no later record
    is, else ErrMalformed.
 5. prev equals the record hash of the previous record (32 zero bytes for
    record 0), else ErrChainBroken.
 6. sig verifies over the record hash with the node's key, else
    ErrBadSignature.
 7. time is not earlier than the previous record's time, else
    ErrTimeTravel.
 8. For record 0: the body is a genesis body with a non-empty node_id,
    format 1 and a certificate whose public key is the node's key, else
    ErrMalformed (body) or ErrBadSignature (another key).

An empty log is ErrNoGenesis. A log that passes ends in a Head: the seq and
hash of its last record. A log is truncated if a peer recorded a head of it
(a peer.head record in the peer's own log) that it no longer contains:
CheckHead compares the head a peer saw with the log's record at that seq,
or with its last head if the log ends before it (ErrTruncated).

Errors are *VerifyError values naming the first bad record and wrapping one
of the sentinel errors, to be tested with errors.Is.

Stream verifies exactly as a Verifier does, and gives the same first error,
but checks signatures (the costly step 6) on a pool of goroutines while one
goroutine reads the log and checks steps 1 to 5, 7 and 8 in order; results
are put back in log order, and memory stays bounded. It yields each
verified record with its hash, so what reads a log (the auditor's tools)
sees only records that passed.

# Peer heads

During every session each member sends the head of its log (seq and
record hash) to every other member before its first protocol message, and
each member appends a peer.head record: {"peer": id, "seq": n, "hash":
hex, "session_id": hex}. A log is checked against the peer heads recorded
in the other nodes' logs: a log that no longer holds a record a peer saw,
or holds another one there, was truncated or rewritten. Records appended
after the last session a node took part in are covered only by the next
one.

# Reading bodies

ParseBody decodes a body into its Go type for the kinds this package
knows, ignoring fields added later; it is ErrUnknownKind for any other
kind, which readers count and skip. A peer.head body must also name a node
and carry 64 lower-case hex digits that are not all zero.

# Evolution

The version byte names the format of one record. A change to the encoding,
the hash or the signature rules takes a new version number; a number is
never reused and the meaning of a published version never changes. A
reader rejects versions it does not know, and must keep reading every
version it knows.

New kinds are additive: a kind, once written, keeps its meaning forever,
and its name is not reused. A body may gain optional fields, absent when
unset (omitempty), so older bodies keep their meaning; a body field is never
renamed, retyped or reused. Limits (MaxKind, MaxBody, MaxSig) change only
with a new version.
*/
package audit
