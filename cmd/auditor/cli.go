package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/countersign/countersign/internal/cmdline"
)

// cli is one invocation of auditor: where it writes. Tests build their own.
type cli struct {
	stdout, stderr io.Writer
}

// command is one subcommand.
type command = cmdline.Command[*cli]

// commands lists every subcommand, in the order help shows them.
var commands []*command

func init() {
	commands = []*command{fetchCommand, verifyCommand, crossCheckCommand, replayCommand, exportCommand, reportCommand, genCommand}
}

// usageError is a command line that cannot be run as written: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// errFound is returned by a command that ran and found a problem in a log
// (it has printed what): exit code 1 without another message.
var errFound = errors.New("problems found")

func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		c.printUsage(c.stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if cmd, rest := cmdline.Lookup(commands, args[1:]); cmd != nil && len(rest) == 0 {
				c.printCommandUsage(c.stdout, cmd)
				return nil
			}
			return usagef("unknown command %q (run 'auditor help' for the list)", args[1])
		}
		c.printUsage(c.stdout)
		return nil
	}
	cmd, rest := cmdline.Lookup(commands, args[:1])
	if cmd == nil || len(rest) != 0 {
		return usagef("unknown command %q (run 'auditor help' for the list)", args[0])
	}
	fs := flag.NewFlagSet("auditor "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runCmd := cmd.Flags(c, fs)
	positional, err := cmdline.ParseInterspersed(fs, args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printCommandUsage(c.stdout, cmd)
		return nil
	case err != nil:
		return usagef("auditor %s: %v", cmd.Name, err)
	}
	return runCmd(ctx, positional)
}

// exitCode prints err, if it says something, and returns the exit code.
func (c *cli) exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "auditor: %v\n", err)
		return 2
	case errors.Is(err, errFound):
		return 1
	default:
		fmt.Fprintf(c.stderr, "auditor: %v\n", err)
		return 1
	}
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprint(w, `auditor checks countersign nodes' audit logs: hash chains, signatures and
the heads nodes recorded of each other; what each node did against what the
others saw; every decision, approval and signature re-run under the policy
then in force; and exports and reports for people.

usage: auditor COMMAND [flags] [arguments]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.Name, cmd.Short)
	}
	tw.Flush()
	fmt.Fprint(w, `
DB is a node's bbolt file (read-only; a running node holds its file, so
fetch a copy from it) or a copy written by 'auditor fetch'.
Run 'auditor help COMMAND' for a command's flags.
Exit codes: 0 nothing wrong, 1 a problem found or an error, 2 a usage error.
`)
}

func (c *cli) printCommandUsage(w io.Writer, cmd *command) {
	cmdline.PrintUsage(w, "auditor", c, cmd)
}
