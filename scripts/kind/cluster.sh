#!/usr/bin/env bash
# cluster.sh create NAME KUBECONFIG | delete NAME: a kind v0.33.0 cluster on
# the node image built here, through the docker shim (scripts/kind/docker,
# see scripts/kind/probe.sh for why) on a docker network of its own in
# 198.18.128.0/24. `create` pulls nothing: the node image exists locally
# and every image its pods run is preloaded in it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
network=kitexsuite-kind
kind_bin() {
	local kind
	kind="$("$repo/scripts/kind/build-kind.sh")/kind"
	# The node's root is fuse-overlayfs (Docker's storage driver here), so
	# kind's entrypoint would pick containerd's fuse-overlayfs snapshotter,
	# which the node does not have (nor need: /var, where containerd keeps
	# its snapshots, is a volume on the host's ext4, where overlayfs mounts;
	# scripts/kind/probe.sh checks it).
	PATH="$repo/scripts/kind:$PATH" KIND_EXPERIMENTAL_DOCKER_NETWORK=$network \
		KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER=overlayfs "$kind" "$@"
}
case "${1:-}" in
create)
	name=$2 kubeconfig=$3
	image=$("$repo/scripts/kind/build-node-image.sh")
	docker network inspect "$network" >/dev/null 2>&1 ||
		docker network create -d bridge --subnet 198.18.128.0/24 --gateway 198.18.128.1 \
			-o com.docker.network.driver.mtu=1400 "$network" >/dev/null
	# kubelet needs more inotify instances than these VMs' default 128.
	[ "$(sysctl -n fs.inotify.max_user_instances)" -ge 512 ] || sysctl -qw fs.inotify.max_user_instances=512
	kind_bin delete cluster --name "$name" >/dev/null 2>&1 || true
	kind_bin create cluster --name "$name" --image "$image" --config "$repo/scripts/kind/cluster.yaml" \
		--kubeconfig "$kubeconfig" --wait 4m ${KIND_CREATE_FLAGS:-}
	;;
delete)
	kind_bin delete cluster --name "$2"
	;;
host-ip)
	# This host's address on the cluster's docker network (pods reach the
	# harness's Jaeger there).
	docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$network"
	;;
load)
	# load NAME IMAGE...: docker images into every node's containerd.
	name=$2; shift 2
	kind_bin load docker-image --name "$name" "$@"
	;;
*)
	echo "usage: $0 create NAME KUBECONFIG | delete NAME | load NAME IMAGE... | host-ip" >&2; exit 2;;
esac
