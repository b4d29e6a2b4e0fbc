// Package bench measures what tracing costs a Kitex RPC.
//
// Its benchmarks run a unary Thrift Echo call over loopback, client and
// server in one process, and report ns/op, B/op and allocs/op per call for
// bare Kitex, for this repository's tracing suites (with the root span
// sampled and not sampled) and for kitex-contrib/obs-opentelemetry, all on
// the same TTHeader transport and the same OpenTelemetry SDK setup. Spans go
// through a batch span processor into an exporter that drops them, so the
// numbers are the instrumentation's cost, not an exporter's.
//
// Run them with:
//
//	go test -run '^$' -bench . -benchmem
//
// Plain `go test` checks that every setup really makes its call and, for
// the sampled ones, really exports spans.
//
// The module holds only tests. No library module depends on it, so its
// dependencies (obs-opentelemetry among them) never reach users.
package bench
