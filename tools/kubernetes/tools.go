//go:build tools

// Package tools pins the Kubernetes control plane the e2e harness runs
// (kube-apiserver, kube-controller-manager). It is not in go.work:
// Kubernetes' pinned dependencies would otherwise raise every workspace
// module's versions. scripts/build-kubernetes.sh builds it.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
