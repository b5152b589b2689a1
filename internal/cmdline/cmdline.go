// Package cmdline is the command dispatch the countersign CLIs share:
// subcommands of one or two words ("status", "wallet create"), each with
// its own flag set, and flags that may stand before, between or after the
// positional arguments. Help texts, usage errors and exit codes stay with
// each CLI.
package cmdline

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is one subcommand of a CLI whose invocation is a C.
type Command[C any] struct {
	Name  string // one word, or two ("wallet create")
	Args  string // the synopsis after the name
	Short string // one line for the command list
	Long  string // what it does, for "help NAME"
	// Flags declares the command's flags on fs and returns the function
	// that runs it with the positional arguments left after parsing.
	Flags func(c C, fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

// Lookup finds the command args start with, trying two-word names first,
// and returns it with the arguments after its name; nil if none.
func Lookup[C any](commands []*Command[C], args []string) (*Command[C], []string) {
	if len(args) >= 2 {
		for _, cmd := range commands {
			if cmd.Name == args[0]+" "+args[1] {
				return cmd, args[2:]
			}
		}
	}
	if len(args) >= 1 {
		for _, cmd := range commands {
			if cmd.Name == args[0] {
				return cmd, args[1:]
			}
		}
	}
	return nil, nil
}

// Group returns the commands whose two-word names start with word.
func Group[C any](commands []*Command[C], word string) []*Command[C] {
	var group []*Command[C]
	for _, cmd := range commands {
		if first, _, ok := strings.Cut(cmd.Name, " "); ok && first == word {
			group = append(group, cmd)
		}
	}
	return group
}

// Names returns the commands' names.
func Names[C any](commands []*Command[C]) []string {
	var names []string
	for _, cmd := range commands {
		names = append(names, cmd.Name)
	}
	return names
}

// ParseInterspersed parses flags that may come before, between or after
// positional arguments ("wallet show ID -json"). A lone "--" ends the
// flags.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// Hinted is an error with a suggestion of what to do about it, which the
// CLIs print under the error.
type Hinted struct {
	Err  error
	Hint string
}

func (e *Hinted) Error() string { return e.Err.Error() }
func (e *Hinted) Unwrap() error { return e.Err }

// WithHint adds a hint to err; nil stays nil.
func WithHint(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	return &Hinted{Err: err, Hint: fmt.Sprintf(format, a...)}
}

// PrintUsage writes a command's help: "usage: PROG NAME ARGS", its long
// text, and its flags, if it has any.
func PrintUsage[C any](w io.Writer, prog string, c C, cmd *Command[C]) {
	fmt.Fprintf(w, "usage: %s %s %s\n\n%s\n", prog, cmd.Name, cmd.Args, strings.TrimSpace(cmd.Long))
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	cmd.Flags(c, fs)
	var hasFlags bool
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
