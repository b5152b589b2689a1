package main

import (
	"path/filepath"

	"github.com/countersign/countersign/signer"
)

// lookupEnv is os.LookupEnv, or a test's environment.
type lookupEnv func(string) (string, bool)

// resolveSealerPaths makes the sealer's file paths absolute against dir,
// the config file's directory, as LoadConfig does for key_file.
func resolveSealerPaths(c *signer.SealerConfig, dir string) {
	for _, p := range []*string{&c.KeyFile, &c.TPMKeyFile, &c.PINFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
