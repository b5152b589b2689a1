package keys

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AgentSigner returns a Signer for the key want held by the ssh-agent
// listening on the unix socket socketPath, usually $SSH_AUTH_SOCK. The
// agent does the signing, asking for a touch of the security key or a PIN
// if the key needs one. If want is the zero PublicKey, the agent must hold
// exactly one key of an accepted type, and that key is used.
//
// The Signer connects to the agent for each signature, so it stays usable
// when the agent restarts with the same socket and keys. Each exchange,
// the touch included, must finish within two minutes.
func AgentSigner(socketPath string, want PublicKey) (Signer, error) {
	if socketPath == "" {
		return nil, errors.New("keys: no ssh-agent socket given; is SSH_AUTH_SOCK set, and is ssh-agent running?")
	}
	var held []*agent.Key
	err := withAgent(socketPath, func(a agent.ExtendedAgent) (err error) {
		held, err = a.List()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keys: listing the keys of ssh-agent at %s: %w", socketPath, err)
	}
	var usable []PublicKey
	for _, k := range held {
		if pub, err := fromSSH(k); err == nil {
			usable = append(usable, pub)
		}
	}
	var pub PublicKey
	switch {
	case !want.IsZero() && slices.Contains(usable, want):
		pub = want
	case want.IsZero() && len(usable) == 1:
		pub = usable[0]
	case !want.IsZero():
		return nil, fmt.Errorf("keys: ssh-agent at %s does not hold the key %s; it holds %s; add the key with ssh-add", socketPath, want.Fingerprint(), describe(held))
	case len(usable) == 0:
		return nil, fmt.Errorf("keys: ssh-agent at %s holds no key of an accepted type (%s); it holds %s; add one with ssh-add", socketPath, strings.Join(acceptedTypes, ", "), describe(held))
	default:
		return nil, fmt.Errorf("keys: ssh-agent at %s holds %d keys of accepted types, %s; say which one to use", socketPath, len(usable), describe(held))
	}
	return newSigner(agentKey{socket: socketPath, pub: pub.ssh()}, "ssh-agent at "+socketPath)
}

// describe lists keys by fingerprint, type and comment.
func describe(keys []*agent.Key) string {
	if len(keys) == 0 {
		return "no keys"
	}
	list := make([]string, len(keys))
	for i, k := range keys {
		list[i] = fmt.Sprintf("%s (%s %s)", ssh.FingerprintSHA256(k), k.Type(), quote(k.Comment))
	}
	return strings.Join(list, ", ")
}

// agentKey is an ssh.Signer for a key held by ssh-agent. Security keys
// sign in their own formats (OpenSSH's PROTOCOL.u2f), with flags and a
// counter after the signature: the agent returns them, and agentKey
// passes them on as they are.
type agentKey struct {
	socket string
	pub    ssh.PublicKey
}

var _ ssh.Signer = agentKey{}

// PublicKey returns the key.
func (k agentKey) PublicKey() ssh.PublicKey { return k.pub }

// Sign asks the agent to sign data.
func (k agentKey) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	var sig *ssh.Signature
	err := withAgent(k.socket, func(a agent.ExtendedAgent) (err error) {
		sig, err = a.Sign(k.pub, data)
		if err != nil {
			return fmt.Errorf("ssh-agent did not sign (a security key must be touched when it blinks): %w", err)
		}
		return nil
	})
	return sig, err
}

// withAgent calls f with a client of the ssh-agent at socket, connected for
// the duration of the call.
func withAgent(socket string, f func(agent.ExtendedAgent) error) error {
	conn, err := net.DialTimeout("unix", socket, agentTimeout)
	if err != nil {
		return fmt.Errorf("cannot reach ssh-agent (is SSH_AUTH_SOCK right, and is ssh-agent running?): %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(agentTimeout)); err != nil {
		return err
	}
	return f(agent.NewClient(conn))
}
