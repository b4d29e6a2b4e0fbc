#!/usr/bin/env bash
# Builds Jaeger v2 (an all-in-one, in-memory trace backend with a query
# API) for the e2e harness, once, into a cache outside the repository
# (≈4 min on 2 cores), from tools/jaeger whose go.sum pins every module.
# Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.76.0
cache="${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}/bin"
bin="$cache/jaeger-$version"
if [ ! -x "$bin" ]; then
	mkdir -p "$cache"
	echo "== building jaeger $version into $bin (once, ~4 min)" >&2
	# The build verifies against tools/jaeger/go.sum; dozens of Jaeger's
	# dependencies are missing from the checksum database, which is why
	# go.sum (resolved once with GOSUMDB=off) is committed.
	(cd tools/jaeger && GOWORK=off GOSUMDB=off \
		go build -trimpath -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
