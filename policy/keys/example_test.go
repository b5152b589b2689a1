package keys_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/countersign/countersign/policy/keys"
)

func Example() {
	dir, err := os.MkdirTemp("", "keys-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A lab officer's key; a real officer's lives on a security key and is
	// used through keys.AgentSigner(os.Getenv("SSH_AUTH_SOCK"), officerKey).
	path := filepath.Join(dir, "officer")
	officerKey, err := keys.GenerateKeyFile(path, "alice@example.com")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := keys.LoadKeyFile(path)
	if err != nil {
		log.Fatal(err)
	}

	approval := []byte(`{"withdrawal":"w-1a2b","decision":"approve"}`)
	sig, err := signer.Sign(keys.NamespaceApproval, approval)
	if err != nil {
		log.Fatal(err)
	}

	fmt.Println(keys.Verify(officerKey, keys.NamespaceApproval, approval, sig))
	err = keys.Verify(officerKey, keys.NamespacePolicy, approval, sig)
	fmt.Println(errors.Is(err, keys.ErrBadSignature))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// keys: bad signature: wrong namespace: made for "countersign-approval", want countersign-policy
}
