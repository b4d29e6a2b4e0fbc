#!/usr/bin/env bash
# Can this host run kind's nodes? Answers the questions KIND-OFFLINE.md left
# open, on the machine at hand, in about a minute (the first time: a
# debootstrap of a small bookworm rootfs, cached):
#   1. does `docker run` with kind's own node flags (--privileged ...) start?
#   2. with kind's flags translated by scripts/kind/docker (all capabilities
#      the host has, the same unconfined profiles, every device), does
#      systemd as PID 1 reach running/degraded?
#   3. inside: cgroup version and driver, the capability bounding set,
#      lowering oom_score_adj, writable cgroups, a nested overlay mount on
#      the /var volume, the iptables backend (host and node).
# Prints one line per fact and exits 0; it decides nothing by itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
cache="$cache/kind"
rootfs="$cache/probe-rootfs"
image=kitexsuite.local/kind-probe:bookworm
name=kitexsuite-kind-probe
mkdir -p "$cache"
command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "probe: no container engine answers"; exit 0; }
if ! docker image inspect "$image" >/dev/null 2>&1; then
	if [ ! -x "$rootfs/sbin/init" ]; then
		command -v debootstrap >/dev/null || apt_install debootstrap
		rm -rf "$rootfs.tmp"
		debootstrap --variant=minbase --include=systemd,iproute2,util-linux,mount,iptables,nftables,procps \
			bookworm "$rootfs.tmp" "$("$here/debian-mirror.sh")" >"$cache/probe-debootstrap.log" 2>&1
		ln -sf /lib/systemd/systemd "$rootfs.tmp/sbin/init"
		mv "$rootfs.tmp" "$rootfs"
	fi
	tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
fi
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

echo "host: docker $(docker version -f '{{.Server.Version}}'), cgroup v$(docker info -f '{{.CgroupVersion}}') driver $(docker info -f '{{.CgroupDriver}}'), storage $(docker info -f '{{.Driver}}'), iptables $(iptables --version 2>/dev/null | sed 's/.*(\(.*\))/\1/')"
echo "host: CapBnd $(awk '/CapBnd/{print $2}' /proc/self/status)$(grep -q 'cap_sys_resource' <(capsh --decode="$(awk '/CapBnd/{print $2}' /proc/self/status)" 2>/dev/null) || echo ' (no CAP_SYS_RESOURCE)')"

# kind's flags, verbatim (pkg/cluster/internal/providers/docker/provision.go).
kindflags=(--privileged --security-opt seccomp=unconfined --security-opt apparmor=unconfined
	--tmpfs /tmp --tmpfs /run --volume /var --volume /lib/modules:/lib/modules:ro
	--cgroupns=private --init=false -e container=docker --stop-signal SIGRTMIN+3)
if out=$(docker run -d --name "$name" "${kindflags[@]}" "$image" /sbin/init 2>&1); then
	echo "kind flags: container starts"
else
	echo "kind flags: docker run fails: $(echo "$out" | grep -o 'unable to apply caps[^"]*' | head -1)"
fi
cleanup

# The same, through the shim kind is run with here.
args=$("$here/docker" --print-run-args "${kindflags[@]}")
eval "set -- $args"
docker run -d --name "$name" "$@" -v "$here/node-entrypoint:/kitexsuite-entrypoint:ro" \
	--entrypoint /kitexsuite-entrypoint "$image" /sbin/init >/dev/null
state=unknown
for _ in $(seq 60); do
	state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
	case "$state" in running|degraded) break;; esac
	sleep 0.5
done
echo "shim flags: systemd is $state"
docker exec "$name" bash -c '
	echo "node: CapBnd $(awk "/CapBnd/{print \$2}" /proc/self/status)"
	if echo -999 > /proc/self/oom_score_adj 2>/dev/null; then echo "node: lowering oom_score_adj works"; else echo "node: lowering oom_score_adj fails (EACCES): containerd needs restrict_oom_score_adj"; fi
	if mkdir /sys/fs/cgroup/memory/kitexsuite-probe 2>/dev/null; then rmdir /sys/fs/cgroup/memory/kitexsuite-probe; echo "node: cgroup v1 hierarchies writable"; else echo "node: cgroup hierarchies read-only"; fi
	mkdir -p /var/p/l /var/p/u /var/p/w /var/p/m
	if mount -t overlay overlay -o lowerdir=/var/p/l,upperdir=/var/p/u,workdir=/var/p/w /var/p/m 2>/dev/null; then umount /var/p/m; echo "node: overlay mount on the /var volume works ($(stat -f -c %T /var))"; else echo "node: overlay on /var fails"; fi
	echo "node: iptables $(iptables --version | sed "s/.*(\(.*\))/\1/")"'
