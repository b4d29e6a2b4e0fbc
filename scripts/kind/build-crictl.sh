#!/usr/bin/env bash
# crictl from cri-tools v1.37.0, from tools/cri-tools. Idempotent, cached;
# prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version cri-tools sigs.k8s.io/cri-tools)
dir="$cache/bin/crictl-$v"
LDFLAGS="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$v" go_build_cached cri-tools "$dir" crictl=sigs.k8s.io/cri-tools/cmd/crictl
echo "$dir"
