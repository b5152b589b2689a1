package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/countersign/countersign/internal/cmdline"
)

// cli is one invocation of signerctl: where it writes and what it reads
// from the environment. Tests build their own.
type cli struct {
	stdin          io.Reader // answers to confirmations; nil: none
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand. Its name may have two words ("wallet create").
type command = cmdline.Command[*cli]

// commands lists every subcommand, in the order help shows them.
var commands []*command

func init() {
	commands = []*command{
		statusCommand, walletCreateCommand, walletListCommand,
		walletShowCommand, addressCommand, poolWaitCommand, fundCommand, withdrawBuildCommand,
		withdrawSubmitCommand, withdrawShowCommand, withdrawListCommand, withdrawWatchCommand,
		policyProposeCommand, policyShowCommand,
	}
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

// run parses args (without the program name) and runs the command they name.
func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		c.printUsage(c.stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			cmd, rest := lookup(args[1:])
			if cmd != nil && len(rest) == 0 {
				c.printCommandUsage(c.stdout, cmd)
				return nil
			}
			if group := groupOf(args[1]); len(args) == 2 && len(group) > 0 {
				for i, cmd := range group {
					if i > 0 {
						fmt.Fprintln(c.stdout)
					}
					c.printCommandUsage(c.stdout, cmd)
				}
				return nil
			}
			return c.unknown(args[1:])
		}
		c.printUsage(c.stdout)
		return nil
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		return c.unknown(args)
	}
	fs := flag.NewFlagSet("signerctl "+cmd.Name, flag.ContinueOnError)
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

func lookup(args []string) (*command, []string) { return cmdline.Lookup(commands, args) }

// unknown explains a command line that names no command.
func (c *cli) unknown(args []string) error {
	if group := cmdline.Names(groupOf(args[0])); len(group) > 0 {
		if len(args) == 1 {
			return usagef("%s needs a subcommand: %s", args[0], strings.Join(group, ", "))
		}
		return usagef("unknown command %q: want %s", strings.Join(args[:2], " "), strings.Join(group, ", "))
	}
	if moved, ok := movedToSignerd[args[0]]; ok {
		return usagef("%s is 'signerd %s' now: %s", args[0], args[0], moved)
	}
	return usagef("unknown command %q (run 'signerctl help' for the list)", args[0])
}

// movedToSignerd are the commands that need a node's own code, and why.
var movedToSignerd = map[string]string{
	"init": "creating a cluster writes every node's config and sealer key",
	"dev":  "it runs the nodes themselves",
}

// groupOf returns the commands whose two-word names start with word.
func groupOf(word string) []*command { return cmdline.Group(commands, word) }

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprint(w, `signerctl operates a countersign cluster: its nodes' status and pools,
wallets and addresses, withdrawals, and drafts of the next policy version
(officers sign them with the officer CLI). Creating a cluster and running a
lab cluster's nodes are signerd's: 'signerd init', 'signerd dev'.

usage: signerctl COMMAND [flags] [arguments]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.Name, cmd.Short)
	}
	tw.Flush()
	fmt.Fprint(w, `
Run 'signerctl help COMMAND' for a command's flags.
Exit codes: 0 success, 1 an error, 2 a usage error.
`)
}

func (c *cli) printCommandUsage(w io.Writer, cmd *command) {
	cmdline.PrintUsage(w, "signerctl", c, cmd)
}

// report prints err for a person and returns the process's exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "signerctl: %s\n", ue.msg)
		if ue.cmd != nil {
			fmt.Fprintf(c.stderr, "usage: signerctl %s %s\n(run 'signerctl help %s' for its flags)\n", ue.cmd.Name, ue.cmd.Args, ue.cmd.Name)
		}
		return 2
	}
	fmt.Fprintf(c.stderr, "signerctl: %v\n", err)
	var ce *callError
	if errors.As(err, &ce) {
		fmt.Fprintf(c.stderr, "  code: %s\n", ce.code)
	}
	if h := hintFor(err); h != "" {
		fmt.Fprintf(c.stderr, "  hint: %s\n", h)
	}
	return 1
}

// confirm asks the person at the terminal to confirm an action that moves
// money or changes policy, after the caller has shown what it will do. yes
// (the -yes flag) answers for them.
func (c *cli) confirm(question string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(c.stderr, "%s [y/N] ", question)
	var answer string
	if c.stdin != nil {
		line, _ := bufio.NewReader(c.stdin).ReadString('\n')
		answer = strings.ToLower(strings.TrimSpace(line))
	}
	if answer == "y" || answer == "yes" {
		return nil
	}
	fmt.Fprintln(c.stderr)
	return withHint(errors.New("not confirmed: nothing was done"), "answer y, or pass -yes to confirm without a question (scripts)")
}

// withHint adds a suggestion of what to do about err, printed under it.
var withHint = cmdline.WithHint

func hintFor(err error) string {
	if h, ok := errors.AsType[*cmdline.Hinted](err); ok {
		return h.Hint
	}
	var ce *callError
	if errors.As(err, &ce) {
		return ce.hint()
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted; nothing more was asked of the cluster"
	}
	return ""
}
