#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager v1.37.2, which the e2e
# harness runs as a real control plane, once, into a cache outside the
# repository (≈7 min on 2 cores), from tools/kubernetes whose go.sum pins
# every module. Prints the directory holding both binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.37.2
dir="${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}/bin/kubernetes-$version"
mkdir -p "$dir"
for cmd in kube-apiserver kube-controller-manager; do
	if [ ! -x "$dir/$cmd" ]; then
		echo "== building $cmd $version into $dir (once, a few minutes)" >&2
		# Stamp the version as Kubernetes' own build does, so the API server
		# reports v1.37.2 (clients such as Helm check kubeVersion against it).
		(cd tools/kubernetes && GOWORK=off go build -trimpath \
			-ldflags "-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean" \
			-o "$dir/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
		mv "$dir/$cmd.tmp" "$dir/$cmd"
	fi
done
echo "$dir"
