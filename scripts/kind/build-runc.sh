#!/usr/bin/env bash
# runc v1.4.3 with seccomp (cgo, Debian's libseccomp-dev), from tools/runc.
# Idempotent, cached; prints the dir.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
v=$(mod_version runc github.com/opencontainers/runc)
dir="$cache/bin/runc-$v"
if [ ! -x "$dir/runc" ] && ! pkg-config --exists libseccomp 2>/dev/null; then
	apt_install libseccomp-dev pkg-config # runc's seccomp support
fi
CGO=1 TAGS=seccomp LDFLAGS="-s -w -X main.version=${v#v}" go_build_cached runc "$dir" runc=github.com/opencontainers/runc
echo "$dir"
