package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// serveAgent serves a on a unix socket in a temporary directory, as
// ssh-agent does, until the test ends, and returns the socket's path.
func serveAgent(t *testing.T, a agent.Agent) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				agent.ServeAgent(a, conn)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return socket
}

// keyring returns an agent holding keys, each an ed25519.PrivateKey or an
// *ecdsa.PrivateKey.
func keyring(t *testing.T, keys ...any) agent.Agent {
	t.Helper()
	ring := agent.NewKeyring()
	for i, k := range keys {
		if err := ring.Add(agent.AddedKey{PrivateKey: k, Comment: "key " + string(rune('A'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	return ring
}

// publicKey returns the PublicKey of a private key.
func publicKey(t *testing.T, key any) PublicKey {
	t.Helper()
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := fromSSH(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestAgentSigner(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := publicKey(t, priv)
	socket := serveAgent(t, keyring(t, priv))
	message := []byte("policy bundle")
	for name, want := range map[string]PublicKey{"named": pub, "only key": {}} {
		t.Run(name, func(t *testing.T) {
			s, err := AgentSigner(socket, want)
			if err != nil {
				t.Fatal(err)
			}
			if s.PublicKey() != pub {
				t.Fatalf("signer key %s, want %s", s.PublicKey().Fingerprint(), pub.Fingerprint())
			}
			sig := sign(t, s, NamespacePolicy, message)
			if err := Verify(pub, NamespacePolicy, message, sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAgentSignerPicksWantedKey(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, b := publicKey(t, edKey), publicKey(t, ecKey)
	socket := serveAgent(t, keyring(t, edKey, ecKey))
	message := []byte("approval")
	for _, want := range []PublicKey{a, b} {
		s, err := AgentSigner(socket, want)
		if err != nil {
			t.Fatal(err)
		}
		sig := sign(t, s, NamespaceApproval, message)
		if err := Verify(want, NamespaceApproval, message, sig); err != nil {
			t.Errorf("signature by %s: %v", want.Type(), err)
		}
		other := a
		if want == a {
			other = b
		}
		wantBad(t, Verify(other, NamespaceApproval, message, sig), errWrongKey)
	}
}

func TestAgentSignerRefuses(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, b, absent := publicKey(t, edKey), publicKey(t, ecKey), newEd25519(t).pub
	two := serveAgent(t, keyring(t, edKey, ecKey))
	p384Key, err := ssh.NewPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		socket string
		want   PublicKey
		says   []string
	}{
		{"absent key", two, absent, []string{"does not hold the key " + absent.Fingerprint(), a.Fingerprint(), b.Fingerprint(), `"key A"`, "ssh-add"}},
		{"which key", two, PublicKey{}, []string{"holds 2 keys", a.Fingerprint(), b.Fingerprint(), "say which"}},
		{"empty agent", serveAgent(t, keyring(t)), PublicKey{}, []string{"holds no key of an accepted type", "it holds no keys"}},
		{"no accepted key", serveAgent(t, keyring(t, p384)), PublicKey{}, []string{"holds no key of an accepted type", ssh.FingerprintSHA256(p384Key)}},
		{"no socket", "", a, []string{"SSH_AUTH_SOCK"}},
		{"no agent", filepath.Join(t.TempDir(), "gone.sock"), a, []string{"cannot reach ssh-agent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := AgentSigner(tc.socket, tc.want)
			if err == nil {
				t.Fatalf("AgentSigner = %v, want an error", s)
			}
			for _, says := range tc.says {
				if !strings.Contains(err.Error(), says) {
					t.Errorf("error %q does not say %q", err, says)
				}
			}
		})
	}
}

// skAgent is an ssh-agent holding security keys, which sign as
// PROTOCOL.u2f says without being touched. Only List and Sign work.
type skAgent struct {
	agent.Agent // nil: other methods panic
	keys        []*skKey
}

func (a skAgent) List() ([]*agent.Key, error) {
	var list []*agent.Key
	for _, k := range a.keys {
		list = append(list, &agent.Key{Format: k.pub.Type(), Blob: k.pub.Marshal(), Comment: "security key"})
	}
	return list, nil
}

func (a skAgent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	for _, k := range a.keys {
		if bytes.Equal(k.pub.Marshal(), key.Marshal()) {
			return k.Sign(rand.Reader, data)
		}
	}
	return nil, errors.New("no such key")
}

// TestAgentSignerSecurityKey signs through ssh-agent with security keys:
// their flags and counter must come through the agent protocol and
// sshsig's signature blob unchanged for Verify to accept the signature.
func TestAgentSignerSecurityKey(t *testing.T) {
	edSK, ecSK := newSKEd25519(t), newSKECDSA(t)
	socket := serveAgent(t, skAgent{keys: []*skKey{edSK, ecSK}})
	message := []byte("approve w-9")
	for _, k := range []*skKey{edSK, ecSK} {
		t.Run(k.pub.Type(), func(t *testing.T) {
			pub, err := fromSSH(k.pub)
			if err != nil {
				t.Fatal(err)
			}
			s, err := AgentSigner(socket, pub)
			if err != nil {
				t.Fatal(err)
			}
			sig := sign(t, s, NamespaceApproval, message)
			if err := Verify(pub, NamespaceApproval, message, sig); err != nil {
				t.Fatal(err)
			}

			// A key that signs without being touched makes signatures
			// that Sign itself refuses to return.
			k.flags = 0
			defer func() { k.flags = skUserPresent }()
			sig, err = s.Sign(NamespaceApproval, message)
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "user presence") {
				t.Fatalf("Sign by an untouched key = %s, %v; want an error about user presence", sig, err)
			}
		})
	}
}
