// Package chain is the example system the demo, the example binaries and
// the end-to-end scenarios run: gateway (HTTP) → orders (Kitex Thrift over
// TTHeader) → inventory (Kitex over gRPC), each instrumented with every
// kitexsuite module — tracing and metrics Suites, trace-correlated logs,
// and a registry (etcd, Consul or Kubernetes) to find each other.
//
// A service is started from [Options]: what to listen on, the
// TracerProvider, the Prometheus registry its metrics go to, and the
// registry and resolver. The cmd/ binaries fill Options from a [Config]
// (flags defaulting from KITEXSUITE_*, CONSUL_* and OTEL_* variables) and
// [Run] it; the demo fills them with an embedded etcd and an in-memory
// span recorder. The gateway's GET /readyz is ready only while orders
// resolves; the Helm chart under examples/deploy/helm sets the variables.
package chain
