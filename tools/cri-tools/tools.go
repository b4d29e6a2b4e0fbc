//go:build tools

// Package tools pins crictl (cri-tools v1.37.0) for the kind node image.
// Its own module: with containerd v2 in one module their cri-api versions
// clash. Not in go.work. scripts/kind/build-crictl.sh builds it.
package tools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
