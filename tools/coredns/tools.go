//go:build tools

// Package tools pins CoreDNS v1.14.6, the version kubeadm v1.37.2 deploys,
// for the kind node image. Not in go.work. scripts/kind/build-coredns.sh
// builds it.
package tools

import _ "github.com/coredns/coredns"
