// Package e2e holds the tests that need more than one kitexsuite module, or
// real servers the harness starts: tracing and metrics on the same Kitex
// calls, checking the signals agree (metrics exact whatever the sampler
// says, exemplars pointing at the spans tracing produced); and the registry
// adapters against real backends (etcd embedded by package harness), with
// outages, partitions, compaction and rolling restarts under load; and the
// end-to-end scenarios, where the example chain's binaries run as real
// processes against each registry, a real Jaeger and a real Prometheus,
// under load, and each run writes a markdown report (scenarios_test.go);
// and, with build tag kind, the same chain Helm-installed on a real kind
// cluster (scenario_kind_test.go, kind_install_test.go), where a real
// kubelet kills, replaces and restarts its pods (scripts/kind/e2e.sh).
package e2e
