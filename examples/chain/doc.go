// Package chain is the example system the demo, the example binaries and
// the end-to-end scenarios run: gateway (HTTP) → orders (Kitex Thrift over
// TTHeader) → inventory (Kitex over gRPC), each instrumented with every
// kitexsuite module — tracing and metrics Suites, trace-correlated logs,
// and a registry (etcd, Consul or Kubernetes) to find each other.
//
// A service is started from [Options]: what to listen on, the
// TracerProvider, the Prometheus registry its metrics go to, and the
// registry and resolver. The cmd/ binaries fill Options from flags and
// OTEL_* variables ([FromEnv]); the demo fills them with an embedded etcd
// and an in-memory span recorder.
package chain
