// Package metrics records RPC metrics for Kitex clients and servers, as
// Prometheus collectors, as OpenTelemetry instruments, or both, with the
// same semantics, read from the shared RPC model (package rpcmodel) that
// tracing and logging use too.
//
//	reg := prometheus.NewRegistry()
//	svr := echoservice.NewServer(handler, server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg))))
//	http.Handle("/metrics", metrics.Handler(reg))
//
// # What is recorded
//
// For every call (one per stream for streaming methods), whatever a trace
// sampler decided, including calls Kitex rejects before the handler runs
// (ACL, limits, timeouts, unknown methods; except on TTHeader streaming,
// where Kitex refuses a stream to an unknown method before any tracer
// runs):
//
//	Prometheus                                 OpenTelemetry
//	kitex_{side}_call_duration_seconds         rpc.{side}.call.duration (s)
//	kitex_{side}_calls_total                   (the duration histogram's count)
//	kitex_{side}_calls_in_flight               kitex.rpc.{side}.active_calls
//	kitex_{side}_request_size_bytes      (opt) rpc.{side}.request.size (By)
//	kitex_{side}_response_size_bytes     (opt) rpc.{side}.response.size (By)
//	kitex_{side}_stream_messages_total         kitex.rpc.{side}.stream.messages
//	kitex_client_retry_attempts_total          kitex.rpc.client.retry_attempts
//
// where {side} is server or client. Prometheus labels are rpc_system,
// method (fully-qualified, or _OTHER), caller (server) or callee (client),
// outcome (success, biz_error, failure) and error_type (the bounded set of
// rpcmodel.ClassifyError, empty on success); OTel attributes are
// rpc.system.name, rpc.method, error.type, kitex.outcome and
// kitex.peer.service.
//
// # Cardinality
//
// Methods are reported by name only when the service defines them; anything
// else is _OTHER (and a process names at most rpcmodel.MaxKnownMethods).
// Caller and callee names come from the wire, so they pass a guard: an
// allow-list (WithPeerAllowList) or, by default, the first 100 distinct
// names, then _OTHER (WithPeerLimit). WithFilter skips calls such as health
// checks (their durations, counts and in-flight; stream message counters
// are not filtered). WithServiceInfo pre-creates zero-valued Prometheus
// series for every method (under rpc_system "kitex"), so rate() works from
// the first scrape; OTel instruments report a series once it has a point.
//
// # Exemplars
//
// When the call has a sampled span (from the tracing Suite or any OTel
// instrumentation), the duration observation carries its trace_id and
// span_id as a Prometheus exemplar (exposed in the OpenMetrics format, which
// Handler negotiates), at most once per series per second
// (WithExemplarInterval): Prometheus keeps only the newest exemplar per
// bucket, and each costs allocations on the call's path. The OTel Record
// gets the span context, so the SDK's exemplar filter and reservoir decide.
//
// # Registration
//
// Nothing is registered globally. Collectors go to the Registerer given with
// WithRegisterer; several Suites sharing one registry share one set of
// collectors (an AlreadyRegisteredError means: reuse the existing one). The
// OTel backend uses the MeterProvider given with WithMeterProvider. A Suite
// given neither records to the global MeterProvider as it is when the Suite
// is built. A registration that fails for another reason is logged once
// through klog and reported by Err; the Suite keeps serving.
//
// # Stats level
//
// The Suites set Kitex's stats level to Base (call start and finish), where
// Kitex would otherwise record detailed events for any tracer. A tracing
// Suite with WithDetailedEvents raises it again for each call, whatever the
// order of the Suites. With a WithStatsLevel(stats.LevelDisabled) given
// after the Suites, Kitex records no times and every duration is 0.
//
// The server Suite also installs a Kitex inbound handler that grows each
// request goroutine's stack to 8 KiB before Kitex decodes the request, in
// one cheap copy: recording at Finish, thirty frames down, used to push a
// fresh goroutine's 4 KiB stack past its end and copy it whole, which cost
// more than the recording itself.
//
// # Migration
//
// WithMonitorPrometheusCompat also emits the series of kitex-contrib
// monitor-prometheus v0.2.0 (kitex_{side}_throughput,
// kitex_{side}_latency_us with caller, callee, method, status and retry
// labels), and OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old or rpc/dup also emits
// obs-opentelemetry's rpc.{side}.duration (milliseconds).
package metrics
