#!/usr/bin/env bash
# Builds the Helm CLI that e2e uses to lint and render the example chain's
# chart (examples/deploy/helm/kitexsuite-demo), once, into a cache outside
# the repository (≈2 min on 2 cores), from tools/helm whose go.sum pins
# every module. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v3.22.0
cache="${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}/bin"
bin="$cache/helm-$version"
if [ ! -x "$bin" ]; then
	mkdir -p "$cache"
	echo "== building helm $version into $bin (once, ~2 min)" >&2
	# The build verifies against tools/helm/go.sum. The -X flags are those
	# of Helm's own release build: its version, and the Kubernetes version
	# of its client-go (1.N for v0.N), which `helm template` reports as
	# .Capabilities.KubeVersion and `helm lint` checks deprecations against.
	(cd tools/helm && export GOWORK=off &&
		k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go) && k8s=${k8s#v0.} && k8s=${k8s%%.*} &&
		go build -trimpath -ldflags "-X helm.sh/helm/v3/internal/version.version=$version \
-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s \
-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s" \
			-o "$bin.tmp" helm.sh/helm/v3/cmd/helm)
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
