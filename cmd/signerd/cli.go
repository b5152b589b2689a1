package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/countersign/countersign/internal/cmdline"
	"github.com/countersign/countersign/signer"
)

// cli is one invocation of signerd: where it writes and what it reads
// from the environment. Tests build their own.
type cli struct {
	stdin          io.Reader // answers to confirmations (reseal)
	stdout, stderr io.Writer
	env            lookupEnv
	// signals returns a context that also ends on SIGINT or SIGTERM; nil
	// (tests) leaves the context as it is.
	signals func(context.Context) (context.Context, context.CancelFunc)
}

func (c *cli) getenv(name string) string {
	v, _ := c.env(name)
	return v
}

// interruptible is ctx, ended by SIGINT or SIGTERM too.
func (c *cli) interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.signals == nil {
		return context.WithCancel(ctx)
	}
	return c.signals(ctx)
}

// command is one subcommand.
type command = cmdline.Command[*cli]

// commands lists every subcommand, in the order help shows them.
var commands []*command

func init() {
	commands = []*command{initCommand, devCommand, resealCommand, versionCommand}
}

// resealCommand is `signerd reseal`, which parses its own flags and prints
// its own usage (reseal.go): run hands it the arguments as they are.
var resealCommand = &command{
	Name:  "reseal",
	Args:  "-config CONFIG -to software|tpm [flags]",
	Short: "move a stopped node's sealed secrets to another sealer (software or TPM)",
	Flags: func(c *cli, _ *flag.FlagSet) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			err := reseal(args, c.stdin, c.stdout, c.stderr, c.env)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	},
}

var versionCommand = &command{
	Name:  "version",
	Short: "print the version of signerd",
	Long:  `Version prints the node software's version (what GetStatus reports), the Go version it was built with, and the platform.`,
	Flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) error {
		return func(_ context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			_, err := fmt.Fprintf(c.stdout, "signerd %s (%s, %s/%s)\n", signer.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		}
	},
}

// usageError is a command line that cannot be run as written: exit code 2.
type usageError struct {
	cmd *command // nil for the top level
	msg string
}

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError; run names the command it belongs to.
func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// run parses args (without the program name) and runs what they name:
// the node itself when they start with a flag or are empty.
func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return c.serve(ctx, args)
	}
	if args[0] == "help" {
		return c.help(args[1:])
	}
	cmd, rest := cmdline.Lookup(commands, args)
	if cmd == nil {
		return usagef("unknown command %q", args[0])
	}
	if cmd == resealCommand {
		return cmd.Flags(c, nil)(ctx, rest)
	}
	fs := flag.NewFlagSet("signerd "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runCmd := cmd.Flags(c, fs)
	positional, err := cmdline.ParseInterspersed(fs, rest)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printCommandUsage(c.stdout, cmd)
		return nil
	case err != nil:
		err = usagef("%v", err)
	default:
		err = runCmd(ctx, positional)
	}
	if ue := (*usageError)(nil); errors.As(err, &ue) && ue.cmd == nil {
		ue.cmd = cmd
	}
	return err
}

// help is `signerd help [COMMAND]`.
func (c *cli) help(args []string) error {
	switch {
	case len(args) == 0:
		c.printUsage(c.stdout)
		return nil
	case len(args) > 1:
		return usagef("help takes one command, not %q", strings.Join(args, " "))
	}
	cmd, _ := cmdline.Lookup(commands, args)
	switch cmd {
	case nil:
		return usagef("unknown command %q", args[0])
	case resealCommand:
		// reseal prints its usage where it prints its errors.
		if err := reseal([]string{"-h"}, nil, c.stdout, c.stdout, c.env); !errors.Is(err, flag.ErrHelp) {
			return err
		}
		return nil
	}
	c.printCommandUsage(c.stdout, cmd)
	return nil
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprint(w, `signerd is a countersign signer node. Without a command it serves the node
its -config file configures, until SIGINT or SIGTERM. Its commands create
a cluster, run a lab cluster's nodes in one process, and re-seal a node's
secrets.

usage: signerd [-config FILE]
       signerd COMMAND [flags]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.Name, cmd.Short)
	}
	fmt.Fprintf(tw, "  %s\t%s\n", "help", "describe signerd, or with a command its flags")
	tw.Flush()
	fmt.Fprint(w, "\nflags, without a command:\n")
	fs := flag.NewFlagSet("signerd", flag.ContinueOnError)
	registerServeFlags(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Run 'signerd help COMMAND' for a command's flags.
Exit codes: 0 success, 1 an error, 2 a usage error.
`)
}

func (c *cli) printCommandUsage(w io.Writer, cmd *command) {
	cmdline.PrintUsage(w, "signerd", c, cmd)
}

// report prints err for a person and returns the process's exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2 // reseal said why
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "signerd: %s\n", ue.msg)
		if ue.cmd != nil {
			fmt.Fprintf(c.stderr, "usage: signerd %s %s\n(run 'signerd help %s' for its flags)\n", ue.cmd.Name, ue.cmd.Args, ue.cmd.Name)
		} else {
			fmt.Fprint(c.stderr, "(run 'signerd help' for the commands and flags)\n")
		}
		return 2
	}
	fmt.Fprintf(c.stderr, "signerd: %v\n", err)
	if h, ok := errors.AsType[*cmdline.Hinted](err); ok {
		fmt.Fprintf(c.stderr, "  hint: %s\n", h.Hint)
	}
	return 1
}

// withHint adds a suggestion of what to do about err, printed under it.
var withHint = cmdline.WithHint

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
