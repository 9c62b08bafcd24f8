// Command ospnode is the OSP peering clearinghouse. All of it lives in package
// cmd; this file only runs it and turns its error into an exit code.
package main

import (
	"os"

	"github.com/ospnode/ospnode/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args, os.Stdout, os.Stderr))
}
