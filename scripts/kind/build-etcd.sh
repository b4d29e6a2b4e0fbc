#!/usr/bin/env bash
# etcd v3.7.0, the version kubeadm v1.37.2 runs (registry.k8s.io/etcd:3.7.0-0),
# from tools/etcd. Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version etcd go.etcd.io/etcd/server/v3)
dir="$cache/bin/etcd-$v"
go_build_cached etcd "$dir" etcd=github.com/kitexsuite/suite/tools/etcd
echo "$dir"
