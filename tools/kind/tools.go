//go:build tools

// Package tools pins kind v0.33.0, the CLI that creates the e2e clusters.
// Not in go.work. scripts/kind/build-kind.sh builds it.
package tools

import _ "sigs.k8s.io/kind"
