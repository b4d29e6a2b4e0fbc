#!/usr/bin/env bash
# The kind scenarios (make test runs this; so does make e2e-kind): the
# example chain Helm-installed on a kind v0.33.0 cluster whose node image,
# component images and example images are all built here
# (scripts/kind/build-*.sh, cached), then TestKindScenarios
# (e2e/scenario_kind_test.go, build tag kind). Where no container engine
# answers it says so loudly and exits 0: nothing else in make test needs one.
# The cluster is deleted at the end, whatever happened (KEEP_CLUSTER=1 keeps it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
	cat >&2 <<-MSG
	################################################################
	## SKIPPED: the kind scenarios. No container engine answers
	## (docker info fails), so no kind cluster can run here.
	################################################################
	MSG
	exit 0
fi
cluster="${KIND_CLUSTER:-kitexsuite-e2e}"
out="${E2E_OUT:-$repo/.cache/e2e}/kind"
mkdir -p "$out"
kubeconfig="$out/kubeconfig"
helm="$("$repo/scripts/build-helm.sh")"
images=$("$repo/scripts/kind/build-example-images.sh")
tag=$(echo "$images" | head -1 | sed 's/.*://')
images+=" $("$repo/scripts/kind/build-backend-images.sh")"

start=$(date +%s)
log "kind cluster $cluster"
if [ -z "${KEEP_CLUSTER:-}" ]; then
	trap '"$repo/scripts/kind/cluster.sh" delete "$cluster" >/dev/null 2>&1 || true' EXIT
fi
"$repo/scripts/kind/cluster.sh" create "$cluster" "$kubeconfig"
log "cluster ready after $(( $(date +%s) - start )) s; loading the example and registry images"
# shellcheck disable=SC2086
"$repo/scripts/kind/cluster.sh" load "$cluster" $images >/dev/null

cd "$repo/e2e"
rc=0
# The test installs, per registry, the registry's servers and the chart
# (with $helm), and runs Jaeger (OTLP on this host's address on the
# cluster's network) and Prometheus beside the cluster.
KUBECONFIG="$kubeconfig" KITEXSUITE_KIND_NODE="$cluster-control-plane" KITEXSUITE_HELM="$helm" \
	KITEXSUITE_KIND_IMAGE_TAG="$tag" KITEXSUITE_KIND_HOST_IP="$("$repo/scripts/kind/cluster.sh" host-ip)" \
	go test -tags kind -count=1 -timeout 20m -run '^TestKindScenarios$' -artifacts -outputdir="$out" . || rc=$?
find "$out" -name report.md -exec sh -c 'echo; echo "== $1"; cat "$1"' _ {} \;
log "kind scenarios: $(( $(date +%s) - start )) s from cluster creation, rc=$rc"
exit $rc
