#!/usr/bin/env bash
# The kind v0.33.0 CLI, from tools/kind. Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version kind sigs.k8s.io/kind)
dir="$cache/bin/kind-$v"
go_build_cached kind "$dir" kind=sigs.k8s.io/kind
echo "$dir"
