#!/usr/bin/env bash
# make e2e-kind: the e2e scenarios against the example chain installed by
# its Helm chart in a kind cluster. Needs a container engine (docker) and
# kind on PATH; this repository's CI has neither and runs the same
# scenarios against the harness's local control plane instead (make test).
#
# Creates the cluster (once; KIND_CLUSTER names it), builds the three
# images from examples/cmd/*/Dockerfile, loads them into the cluster,
# installs the chart with registry type k8s and runs TestKindScenarios
# (e2e/scenario_kind_test.go, build tag kind). The report lands under
# .cache/e2e-kind. KEEP_CLUSTER=1 keeps the cluster afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in docker kind; do
	command -v "$tool" >/dev/null || { echo "e2e-kind: $tool not found on PATH (this target needs a container engine and kind)" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "e2e-kind: docker answers but no engine runs" >&2; exit 2; }
cluster="${KIND_CLUSTER:-kitexsuite-e2e}"
ns="${KITEXSUITE_E2E_NAMESPACE:-kitexsuite}"
tag=e2e
helm="$(scripts/build-helm.sh)"
out="$PWD/.cache/e2e-kind"
mkdir -p "$out"
kubeconfig="$out/kubeconfig"

if ! kind get clusters | grep -qx "$cluster"; then
	kind create cluster --name "$cluster" --wait 180s
fi
[ -n "${KEEP_CLUSTER:-}" ] || trap 'kind delete cluster --name "$cluster"' EXIT
kind get kubeconfig --name "$cluster" > "$kubeconfig"

for svc in gateway orders inventory; do
	docker build -f "examples/cmd/$svc/Dockerfile" -t "kitexsuite.local/$svc:$tag" .
	kind load docker-image --name "$cluster" "kitexsuite.local/$svc:$tag"
done

"$helm" upgrade --install demo examples/deploy/helm/kitexsuite-demo \
	--kubeconfig "$kubeconfig" --namespace "$ns" --create-namespace \
	--set image.registry=kitexsuite.local --set image.tag="$tag" --set image.pullPolicy=Never \
	--set registry.type=k8s --wait --timeout 5m

cd e2e
KUBECONFIG="$kubeconfig" KITEXSUITE_E2E_NAMESPACE="$ns" \
	go test -tags kind -count=1 -v -run '^TestKindScenarios$' -artifacts -outputdir="$out" .
find "$out" -name report.md -exec cat {} \;
