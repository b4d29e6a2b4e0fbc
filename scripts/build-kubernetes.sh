#!/usr/bin/env bash
# Builds Kubernetes v1.37.2 once, into a cache outside the repository, from
# tools/kubernetes whose go.sum pins every module: kube-apiserver and
# kube-controller-manager (the e2e harness's control plane) and
# kube-scheduler, kube-proxy, kubelet, kubeadm and kubectl (the kind node
# image). One `go build` for all seven shares every package they have in
# common (≈12 min cold on 2 cores; the first two alone were ≈7). Static
# (CGO_ENABLED=0): the component images are FROM scratch. Prints the
# directory holding the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.37.2
dir="${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}/bin/kubernetes-$version"
cmds=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)
missing=()
for cmd in "${cmds[@]}"; do [ -x "$dir/$cmd" ] || missing+=("k8s.io/kubernetes/cmd/$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== building ${missing[*]##*/} $version into $dir (once, several minutes)" >&2
	mkdir -p "$dir.tmp"
	# Stamp the version as Kubernetes' own build does, for both version
	# packages: the API server reports it (Helm checks kubeVersion against
	# it) and kubeadm derives its version-skew checks from both.
	ld="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
		ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-11-12T00:00:00Z"
	done
	(cd tools/kubernetes && CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags "$ld" -o "$dir.tmp/" "${missing[@]}")
	mkdir -p "$dir"
	mv "$dir.tmp"/* "$dir/" && rmdir "$dir.tmp"
fi
echo "$dir"
