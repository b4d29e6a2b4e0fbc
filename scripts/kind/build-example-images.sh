#!/usr/bin/env bash
# The three example images (examples/cmd/{gateway,orders,inventory}/
# Dockerfile, FROM scratch): each static binary built from this checkout,
# then its image, tagged kitexsuite.local/<svc>:<TAG> (default: the
# chart's appVersion and the checkout's commit, never latest). Rebuilt
# only when the tag is absent. Prints the three image names.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
version=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' "$repo/examples/deploy/helm/kitexsuite-demo/Chart.yaml")
# The binaries link the whole workspace: the tag names its commit, and a
# hash of the uncommitted changes when there are any.
rev=$(cd "$repo" && git rev-parse --short=10 HEAD)
changes=$(cd "$repo" && git status --porcelain)
[ -z "$changes" ] || rev+="-dirty.$(cd "$repo" && git diff HEAD | sha256sum | cut -c1-8)"
tag="${TAG:-$version-$rev}"
for svc in gateway orders inventory; do
	image="kitexsuite.local/$svc:$tag"
	if ! docker image inspect "$image" >/dev/null 2>&1; then
		ctx="$cache/images/$svc"
		mkdir -p "$ctx"
		log "image $image"
		(cd "$repo/examples" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/$svc" "./cmd/$svc")
		DOCKER_BUILDKIT=0 docker build -q -f "$repo/examples/cmd/$svc/Dockerfile" -t "$image" "$ctx" >/dev/null 2>"$ctx/build.log" ||
			{ cat "$ctx/build.log" >&2; exit 1; }
	fi
	prune_tags "kitexsuite.local/$svc" "$image"
	echo "$image"
done
