package keys

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hiddeco/sshsig"
)

// sshKeygen runs OpenSSH's ssh-keygen with args and stdin in dir, away
// from any ssh-agent of the user, and returns its output.
func sshKeygen(t *testing.T, dir string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh-keygen", args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// needSSHKeygen skips the test if ssh-keygen is not installed.
func needSSHKeygen(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed, so interoperability with OpenSSH is not tested:", err)
	}
}

// TestOpenSSHVerifiesOurs checks that ssh-keygen accepts our signatures,
// fingerprints and key files.
func TestOpenSSHVerifiesOurs(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	pub, err := GenerateKeyFile(filepath.Join(dir, "officer"), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadKeyFile(filepath.Join(dir, "officer"))
	if err != nil {
		t.Fatal(err)
	}
	message := []byte("approve withdrawal w-1a2b\n")
	sig := sign(t, s, NamespaceApproval, message)
	if err := os.WriteFile(filepath.Join(dir, "ours.sig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	allowed := "alice@example.com namespaces=\"" + NamespaceApproval + "\" " + pub.String() + "\n"
	if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(allowed), 0o644); err != nil {
		t.Fatal(err)
	}

	if out, err := sshKeygen(t, dir, message, "-Y", "check-novalidate", "-n", NamespaceApproval, "-s", "ours.sig"); err != nil {
		t.Errorf("ssh-keygen -Y check-novalidate refused our signature: %v\n%s", err, out)
	}
	if out, err := sshKeygen(t, dir, message, "-Y", "verify", "-f", "allowed_signers", "-I", "alice@example.com", "-n", NamespaceApproval, "-s", "ours.sig"); err != nil {
		t.Errorf("ssh-keygen -Y verify refused our signature: %v\n%s", err, out)
	}
	// ssh-keygen refuses what Verify refuses: these checks can fail.
	if out, err := sshKeygen(t, dir, message, "-Y", "check-novalidate", "-n", NamespacePolicy, "-s", "ours.sig"); err == nil {
		t.Errorf("ssh-keygen -Y check-novalidate accepted our signature for another namespace:\n%s", out)
	}
	if out, err := sshKeygen(t, dir, append(message, '!'), "-Y", "check-novalidate", "-n", NamespaceApproval, "-s", "ours.sig"); err == nil {
		t.Errorf("ssh-keygen -Y check-novalidate accepted our signature for another message:\n%s", out)
	}

	out, err := sshKeygen(t, dir, nil, "-l", "-f", "officer.pub")
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v\n%s", err, out)
	}
	if want := "256 " + pub.Fingerprint() + " alice@example.com (ED25519)\n"; out != want {
		t.Errorf("ssh-keygen -l says %q, want %q", out, want)
	}
}

// TestWeVerifyOpenSSH checks that Verify accepts signatures by ssh-keygen,
// and that LoadKeyFile reads its key files.
func TestWeVerifyOpenSSH(t *testing.T) {
	needSSHKeygen(t)
	message := []byte("policy bundle v3\n")
	for _, keyType := range []string{"ed25519", "ecdsa"} {
		t.Run(keyType, func(t *testing.T) {
			dir := t.TempDir()
			// -b 256 picks P-256 for ecdsa; ed25519 ignores it.
			if out, err := sshKeygen(t, dir, nil, "-q", "-t", keyType, "-b", "256", "-N", "", "-C", "officer", "-f", "key"); err != nil {
				t.Fatalf("ssh-keygen: %v\n%s", err, out)
			}
			line, err := os.ReadFile(filepath.Join(dir, "key.pub"))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKey(string(line))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "message"), message, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := sshKeygen(t, dir, nil, "-Y", "sign", "-n", NamespaceApproval, "-f", "key", "message"); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
			}
			theirs, err := os.ReadFile(filepath.Join(dir, "message.sig"))
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(pub, NamespaceApproval, message, theirs); err != nil {
				t.Errorf("Verify refused ssh-keygen's signature: %v\n%s", err, theirs)
			}
			wantBad(t, Verify(pub, NamespaceIntent, message, theirs), errWrongNS)
			wantBad(t, Verify(pub, NamespaceApproval, []byte("policy bundle v4\n"), theirs), errDoesNotCheck)

			s, err := LoadKeyFile(filepath.Join(dir, "key"))
			if err != nil {
				t.Fatalf("LoadKeyFile of ssh-keygen's key: %v", err)
			}
			if s.PublicKey() != pub {
				t.Errorf("LoadKeyFile read %s, ssh-keygen wrote %s", s.PublicKey(), pub)
			}
		})
	}

	t.Run("passphrase", func(t *testing.T) {
		dir := t.TempDir()
		if out, err := sshKeygen(t, dir, nil, "-q", "-t", "ed25519", "-a", "1", "-N", "hunter2", "-f", "key"); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		if _, err := LoadKeyFile(filepath.Join(dir, "key")); err == nil || !strings.Contains(err.Error(), "ssh-add") {
			t.Errorf("LoadKeyFile of a passphrase-protected key: %v, want an error saying to use ssh-add", err)
		}
	})
}

