package cmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// Main runs the app with args and returns the process exit code: 0 on
// success, the code of a cli.ExitCoder, or 1 for any other error, which it
// prints to stderr as "ospnode: …".
func Main(args []string, stdout, stderr io.Writer) int {
	app := NewApp(stdout, stderr)
	args, err := prepareArgs(app, args)
	if err == nil {
		err = app.Run(args)
	}
	if err == nil {
		return 0
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
