// Package mpc runs countersign's threshold protocols: tss-lib v2 ECDSA
// secp256k1 key generation (with a BIP32 chain code agreed in the same
// ceremony) and signing under a BIP32 non-hardened child key. It is the only
// package that imports tss-lib.
//
// A protocol here is a synchronous state machine. The caller (the session
// layer in package signer) starts it, feeds it the messages that arrived
// from other committee members, and sends what it returns. It does not touch
// the network, so it can be driven in memory by tests and benchmarks.
//
// What this package guarantees about incoming messages, before any byte
// reaches tss-lib (see Check):
//
//   - the message is at most MaxMessageSize bytes and parses as the message
//     type it claims;
//   - the type belongs to the protocol, its broadcast flag is the one the
//     protocol uses for it, and its round is at most one ahead of ours;
//   - the sender is a committee member other than us (the session layer
//     takes the sender from its TLS certificate, never from the payload);
//   - key generation's decommitted VSS vector has exactly threshold+1
//     points, so a short one cannot panic tss-lib in a goroutine nobody can
//     recover;
//   - key generation's Paillier-Blum modulus proof has gcd(W, N) = 1 for
//     the sender's own N, which tss-lib v2.0.2 does not check;
//   - the Paillier-Blum and factorization proofs are present (tss-lib
//     accepts their absence for compatibility).
//
// Never call tss-lib's SetNoProofMod or SetNoProofFac: this package does
// not, and its tests assert that proofs are required.
//
// Secrets (Share, PreParams) redact themselves in logs and refuse JSON
// marshalling; their plaintext leaves only through Bytes, to be sealed.
package mpc
