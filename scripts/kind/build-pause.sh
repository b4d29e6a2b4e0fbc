#!/usr/bin/env bash
# The pause container's binary, from build/pause/linux/pause.c of the
# k8s.io/kubernetes module tools/kubernetes pins, compiled static as
# Kubernetes' own image build does. kind's containerd uses pause:3.10 as its
# sandbox image. Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
version=3.10
dir="$cache/bin/pause-$version"
if [ ! -x "$dir/pause" ]; then
	src=$(cd "$repo/tools/kubernetes" && GOWORK=off go mod download -json k8s.io/kubernetes | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
	log "compiling pause $version into $dir"
	mkdir -p "$dir"
	gcc -Os -Wall -Werror -static -DVERSION="v$version-kitexsuite" -o "$dir/pause.tmp" "$src/build/pause/linux/pause.c"
	strip "$dir/pause.tmp"
	mv "$dir/pause.tmp" "$dir/pause"
fi
echo "$dir"
