#!/usr/bin/env bash
# Builds the Consul agent the e2e harness runs (and the kind scenarios run
# in their cluster, from an image FROM scratch: so static, CGO_ENABLED=0, as
# HashiCorp's own release builds are), once, into a cache outside the
# repository (≈4 min on 2 cores), from tools/consul whose go.sum pins every
# module. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.22.0
cache="${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}/bin"
bin="$cache/consul-$version"
if [ ! -x "$bin" ]; then
	mkdir -p "$cache"
	echo "== building consul $version into $bin (once, ~4 min)" >&2
	# The build verifies against tools/consul/go.sum; these modules are
	# missing from the checksum database, which is why go.sum is committed.
	(cd tools/consul && CGO_ENABLED=0 GOWORK=off GONOSUMDB=github.com/hashicorp/consul \
		go build -trimpath -o "$bin.tmp" github.com/hashicorp/consul)
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
