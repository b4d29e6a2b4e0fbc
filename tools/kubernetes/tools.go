//go:build tools

// Package tools pins Kubernetes v1.37.2: the control plane the e2e harness
// runs (kube-apiserver, kube-controller-manager) and the rest of what a
// kind node image holds (kube-scheduler, kube-proxy, kubelet, kubeadm,
// kubectl). It is not in go.work: Kubernetes' pinned dependencies would
// otherwise raise every workspace module's versions.
// scripts/build-kubernetes.sh builds it.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
