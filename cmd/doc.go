// Package cmd is the ospnode command line on urfave/cli/v2. NewApp builds the
// whole application so that tests run it in-process; cmd/ospnode/main.go only
// calls it. Each command lives in its own file with its test beside it.
//
// cmd holds no logic a test cannot reach through node or the library packages;
// it parses flags (flag > OSPNODE_* env > config file > default), calls them,
// and prints. Only cmd/ospnode calls os.Exit.
package cmd
