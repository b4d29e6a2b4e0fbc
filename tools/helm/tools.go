//go:build tools

// Package tools pins the Helm CLI that lints and renders the example
// chain's chart (examples/deploy/helm/kitexsuite-demo) in e2e. It is not in
// go.work: Helm's pinned dependencies (Kubernetes libraries among them)
// would otherwise raise every workspace module's versions.
// scripts/build-helm.sh builds it.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
