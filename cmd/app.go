package cmd

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// Version is the release of this build, overridden at link time with
// -ldflags "-X github.com/ospnode/ospnode/cmd.Version=…".
var Version = "0.1.0-dev"

// NewApp returns the ospnode application writing to stdout and stderr. It
// never calls os.Exit, so tests run it in-process with app.Run(args).
func NewApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                  "ospnode",
		Usage:                 "an OSP (ETSI TS 101 321) peering clearinghouse",
		Version:               Version,
		Writer:                stdout,
		ErrWriter:             stderr,
		EnableBashCompletion:  true,
		HideVersion:           true,
		ExitErrHandler:        func(*cli.Context, error) {}, // main decides the exit code
		Commands:              commands(),
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitStatusHelp + "\n",
	}
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usage("%v (see 'ospnode --help')", err)
	}
	shortUsageErrors(app.Commands)
	return app
}

// commands lists every top-level command. Each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCommand(),
		serveCommand(),
		tokenCommand(),
		caCommand(),
		settleCommand(),
		reconcileCommand(),
		ospCommand(),
		benchCommand(),
		testnetCommand(), restoreCommand(),
		clusterCommand(), memberCommand(), trunkCommand(), routeCommand(), statsCommand(), rateCommand(), peerCommand(),
		outboxCommand(), cdrCommand(), txCommand(), ledgerCommand(), periodCommand(), certCommand(),
		networkCommand(), applyCommand(), exportCommand(), fraudCommand(),
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the ospnode version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "ospnode %s\n", Version)
			return err
		},
	}
}
