#!/usr/bin/env bash
# Prints the Debian mirror apt already uses on this machine (debootstrap
# needs one; the machines reach Debian's packages only through it).
set -euo pipefail
url=$( (grep -hoE '^(URIs:|deb) +(\[[^]]*\] +)?https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true) \
	| grep -oE 'https?://[^ ]+' | grep -v security | head -1)
echo "${url:-http://deb.debian.org/debian}"
