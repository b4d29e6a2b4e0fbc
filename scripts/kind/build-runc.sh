#!/usr/bin/env bash
# runc v1.4.3 with seccomp (cgo, Debian's libseccomp-dev), from tools/runc.
# Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version runc github.com/opencontainers/runc)
dir="$cache/bin/runc-$v"
if [ ! -x "$dir/runc" ] && ! pkg-config --exists libseccomp 2>/dev/null; then
	log "installing libseccomp-dev pkg-config (Debian) for runc's seccomp support"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev pkg-config >/dev/null
fi
CGO=1 TAGS=seccomp LDFLAGS="-s -w -X main.version=${v#v}" go_build_cached runc "$dir" runc=github.com/opencontainers/runc
echo "$dir"
