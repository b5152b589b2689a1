package main

import (
	"context"
	"flag"
)

var crossCheckCommand, reportCommand = stub("cross-check"), stub("report")

func stub(name string) *command {
	return &command{name: name, short: "not yet", flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		return func(context.Context, []string) error { return usagef("%s: not yet", name) }
	}}
}
