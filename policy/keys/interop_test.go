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
