package keys

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"
)

// TestVerifySecurityKey checks Verify on security-key signatures built by
// hand from PROTOCOL.sshsig and PROTOCOL.u2f, as a FIDO2 key in ssh-agent
// makes them for ssh-keygen -Y sign.
func TestVerifySecurityKey(t *testing.T) {
	message := []byte("policy bundle v8")
	for _, k := range []*skKey{newSKEd25519(t), newSKECDSA(t)} {
		t.Run(k.pub.Type(), func(t *testing.T) {
			pub, err := ParsePublicKey(authorizedKey(k.pub) + " officer@example.com")
			if err != nil {
				t.Fatal(err)
			}
			valid := handSign(t, k, NamespacePolicy, message)
			if err := Verify(pub, NamespacePolicy, message, valid); err != nil {
				t.Fatalf("valid signature: %v", err)
			}
			sig, err := sshsig.Unarmor(valid)
			if err != nil {
				t.Fatal(err)
			}
			if got := sig.Signature.Rest; !bytes.Equal(got, []byte{skUserPresent, 0, 0, 0, 41}) {
				t.Fatalf("flags and counter are %x, want 0100000029", got)
			}

			wantBad(t, Verify(pub, NamespacePolicy, []byte("policy bundle v9"), valid), errDoesNotCheck)
			wantBad(t, Verify(pub, NamespaceApproval, message, valid), errWrongNS)
			wantBad(t, Verify(pub, NamespacePolicy, message, handSignAs(t, k, NamespaceApproval, NamespacePolicy, message)), errDoesNotCheck)
			wantBad(t, Verify(pub, NamespacePolicy, message, edit(t, valid, func(sig *sshsig.Signature) {
				sig.Signature.Rest[4]++ // the counter
			})), errDoesNotCheck)
			wantBad(t, Verify(pub, NamespacePolicy, message, edit(t, valid, func(sig *sshsig.Signature) {
				sig.Signature.Rest = append(sig.Signature.Rest, 0)
			})), errDoesNotCheck)
			wantBad(t, Verify(pub, NamespacePolicy, message, edit(t, valid, func(sig *sshsig.Signature) {
				sig.Signature.Rest = nil
			})), errDoesNotCheck)

			// Signed for another application (relying party).
			k.application = "other:"
			wantBad(t, Verify(pub, NamespacePolicy, message, handSign(t, k, NamespacePolicy, message)), errDoesNotCheck)
			k.application = skApplication

			// Signed without the user's touch: refused, though the
			// signature is otherwise valid.
			k.flags = 0
			err = Verify(pub, NamespacePolicy, message, handSign(t, k, NamespacePolicy, message))
			wantBad(t, err, errDoesNotCheck)
			if !strings.Contains(err.Error(), "user presence") {
				t.Errorf("error %q does not say the key was not touched", err)
			}
			k.flags = skUserPresent | 0x04 // user verified (PIN) too
			if err := Verify(pub, NamespacePolicy, message, handSign(t, k, NamespacePolicy, message)); err != nil {
				t.Errorf("signature with user presence and verification: %v", err)
			}
			k.flags = skUserPresent
		})
	}
}
