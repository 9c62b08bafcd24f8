package cmd

import "strings"

// envVars returns the EnvVars builder of one command's flags: a flag name
// ("source-addr") or its upper-case form ("SOURCE_ADDR") becomes
// OSPNODE_<PREFIX>_SOURCE_ADDR, so every command names its environment
// variables the same way.
func envVars(prefix string) func(name string) []string {
	return func(name string) []string {
		return []string{"OSPNODE_" + prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	}
}
