package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Main runs the app with args and returns the process exit code: 0 on
// success, the code of a cli.ExitCoder, 2 for a required flag not given
// (a usage error like any other), or 1 for any other error, which it
// prints to stderr as "ospnode: …". The codes are exitStatusHelp's.
func Main(args []string, stdout, stderr io.Writer) int {
	app := NewApp(stdout, stderr)
	args, err := prepareArgs(app, args)
	if err == nil {
		err = app.Run(args)
	}
	if err == nil {
		return 0
	}
	if isRequiredFlagsErr(err) {
		fmt.Fprintf(stderr, "ospnode: %v (see the command's --help)\n", err)
		return exitUsage
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) {
		if msg := coder.Error(); msg != "" {
			fmt.Fprintf(stderr, "ospnode: %s\n", msg)
		}
		return coder.ExitCode()
	}
	fmt.Fprintf(stderr, "ospnode: %v\n", err)
	return 1
}

// isRequiredFlagsErr recognises urfave/cli's error for required flags not
// set: its type is unexported, its message is fixed ("Required flag(s) …
// not set"); TestExitStatusConvention pins it.
func isRequiredFlagsErr(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "Required flag ") || strings.HasPrefix(msg, "Required flags ")
}
