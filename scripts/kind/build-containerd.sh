#!/usr/bin/env bash
# containerd v2.3.4 (containerd, ctr with cgo as its own build does; the
# shim static and without gRPC) and the CNI plugins v1.9.1 the node's static
# network uses, from tools/containerd. Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version containerd github.com/containerd/containerd/v2)
c=$(mod_version containerd github.com/containernetworking/plugins)
dir="$cache/bin/containerd-$v-cni-$c"
ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$v"
CGO=1 TAGS="no_btrfs no_devmapper no_zfs urfave_cli_no_docs" LDFLAGS="$ld" go_build_cached containerd "$dir" \
	containerd=github.com/containerd/containerd/v2/cmd/containerd ctr=github.com/containerd/containerd/v2/cmd/ctr
TAGS=no_grpc LDFLAGS="$ld" go_build_cached containerd "$dir" \
	containerd-shim-runc-v2=github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
p=github.com/containernetworking/plugins/plugins
go_build_cached containerd "$dir/cni" host-local=$p/ipam/host-local loopback=$p/main/loopback \
	ptp=$p/main/ptp portmap=$p/meta/portmap
echo "$dir"
