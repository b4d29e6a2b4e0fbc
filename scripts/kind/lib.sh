# Sourced by the scripts in scripts/kind: where the cache is, and one way to
# build a tools module's programs into it once.
# shellcheck shell=bash
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}"

log() { echo "== $*" >&2; }

# go_build_cached MODULE DIR NAME=PACKAGE... builds each PACKAGE of
# tools/MODULE (GOWORK=off, verified against its committed go.sum) into
# DIR/NAME unless DIR/NAME exists already. CGO_ENABLED, GOFLAGS-style
# -tags and -ldflags come from the environment: CGO (default 0), TAGS, LDFLAGS.
go_build_cached() {
	local module=$1 dir=$2 spec name pkg
	shift 2
	mkdir -p "$dir"
	for spec in "$@"; do
		name=${spec%%=*} pkg=${spec#*=}
		[ -x "$dir/$name" ] && continue
		log "building $name ($pkg) into $dir"
		(cd "$repo/tools/$module" && CGO_ENABLED="${CGO:-0}" GOWORK=off \
			go build -trimpath -tags "${TAGS:-}" -ldflags "${LDFLAGS:--s -w}" -o "$dir/$name.tmp" "$pkg")
		mv "$dir/$name.tmp" "$dir/$name"
	done
}

# mod_version MODULE PATH: the version tools/MODULE/go.mod pins for PATH.
mod_version() {
	(cd "$repo/tools/$1" && GOWORK=off go list -m -f '{{.Version}}' "$2")
}

# scratch_image TAG DIR: a FROM-scratch image TAG built from the files in
# DIR and the Dockerfile lines on stdin after the FROM (the classic builder:
# FROM scratch pulls nothing). Skipped when TAG exists.
scratch_image() {
	local tag=$1 dir=$2
	if docker image inspect "$tag" >/dev/null 2>&1; then cat >/dev/null; return 0; fi
	{ echo "FROM scratch"; cat; } > "$dir/Dockerfile"
	log "image $tag"
	DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null 2>"$dir/build.log" || { cat "$dir/build.log" >&2; return 1; }
}

# apt_install PACKAGE...: Debian packages, refreshing the package lists
# first if they are too old to find them (a fresh machine).
apt_install() {
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing Debian packages: $*"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 || {
		$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
	}
}

# prune_tags REPOSITORY KEEP [TAG_GLOB]: removes every tag of REPOSITORY
# matching TAG_GLOB (default: all) but KEEP; a new tag per commit or per
# input hash would otherwise pile up images in the engine.
prune_tags() {
	local ref
	docker images --format '{{.Repository}}:{{.Tag}}' "$1" | while read -r ref; do
		# shellcheck disable=SC2053
		[ "$ref" = "$2" ] || [[ "${ref##*:}" != ${3:-*} ]] || docker rmi "$ref" >/dev/null 2>&1 || true
	done
}
