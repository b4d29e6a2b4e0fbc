// Package bench measures what tracing and metrics cost a Kitex RPC.
//
// BenchmarkEcho runs a unary Thrift Echo call over loopback, client and
// server in one process, and reports ns/op, B/op and allocs/op per call,
// all on the same TTHeader transport, for:
//
//   - bare Kitex, and bare Kitex sending the traceparent header the
//     tracing client Suite sends (constant, no tracing): the floor under
//     any tracing over TTHeader;
//   - this repository's tracing suites, with the root span sampled and not
//     sampled, and kitex-contrib/obs-opentelemetry v0.3.0's, sampled;
//   - this repository's metrics suites alone, recording into a Prometheus
//     registry, or into an OpenTelemetry SDK MeterProvider with a
//     ManualReader;
//   - the sampled tracing suites followed by the metrics suites (Prometheus),
//     on both sides: the full stack, exemplars included;
//   - kitex-contrib/monitor-prometheus v0.2.0's tracers alone (HTTP server
//     off) and behind obs-opentelemetry: the stack this one replaces.
//
// Spans go through a batch span processor into an exporter that drops
// them, and nothing scrapes or collects metrics while it runs, so the
// numbers are the instrumentation's cost, not an exporter's. After each
// sampled run the processor is flushed and the benchmark fails unless the
// exporter got every call's client span: nothing was dropped to go faster.
//
// BenchmarkChain runs the call through a two-hop chain (client → front →
// back), bare and traced. BenchmarkSDKFloor puts two sampled SDK spans per
// call, and nothing else, on bare Kitex: the floor under sampled tracing.
//
// BenchmarkScrape measures one scrape, in the Prometheus text format, of a
// server metrics suite's registry holding about 1 000 and about 20 000
// Prometheus time series (50 and 1 000 distinct callers, each recorded
// through a real call from its own Kitex client, outside the timer).
//
// Run them with:
//
//	go test -run '^$' -bench . -benchmem
//
// Plain `go test` checks that every setup really makes its call and is what
// it claims: the trace context reaches the server exactly when it traces,
// spans are exported exactly when it samples, its metrics recorded the call
// on both sides (with the call's trace id as exemplar when traced), and the
// scrape fixture gives every caller its own series.
//
// The module holds only tests. No library module depends on it, so its
// dependencies (obs-opentelemetry and monitor-prometheus among them) never
// reach users.
package bench
