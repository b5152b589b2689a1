// Package keys signs and verifies what countersign's people and systems
// assert: security officers sign policy bundles and approvals, the
// originating system (the exchange ledger) signs withdrawal intents, and
// every node checks those signatures before it acts on them.
//
// Signatures are SSH signatures (OpenSSH's PROTOCOL.sshsig), the very
// format that
//
//	ssh-keygen -Y sign -n countersign-approval -f key message
//
// writes, so an officer can sign with a FIDO2 security key
// (sk-ssh-ed25519@openssh.com) through ssh-agent, and anyone can check a
// signature with ssh-keygen -Y verify. Keys are written as one
// authorized_keys line, "ssh-ed25519 AAAA...", in files and in JSON.
//
// Sign with a [Signer]: [AgentSigner] for a key held by ssh-agent, which
// is how security keys and passphrase-protected key files are used;
// [LoadKeyFile] for an unencrypted key file (tests, labs, machine keys made
// by [GenerateKeyFile]); or [NewSigner] for a key in memory or a
// crypto.Signer backed by an HSM. Check with [Verify]:
//
//	sig, err := signer.Sign(keys.NamespaceApproval, approval)
//	...
//	err = keys.Verify(officerKey, keys.NamespaceApproval, approval, sig)
//
// # Guarantees
//
//   - A signature verifies only for the key, the namespace and the message
//     it was made for. The namespace is part of the signed data, so a
//     signature made for [NamespaceIntent] never verifies as an approval or
//     a policy; only the three namespaces of this package are accepted.
//   - Four key types are accepted: ssh-ed25519, ecdsa-sha2-nistp256 and
//     their security-key forms sk-ssh-ed25519@openssh.com and
//     sk-ecdsa-sha2-nistp256@openssh.com. RSA, DSA, other curves,
//     certificates and authorized_keys options are refused.
//   - A security-key signature must assert user presence: the key was
//     touched. A key made with ssh-keygen -O no-touch-required cannot
//     sign. (sshd checks this flag too, but ssh-keygen -Y verify does not:
//     it accepts such signatures, and sha256 ones, which Verify refuses.)
//   - [Verify], [ParsePublicKey] and the methods of [PublicKey] do no I/O
//     and read no clock. They bound their input (see the limits), never
//     panic, and return errors wrapping [ErrBadSignature] or
//     [ErrBadPublicKey].
//   - A [Signer] made here returns only signatures that [Verify] accepts:
//     it checks each one before returning it, which catches a faulty agent
//     or security key at signing time rather than on every node.
//   - [ParsePublicKey] accepts one spelling of each key's type and base64,
//     the one [PublicKey.String] writes; the comment is dropped.
//
// # What it is not
//
// Signatures are not unique: ECDSA signatures are randomized and the same
// signature may be armored with other line breaks. Never use a signature's
// bytes as an identifier or a deduplication key; use the signed message.
//
// keys does not decide who may sign what: which officer keys count, and how
// many are needed, is policy's business. It knows nothing of time, replay
// or revocation: a message must carry whatever context (ids, expiry, the
// policy version) its verifier needs. It reads no allowed_signers files and
// no certificates.
//
// Unlike the rest of policy, the signers do I/O: [GenerateKeyFile] and
// [LoadKeyFile] use files and [AgentSigner] talks to ssh-agent over its
// unix socket. Nothing on the verifying side does.
//
// # Format
//
// A signature is the PEM armor ("-----BEGIN SSH SIGNATURE-----", no
// headers, nothing before or after but white space) of PROTOCOL.sshsig's
// blob: "SSHSIG", version 1, the signer's public key, the namespace, an
// empty reserved string, the hash algorithm and the signature. The hash
// algorithm is always sha512, ssh-keygen's default; sha256 is refused. The
// signature covers "SSHSIG", the namespace, the reserved string, the hash
// algorithm and the SHA-512 of the message, so the message is signed as
// the exact bytes given, never re-encoded. For security keys, OpenSSH's
// PROTOCOL.u2f adds the application, flags and counter to what the key
// signs; the flags must include user presence.
package keys
