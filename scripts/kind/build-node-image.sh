#!/usr/bin/env bash
# The kind node image kindest/node:v1.37.2-kitexsuite.<key>, assembled as
# `kind build node-image` would (it cannot run here: every build type but
# `file` downloads, and `file` still fetches images it does not find): the
# base rootfs (build-base-rootfs.sh) + kubeadm, kubelet, kubectl in
# /usr/bin, /kind/version, a static CNI network in place of kindnetd (its
# module is not served), and the component images imported into the
# node's containerd store, pinned and not unpacked, exactly as kind's own
# importer does (here with a containerd run on the host against the
# rootfs's /var/lib/containerd). Idempotent: prints the image name, building
# it only when absent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
base=$("$repo/scripts/kind/build-base-rootfs.sh")
k8s=$("$repo/scripts/build-kubernetes.sh")
images=$("$repo/scripts/kind/build-component-images.sh")
containerd=$("$repo/scripts/kind/build-containerd.sh")
# The pod network every node's conflist serves; scripts/kind/cluster.yaml
# gives kind the same podSubnet (a single node gets its first /24).
pod_cidr=198.19.0.0/24
key=$( (cat "$0"; basename "$base"; basename "$images"; echo "$pod_cidr") | sha256sum | cut -c1-10)
image="kindest/node:v1.37.2-kitexsuite.$key"
if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi

work=$(mktemp -d "$cache/kind/node.XXXXXX")
cpid=""
cleanup() { [ -z "$cpid" ] || kill "$cpid" 2>/dev/null || true; [ -z "$cpid" ] || wait "$cpid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
root="$work/rootfs"
mkdir -p "$root"
log "node image $image from $(basename "$base")"
tar -C "$root" -xf "$base"
install -m 0755 "$k8s/kubeadm" "$k8s/kubelet" "$k8s/kubectl" "$root/usr/bin/"
echo v1.37.2 > "$root/kind/version"
mkdir -p "$root/etc/cni/net.d"
cat > "$root/etc/cni/net.d/10-kitexsuite.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "kitexsuite",
  "plugins": [
    {"type": "ptp", "ipMasq": true, "mtu": 1400,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI

log "importing the component images into the node's containerd store"
mkdir -p "$work/run"
printf 'version = 3\nroot = "%s"\nstate = "%s"\n[grpc]\n  address = "%s"\n' \
	"$root/var/lib/containerd" "$work/run/state" "$work/run/containerd.sock" > "$work/containerd.toml"
printf 'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.podsandbox.controller.v1.podsandbox"]\n' >> "$work/containerd.toml"
"$containerd/containerd" --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
cpid=$!
ctr=("$containerd/ctr" --address "$work/run/containerd.sock" --namespace k8s.io)
for _ in $(seq 100); do "${ctr[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${ctr[@]}" images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests "$images" >/dev/null
"${ctr[@]}" images list -q | grep -v '^sha256:' | sort | sed 's/^/   /' >&2
kill "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""

log "docker import"
tar -C "$root" -c . | docker import \
	-c 'ENV container=docker' \
	-c 'ENTRYPOINT ["/usr/local/bin/kitexsuite-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' \
	- "$image.tmp" >/dev/null
# docker import takes no STOPSIGNAL: one classic-builder step adds it.
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$image.tmp" > "$work/Dockerfile"
mkdir -p "$work/context"
DOCKER_BUILDKIT=0 docker build -q -t "$image" -f "$work/Dockerfile" "$work/context" >/dev/null 2>"$work/build.log" ||
	{ cat "$work/build.log" >&2; exit 1; }
docker rmi "$image.tmp" >/dev/null
prune_tags kindest/node "$image" "v1.37.2-kitexsuite.*"
echo "$image"
