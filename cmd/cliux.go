package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// exitStatusHelp states the exit statuses, one convention for every
// command (settle.go's constants): 0 success; 1 the operation failed; 2
// the command line is wrong; 3 a reconciliation raised a dispute.
const exitStatusHelp = `EXIT STATUS:
   0  success
   1  the operation failed (a node refused, a file could not be read, a check found problems)
   2  the command line is wrong (unknown command or flag, a required flag missing, a malformed argument)
   3  reconcile: a dispute is raised
   4  settle rate, settle statement: some records were rejected; the output holds the rest and
      the rejects (--rejects FILE, else stderr) name each one's line and reason`

// prepareArgs makes the command line what urfave/cli can parse as people
// type it:
//   - `ospnode help A B` is `ospnode A B --help`, so help is complete for
//     every command and subcommand (urfave's help command lists no
//     subcommands of a parent and ignores a second word);
//   - a word where a command or subcommand is expected that names none is
//     a usage error (exit 2) naming the nearest command, instead of
//     urfave's "No help topic" with exit 3, the status reserved for a
//     reconciliation dispute;
//   - flags given after positional arguments (`member show ID --output
//     json`) are moved before them: urfave stops reading flags at the first
//     positional argument. "--" still ends the flags.
func prepareArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	out := []string{args[0]}
	rest := args[1:]
	if rest[0] == "help" || rest[0] == "h" {
		if len(rest) == 1 {
			return args, nil
		}
		rest = append(append([]string{}, rest[1:]...), "--help")
	}
	level := app.Commands
	path := []string{app.Name}
	var leaf *cli.Command
	for len(rest) > 0 && len(level) > 0 {
		w := rest[0]
		if strings.HasPrefix(w, "-") {
			break // a flag of this level (--help, …)
		}
		c := findCommand(level, w)
		if c == nil {
			if w == "help" || w == "h" {
				break // urfave's own per-command help subcommand
			}
			return nil, unknownCommand(path, w, level)
		}
		out = append(out, w)
		rest = rest[1:]
		path = append(path, c.Name)
		leaf, level = c, c.Subcommands
	}
	if leaf == nil || len(leaf.Subcommands) > 0 {
		return append(out, rest...), nil
	}
	flags, positional := splitFlags(leaf, rest)
	out = append(out, flags...)
	return append(out, positional...), nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// splitFlags separates c's flags (with their values) from its positional
// arguments, keeping the order within each.
func splitFlags(c *cli.Command, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if takesValue(c, name) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// takesValue reports whether c's flag name needs a value (every flag but a
// boolean one, and the built-in --help).
func takesValue(c *cli.Command, name string) bool {
	if name == "help" || name == "h" {
		return false
	}
	for _, f := range c.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		_, isBool := f.(*cli.BoolFlag)
		return !isBool
	}
	return false // unknown: urfave reports it
}

// unknownCommand is the usage error for word where a command of level was
// expected under path, naming the nearest command when one is close.
func unknownCommand(path []string, word string, level []*cli.Command) error {
	best, bestD := "", 1<<30
	for _, c := range level {
		if c.Hidden {
			continue
		}
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if d := editDistance(word, n); d < bestD {
				best, bestD = n, d
			}
		}
	}
	where := strings.Join(path, " ")
	// The program's name already prefixes every error line: name the
	// parent command only below the top level ("ospnode: unknown command",
	// "ospnode: member: unknown command").
	msg := fmt.Sprintf("unknown command %q", word)
	if len(path) > 1 {
		msg = strings.Join(path[1:], " ") + ": " + msg
	}
	if best != "" && bestD <= max(2, len(word)/3) {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return usage("%s (see '%s --help')", msg, where)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// shortUsageErrors makes a flag error of any command a one-line usage
// error (exit 2) pointing at the command's help, instead of urfave's
// whole help text with exit 1.
func shortUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(ctx *cli.Context, err error, _ bool) error {
			return usage("%v (see '%s --help')", err, ctx.Command.HelpName)
		}
		shortUsageErrors(c.Subcommands)
	}
}
