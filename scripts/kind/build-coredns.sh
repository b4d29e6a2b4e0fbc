#!/usr/bin/env bash
# CoreDNS v1.14.6, the version kubeadm v1.37.2 deploys, from tools/coredns.
# Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version coredns github.com/coredns/coredns)
dir="$cache/bin/coredns-$v"
go_build_cached coredns "$dir" coredns=github.com/coredns/coredns
echo "$dir"
