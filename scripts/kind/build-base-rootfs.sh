#!/usr/bin/env bash
# The kind node's base root filesystem, kind v0.33.0's images/base/Dockerfile
# replayed without a registry: Debian bookworm by debootstrap (systemd 252;
# 256+ stalls on these VMs' cgroup v1), kind's own files copied from the
# kind module as its COPY lines do, the same units enabled and masked, and
# the runtime built here (containerd, runc, crictl, CNI plugins). Two
# changes for these VMs: containerd's restrict_oom_score_adj (no
# CAP_SYS_RESOURCE, scripts/kind/probe.sh) and scripts/kind/node-entrypoint
# in front of kind's entrypoint. Idempotent, cached (a tarball); prints its path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
containerd=$("$repo/scripts/kind/build-containerd.sh")
runc=$("$repo/scripts/kind/build-runc.sh")
crictl=$("$repo/scripts/kind/build-crictl.sh")
kindsrc=$(cd "$repo/tools/kind" && GOWORK=off go mod download -json sigs.k8s.io/kind | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
# The tarball's name changes with everything that goes into it.
key=$(cat "$0" "$repo/scripts/kind/node-entrypoint" | sha256sum | cut -c1-12)
out="$cache/kind/base-rootfs-bookworm-$(basename "$containerd")-$(basename "$runc")-$key.tar"
if [ -f "$out" ]; then echo "$out"; exit 0; fi

work="$cache/kind/base-rootfs.work"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
command -v debootstrap >/dev/null || apt_install debootstrap
log "debootstrap bookworm (minbase + kind's packages) into $root"
debootstrap --variant=minbase \
	--include=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps \
	bookworm "$root" "$("$repo/scripts/kind/debian-mirror.sh")" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

log "kind's base files and units"
f="$kindsrc/images/base/files"
install -m 0755 "$f"/usr/local/bin/* "$root/usr/local/bin/"
mkdir -p "$root/kind/bin" "$root/LICENSES" "$root/etc/containerd" "$root/etc/systemd/system/kubelet.service.d"
install -m 0644 "$f"/kind/README.txt "$root/kind/"
install -m 0755 "$f"/kind/bin/* "$root/kind/bin/"
install -m 0644 "$f"/LICENSES/* "$root/LICENSES/"
install -m 0644 "$f"/etc/crictl.yaml "$root/etc/"
install -m 0644 "$f"/etc/containerd/* "$root/etc/containerd/"
install -m 0644 "$f"/etc/default/* "$root/etc/default/"
install -m 0644 "$f"/etc/sysctl.d/* "$root/etc/sysctl.d/"
find "$f/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$root/etc/systemd/system/" \;
install -m 0644 "$f"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"
chmod 755 "$root/kind" "$root/kind/bin"
find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* "$root"/etc/systemd/system/*.wants/* \
	"$root"/lib/systemd/system/local-fs.target.wants/* "$root"/lib/systemd/system/sockets.target.wants/*udev* \
	"$root"/lib/systemd/system/sockets.target.wants/*initctl* "$root"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> "$root/etc/systemd/journald.conf"
ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
systemctl --root="$root" enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
systemctl --root="$root" mask systemd-binfmt.service >/dev/null 2>&1
mkdir -p "$root/etc/kubernetes/manifests"

log "runtime: containerd, runc, crictl, CNI plugins"
install -m 0755 "$containerd"/containerd "$containerd"/ctr "$containerd"/containerd-shim-runc-v2 "$root/usr/local/bin/"
install -m 0755 "$runc/runc" "$root/usr/local/sbin/runc"
install -m 0755 "$crictl/crictl" "$root/usr/local/bin/"
mkdir -p "$root/opt/cni/bin"
install -m 0755 "$containerd"/cni/* "$root/opt/cni/bin/"
chroot "$root" /usr/local/bin/ctr oci spec \
	| chroot "$root" jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
	| chroot "$root" jq 'del(.process.rlimits)' > "$root/etc/containerd/cri-base.json"
# No CAP_SYS_RESOURCE here: containerd may not lower a container's
# oom_score_adj below its own (scripts/kind/probe.sh).
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$root/etc/containerd/config.toml"
grep -q 'restrict_oom_score_adj = true' "$root/etc/containerd/config.toml"
install -m 0755 "$repo/scripts/kind/node-entrypoint" "$root/usr/local/bin/kitexsuite-entrypoint"

log "packing $out"
mkdir -p "$(dirname "$out")"
tar -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
