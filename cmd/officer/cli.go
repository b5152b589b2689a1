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

// cli is one invocation of officer: where it reads and writes, and the
// environment. Tests build their own.
type cli struct {
	stdin          io.Reader // answers to confirmations; nil: none
	stdout, stderr io.Writer
	getenv         func(string) string

	g globals
	// stdinLines reads stdin once, for every confirmation of a run.
	stdinLines *bufio.Reader
}

// run runs one command line (without the program name) with the given
// streams and environment: what main does, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	return c.run(ctx, args)
}

// globals are the flags every command takes, before or after its name.
type globals struct {
	cluster string // cluster directory: node addresses, the officer client certificate
	node    string // the node to read from first
	officer string // officer.json
	name    string // the officer's name in the policy
	key     string // an OpenSSH private key file
	agent   bool   // sign through ssh-agent
	pubkey  string // which of the agent's keys
	genesis string // the officer's own copy of the genesis bundle
}

// Environment variables the globals default to.
const (
	envCluster = "COUNTERSIGN_CLUSTER"
	envOfficer = "COUNTERSIGN_OFFICER"
	envGenesis = "COUNTERSIGN_GENESIS"
	envAgent   = "SSH_AUTH_SOCK"
)

// register declares the global flags on fs, with their current values
// as defaults, so that a command's flags keep what the global flags set.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.cluster, "cluster", g.cluster, "the cluster `directory`: its cluster.json and officer client certificate ($"+envCluster+")")
	fs.StringVar(&g.node, "node", g.node, "read from this node `id` first (default: the first in cluster.json)")
	fs.StringVar(&g.officer, "officer", g.officer, "the officer `file` (officer.json, written by 'officer keygen' or 'officer init') ($"+envOfficer+")")
	fs.StringVar(&g.name, "name", g.name, "your officer `name` in the policy (default: from -officer, or found by your key in the policy)")
	fs.StringVar(&g.key, "key", g.key, "sign with this unencrypted OpenSSH ed25519 private key `file`")
	fs.BoolVar(&g.agent, "agent", g.agent, "sign with a key held by ssh-agent ($"+envAgent+"), such as a security key")
	fs.StringVar(&g.pubkey, "pubkey", g.pubkey, "with -agent: use the agent's key whose public key is in this `file`")
	fs.StringVar(&g.genesis, "genesis", g.genesis, "your own copy of the cluster's genesis bundle `file`, to pin the chain of policies to ($"+envGenesis+")")
}

// command is one subcommand; its name may have two words ("policy sign").
type command = cmdline.Command[*cli]

var commands []*command

func init() {
	commands = []*command{
		keygenCommand, initCommand, whoamiCommand,
		policyShowCommand, policyDiffCommand, policySignCommand, policySubmitCommand,
		pendingCommand, showCommand, approveCommand, rejectCommand,
	}
}

// usageError is a command line that cannot run as written: exit code 2.
type usageError struct {
	cmd *command
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

func (c *cli) run(ctx context.Context, args []string) error {
	c.g = globals{cluster: c.getenv(envCluster), officer: c.getenv(envOfficer), genesis: c.getenv(envGenesis)}
	top := flag.NewFlagSet("officer", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	c.g.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(c.stdout)
			return nil
		}
		return usagef("%v", err)
	}
	args = top.Args()
	if len(args) == 0 {
		c.printUsage(c.stderr)
		return usagef("no command given")
	}
	if args[0] == "help" {
		if len(args) > 1 {
			if cmd, rest := lookup(args[1:]); cmd != nil && len(rest) == 0 {
				c.printCommandUsage(c.stdout, cmd)
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
	fs := flag.NewFlagSet("officer "+cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.g.register(fs)
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

func (c *cli) unknown(args []string) error {
	if group := cmdline.Names(cmdline.Group(commands, args[0])); len(group) > 0 {
		if len(args) == 1 {
			return usagef("%s needs a subcommand: %s", args[0], strings.Join(group, ", "))
		}
		return usagef("unknown command %q: want %s", args[0]+" "+args[1], strings.Join(group, ", "))
	}
	return usagef("unknown command %q (run 'officer help' for the list)", args[0])
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprint(w, `officer is the security officers' CLI of countersign: keys, policy bundles,
and the review, approval and rejection of withdrawals. Everything shown is
verified and re-derived on this machine, never taken on a node's word.

usage: officer [global flags] COMMAND [flags] [arguments]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.Name, cmd.Short)
	}
	tw.Flush()
	fmt.Fprint(w, `
global flags (also accepted after the command):
`)
	fs := flag.NewFlagSet("officer", flag.ContinueOnError)
	var g globals
	g.register(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Run 'officer help COMMAND' for a command's flags.
Exit codes: 0 success, 1 an error, 2 a usage error.
`)
}

func (c *cli) printCommandUsage(w io.Writer, cmd *command) {
	cmdline.PrintUsage(w, "officer", c, cmd)
	fmt.Fprint(w, "\n(and the global flags: run 'officer help')\n")
}

// report prints err for a person and returns the exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "officer: %s\n", ue.msg)
		if ue.cmd != nil {
			fmt.Fprintf(c.stderr, "usage: officer %s %s\n(run 'officer help %s' for its flags)\n", ue.cmd.Name, ue.cmd.Args, ue.cmd.Name)
		}
		return 2
	}
	fmt.Fprintf(c.stderr, "officer: %v\n", err)
	if h := hintFor(err); h != "" {
		fmt.Fprintf(c.stderr, "  hint: %s\n", h)
	}
	return 1
}

// confirm asks the person at the terminal to type "yes" before an action
// that changes policy or moves money; yes (the -yes flag) answers for them.
func (c *cli) confirm(question string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(c.stderr, "%s Type yes to go on: ", question)
	var answer string
	if c.stdin != nil {
		if c.stdinLines == nil {
			c.stdinLines = bufio.NewReader(c.stdin)
		}
		line, _ := c.stdinLines.ReadString('\n')
		answer = strings.ToLower(strings.TrimSpace(line))
	}
	if answer == "yes" {
		return nil
	}
	fmt.Fprintln(c.stderr)
	return withHint(errors.New("not confirmed: nothing was signed or sent"), "type yes, or pass -yes in scripts")
}

// withHint adds a suggestion of what to do about err, printed under it.
var withHint = cmdline.WithHint

func hintFor(err error) string {
	if h, ok := errors.AsType[*cmdline.Hinted](err); ok {
		return h.Hint
	}
	if ne, ok := errors.AsType[*nodeError](err); ok {
		return ne.hint()
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return ""
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// oneArg returns the one positional argument, what it names.
func oneArg(args []string, what string) (string, error) {
	switch len(args) {
	case 0:
		return "", usagef("missing %s", what)
	case 1:
		return args[0], nil
	}
	return "", usagef("one %s only; unexpected %q", what, args[1])
}
