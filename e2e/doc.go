// Package e2e holds the tests that need more than one kitexsuite module, or
// real servers the harness starts: tracing and metrics on the same Kitex
// calls, checking the signals agree (metrics exact whatever the sampler
// says, exemplars pointing at the spans tracing produced); and the registry
// adapters against real backends (etcd embedded by package harness), with
// outages, partitions, compaction and rolling restarts under load.
package e2e
