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
//	kitex_{side}_request_size_bytes      (opt) kitex.rpc.{side}.request.size (By)
//	kitex_{side}_response_size_bytes     (opt) kitex.rpc.{side}.response.size (By)
//	kitex_{side}_stream_messages_total         kitex.rpc.{side}.stream.messages
//	kitex_client_retry_attempts_total          kitex.rpc.client.retry_attempts
//
// where {side} is server or client. Prometheus labels are rpc_system,
// method (fully-qualified, or _OTHER), caller (server) or callee (client),
// outcome (success, biz_error, failure), error_type (the bounded set of
// rpcmodel.ClassifyError, empty on success) and status_code (the span's
// rpc.response.status_code: OK, the gRPC status code name, the business
// status code, bounded by WithBizStatusCodeLimit).
//
// The OTel instruments follow the semantic conventions v1.43.0 as otelgrpc
// v0.72.0 applies them: the meter carries the schema URL, the durations
// have the name, unit and description of rpcconv's ServerCallDuration and
// ClientCallDuration (built directly, with this Suite's buckets: rpcconv's
// constructors would replace them with the conventions' defaults, and its
// RecordSet costs an allocation per call), with rpc.system.name, rpc.method,
// rpc.response.status_code, error.type when the call failed, and on a
// client server.address and server.port of the instance called; plus
// kitex.outcome and service.peer.name. On gRPC a server counts as failed
// (error.type) only the codes the conventions make a server's fault
// (rpcmodel.Call.ServerFault): a NOT_FOUND the handler answers has none,
// as with otelgrpc. v1.43 dropped the size instruments and rpc.message.*,
// so sizes are kitex.rpc.* and stream messages carry
// kitex.message.direction; rpc/old and rpc/dup also emit the v1.37 size
// names.
//
// The Suites install what their labels need, whatever other Suites are
// there: the server Suite reads the caller's name from TTHeader and gRPC
// metadata, the client Suite sends it and reads the handler's business
// status (the work of Kitex's TTHeader and HTTP/2 meta handlers, as the
// tracing Suites do too). A client still on Kitex's default Framed
// transport carries no headers: use TTHeader or gRPC.
//
// # Cardinality
//
// Methods are reported by name when the service's IDL declares them. A
// generic service (one that answers any method name) gets a pool of its
// own in each Suite: its first rpcmodel.DefaultGenericMethods names, plus
// those given with WithKnownMethods, then _OTHER. Each Suite has its own
// table, so the callers of one service cannot change another's labels.
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
// after the Suites, Kitex records no times; the Suites then time each call
// themselves (from their tracer's Start), so no duration is recorded as 0.
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
