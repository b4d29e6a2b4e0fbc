#!/usr/bin/env bash
# The registry servers the kind scenarios run inside the cluster besides
# etcd (whose image the node already preloads): kitexsuite.local/consul:<v>,
# FROM scratch with the static Consul agent scripts/build-consul.sh builds
# for the harness. Idempotent; prints the image names.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
consul=$("$repo/scripts/build-consul.sh")
version=$(basename "$consul"); version=${version#consul-}
image="kitexsuite.local/consul:$version"
ctx="$cache/images/consul"
mkdir -p "$ctx"
[ "$ctx/consul" -nt "$consul" ] || cp "$consul" "$ctx/consul"
scratch_image "$image" "$ctx" <<-DF
	COPY consul /consul
	USER 65532:65532
	ENTRYPOINT ["/consul"]
DF
echo "$image"
