//go:build tools

// Package tools pins runc v1.4.3 for the kind node image. Not in go.work.
// scripts/kind/build-runc.sh builds it.
package tools

import _ "github.com/opencontainers/runc"
