//go:build tools

// Package deps pins the project's direct dependencies in go.mod while the
// packages that use them are being written. Delete an import here once a
// real package imports it.
package deps

import (
	_ "github.com/beevik/etree"
	_ "github.com/cockroachdb/apd/v3"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/smallstep/pkcs7"
	_ "github.com/urfave/cli/v2"
	_ "go.etcd.io/bbolt"
)
