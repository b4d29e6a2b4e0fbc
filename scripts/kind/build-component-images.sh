#!/usr/bin/env bash
# The images a kind v1.37.2 node preloads, under the exact names kubeadm and
# kind's containerd config ask for, all built here: kube-apiserver,
# kube-controller-manager, kube-scheduler (FROM scratch, binary in
# /usr/local/bin, PATH set: the static pod manifests run the bare command),
# kube-proxy (a debootstrap minbase with nft, iptables and conntrack, which
# it runs), etcd 3.7.0-0, CoreDNS v1.14.6 and pause 3.10 (containerd's
# sandbox image). Writes one `docker save` archive of all of them and prints
# its path; idempotent, cached.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
k8s=$("$repo/scripts/build-kubernetes.sh")
etcd=$("$repo/scripts/kind/build-etcd.sh")
coredns=$("$repo/scripts/kind/build-coredns.sh")
pause=$("$repo/scripts/kind/build-pause.sh")
kv=v1.37.2
images=(registry.k8s.io/kube-apiserver:$kv registry.k8s.io/kube-controller-manager:$kv
	registry.k8s.io/kube-scheduler:$kv registry.k8s.io/kube-proxy:$kv
	registry.k8s.io/etcd:3.7.0-0 registry.k8s.io/coredns/coredns:v1.14.6 registry.k8s.io/pause:3.10)
key=$(cat "$0" "$repo/scripts/kind/lib.sh" | sha256sum | cut -c1-12)
out="$cache/kind/component-images-$kv-$key.tar"
if [ -f "$out" ]; then echo "$out"; exit 0; fi
work=$(mktemp -d "$cache/kind/images.XXXXXX")
trap 'rm -rf "$work"' EXIT

for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
	mkdir -p "$work/$cmd" && cp "$k8s/$cmd" "$work/$cmd/"
	scratch_image "registry.k8s.io/$cmd:$kv" "$work/$cmd" <<-DF
		COPY $cmd /usr/local/bin/$cmd
		ENV PATH=/usr/local/bin
		USER 0:0
	DF
done
mkdir -p "$work/etcd" && cp "$etcd/etcd" "$work/etcd/"
scratch_image registry.k8s.io/etcd:3.7.0-0 "$work/etcd" <<-DF
	COPY etcd /usr/local/bin/etcd
	ENV PATH=/usr/local/bin
DF
mkdir -p "$work/coredns" && cp "$coredns/coredns" "$work/coredns/"
scratch_image registry.k8s.io/coredns/coredns:v1.14.6 "$work/coredns" <<-DF
	COPY coredns /coredns
	EXPOSE 53 53/udp
	ENTRYPOINT ["/coredns"]
DF
mkdir -p "$work/pause" && cp "$pause/pause" "$work/pause/"
scratch_image registry.k8s.io/pause:3.10 "$work/pause" <<-DF
	COPY pause /pause
	USER 65535:65535
	ENTRYPOINT ["/pause"]
DF

proxy=registry.k8s.io/kube-proxy:$kv
if ! docker image inspect "$proxy" >/dev/null 2>&1; then
	log "image $proxy (debootstrap minbase + nftables iptables conntrack)"
	command -v debootstrap >/dev/null || apt_install debootstrap
	debootstrap --variant=minbase --include=nftables,iptables,conntrack,ipset,kmod \
		bookworm "$work/proxy" "$("$repo/scripts/kind/debian-mirror.sh")" >"$work/proxy.log" 2>&1 ||
		{ tail -20 "$work/proxy.log" >&2; exit 1; }
	rm -rf "$work"/proxy/var/cache/apt/archives/*.deb "$work"/proxy/var/lib/apt/lists/*
	install -m 0755 "$k8s/kube-proxy" "$work/proxy/usr/local/bin/kube-proxy"
	tar -C "$work/proxy" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$proxy" >/dev/null
fi

log "saving ${#images[@]} images into $out"
docker save -o "$out.tmp" "${images[@]}"
mv "$out.tmp" "$out"
echo "$out"
