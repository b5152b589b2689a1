package main

import (
	"path/filepath"

	"github.com/countersign/countersign/signer"
)

// lookupEnv is os.LookupEnv, or a test's environment.
type lookupEnv func(string) (string, bool)

// resolveSealerPaths makes relative sealer file paths given on reseal's
// command line relative to dir, the config file's (absolute) directory,
// as LoadConfig does for the config's own paths. Absolute paths, such as
// every path LoadConfig returns, are left as they are.
func resolveSealerPaths(c *signer.SealerConfig, dir string) {
	for _, p := range []*string{&c.KeyFile, &c.TPMKeyFile, &c.PINFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