// TestOpenSSHAgent signs through OpenSSH's own ssh-agent, with a key file
// and with a passphrase-protected key added by ssh-add, as an officer
// without a security key would.
func TestOpenSSHAgent(t *testing.T) {
	needSSHKeygen(t)
	for _, tool := range []string{"ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool, "is not installed, so signing through OpenSSH's agent is not tested:", err)
		}
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	agentCmd := exec.CommandContext(ctx, "ssh-agent", "-D", "-a", socket)
	agentCmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		agentCmd.Wait()
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(20 * time.Millisecond)
	}

	plain, err := GenerateKeyFile(filepath.Join(dir, "plain"), "")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sshKeygen(t, dir, nil, "-q", "-t", "ed25519", "-a", "1", "-N", "hunter2", "-f", "locked"); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	line, err := os.ReadFile(filepath.Join(dir, "locked.pub"))
	if err != nil {
		t.Fatal(err)
	}
	locked, err := ParsePublicKey(string(line))
	if err != nil {
		t.Fatal(err)
	}
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho hunter2\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"plain", "locked"} {
		add := exec.CommandContext(ctx, "ssh-add", key)
		add.Dir = dir
		add.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "SSH_AUTH_SOCK=" + socket,
			"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none"}
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", key, err, out)
		}
	}

	message := []byte("approve withdrawal w-77\n")
	for _, pub := range []PublicKey{plain, locked} {
		s, err := AgentSigner(socket, pub)
		if err != nil {
			t.Fatal(err)
		}
		sig := sign(t, s, NamespaceApproval, message)
		if err := Verify(pub, NamespaceApproval, message, sig); err != nil {
			t.Errorf("signature by %s through ssh-agent: %v", pub.Fingerprint(), err)
		}
	}
	if s, err := AgentSigner(socket, PublicKey{}); err == nil {
		t.Errorf("AgentSigner picked %s from an agent holding two keys", s.PublicKey().Fingerprint())
	}
}

// TestOpenSSHVerifiesSecurityKey checks the test's stand-in security keys
// against OpenSSH, so that the tests of security keys check OpenSSH's
// format and not one of our own: ssh-keygen -Y verify must accept their
// signatures, made through Sign, and refuse one whose counter was changed.
//
// It also pins down where Verify is stricter than OpenSSH: ssh-keygen -Y
// verify (9.2) accepts a signature made without a touch (sshd checks the
// flag when logging in, but sshsig does not), which Verify refuses.
func TestOpenSSHVerifiesSecurityKey(t *testing.T) {
	needSSHKeygen(t)
	message := []byte("policy bundle v9\n")
	for _, k := range []*skKey{newSKEd25519(t), newSKECDSA(t)} {
		t.Run(k.pub.Type(), func(t *testing.T) {
			pub, err := fromSSH(k.pub)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			allowed := "alice@example.com " + pub.String() + "\n"
			if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(allowed), 0o644); err != nil {
				t.Fatal(err)
			}
			verify := func(sig []byte) (string, error) {
				if err := os.WriteFile(filepath.Join(dir, "sig"), sig, 0o644); err != nil {
					t.Fatal(err)
				}
				return sshKeygen(t, dir, message, "-Y", "verify", "-f", "allowed_signers", "-I", "alice@example.com", "-n", NamespacePolicy, "-s", "sig")
			}

			sig := sign(t, k.signer(t), NamespacePolicy, message)
			if out, err := verify(sig); err != nil {
				t.Errorf("ssh-keygen -Y verify refused a security key's signature: %v\n%s", err, out)
			}
			recounted := edit(t, sig, func(sig *sshsig.Signature) { sig.Signature.Rest[4]++ })
			if out, err := verify(recounted); err == nil {
				t.Errorf("ssh-keygen -Y verify accepted a signature whose counter was changed:\n%s", out)
			}

			k.flags = 0
			defer func() { k.flags = skUserPresent }()
			untouched := handSign(t, k, NamespacePolicy, message)
			if out, err := verify(untouched); err != nil {
				t.Errorf("ssh-keygen -Y verify refused a signature made without a touch: %v\n%s", err, out)
			}
			wantBad(t, Verify(pub, NamespacePolicy, message, untouched), errDoesNotCheck)
		})
	}
}
