// Package tracing traces Kitex RPCs with OpenTelemetry: one CLIENT span per
// outgoing call or stream, one SERVER span per handled call or stream, linked
// across hops by the propagated context.
//
//	svr := echoservice.NewServer(handler, server.WithSuite(tracing.NewServerSuite()))
//	cli := echoservice.MustNewClient("echo", client.WithSuite(tracing.NewClientSuite()))
//
// # Spans
//
// Spans follow the OpenTelemetry RPC semantic conventions (semconv v1.43.0):
// the span name is the fully-qualified method ("echo.EchoService/Echo");
// attributes are rpc.system.name ("kitex", or "grpc" on Kitex's gRPC
// transport), rpc.method, rpc.response.status_code, server.address,
// server.port, network.peer.*, service.peer.name (the callee on a client
// span, the caller on a server span), and error.type from the bounded
// mapping in package rpcmodel. A method the service does not define is reported as
// rpc.method "_OTHER" with rpc.method_original, and its span is named after
// the RPC system. Kitex specifics live under kitex.*: kitex.biz_status.code
// and .message for business status errors, stream message counts and kitex.retry.attempts; WithWireAttributes adds
// kitex.transport and request and response sizes.
//
// Status follows the conventions: a failed call marks the CLIENT span Error;
// the SERVER span is Error only for the server's own faults: on gRPC the
// codes the gRPC conventions list (UNKNOWN, DEADLINE_EXCEEDED,
// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), on Kitex's transports
// anything but an unknown method, a cancelled call, or an ACL or limit
// rejection. A business
// status error is a successful RPC by default; WithBizErrorAsError(true)
// counts it as an error (error.type "biz_error").
//
// OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old emits the attribute names of
// kitex-contrib obs-opentelemetry instead (rpc.system "kitex", rpc.service,
// short rpc.method, kitex.recv_size, kitex.send_size, request.protocol), and
// rpc/dup emits both, so existing dashboards survive a migration.
//
// # Propagation
//
// The propagator (default: the global one as it is at each call, or W3C
// tracecontext and baggage while none is set; an explicit propagator with
// no fields, OTEL_PROPAGATORS=none, propagates nothing) writes only its own
// keys. The server Suite also reads obs-opentelemetry's metainfo form
// (RPC_TRANSIT_<field> headers, rpc-transit-<field> gRPC metadata);
// WithContribMetainfoWrite makes the client write it too. The client Suite
// does the rest of Kitex's ClientTTHeaderHandler and ClientHTTP2Handler's
// work (caller identity on every transport, the RPC timeout, the reply's
// business status, the graceful shutdown's connection-reset mark), the
// server Suite that of the server handlers.
//
//   - TTHeader (Thrift and Kitex Protobuf): string headers of the TTHeader
//     frame. Kitex Protobuf clients use TTHeader by default. Thrift clients
//     default to Framed since Kitex v0.13, which has no headers: the client
//     Suite therefore adds the TTHeader bit to the client's transport. Kitex
//     ORs transport bits, so a gRPC or TTHeader choice is kept as it is; a
//     Framed or Buffered transport becomes TTHeader-framed whether Kitex
//     chose it or the user did (the two cannot be told apart), which a
//     non-Kitex Thrift server does not speak. WithKeepTransport turns that
//     off; such a client cannot propagate.
//   - TTHeader streaming: the stream's header frame. Kitex allows one
//     header-frame handler per client and server; the Suites take it.
//   - gRPC (HTTP/2), unary and streaming: request metadata.
//   - Buffered and plain Framed carry no context.
//
// A mixed chain (a Thrift hop, then a gRPC hop) works because each hop
// extracts into the context its handler sees and injects from it.
//
// # Sampling and the trust boundary
//
// A sampler sees rpc.system.name and rpc.method at span start. A server
// span continues the caller's trace and sampling decision, and the
// caller's baggage reaches the handler. WithPublicEndpoint (or
// WithPublicEndpointFn, per call) starts a new trace linked to the
// caller's instead, as otelgrpc's option of that name does;
// WithDropIncomingBaggage ignores the caller's baggage.
//
// # Streams
//
// A stream gets one span from its creation to its end (normal close, error
// or cancellation), with kitex.stream.messages.sent/received; with
// WithMessageEvents also one kitex.stream.message event per message and byte totals.
// Kitex finishes a gRPC client stream only when a Recv or Send fails or the
// stream completes; a caller that cancels the stream's context and walks
// away would leave it unfinished, so the client Suite ends such a span
// itself when the context ends (error.type canceled or timeout).
//
// # Retries
//
// Kitex calls a tracer once per logical call, so with a retry policy the
// CLIENT span covers all attempts: each attempt after the first adds a
// kitex.retry event (attribute kitex.retry.attempt), the total is in
// kitex.retry.attempts, and every attempt's SERVER span is a child of it.
//
// # Cost
//
// Kitex turns on detailed stats (a clock read per read/write event) whenever
// a tracer is installed. The Suites set the stats level to Base, which is all
// spans need; a WithStatsLevel option given after the Suite wins, except that
// WithDetailedEvents raises each call to Detailed whatever the configured
// level. Measured per-RPC costs are in the repository README.
//
// The server Suite also installs a Kitex inbound handler that grows each
// request goroutine's stack before Kitex decodes the request: to 8 KiB, or
// 16 KiB on a server whose handlers make traced client calls (the client
// Suite tells it). Kitex serves each request on a fresh goroutine, and
// growing its stack at that shallow point is one cheap copy, where growing
// it under the SDK's span start or end, thirty frames down, copied the
// whole stack on every call (2.5–3.5 µs).
//
// # Kitex meta handlers
//
// Besides propagation, the Suites do the work of Kitex's TTHeader and
// HTTP/2 meta handlers (internal/kitexmeta), so neither needs them
// installed: the server reads the caller's service, method and RPC timeout
// (TTHeader) or service and method (gRPC metadata), and writes a business
// status error and the graceful-shutdown connection-reset mark into the
// reply, leaving out the message-type header no Kitex client reads; the
// client sends the caller's service and method and the RPC timeout it set
// (which matters with server.WithEnableContextTimeout), reads a business
// status from the reply, and honours the connection-reset mark, so its
// long pool stops reusing a connection to a server stopping gracefully.
// Unlike Kitex's ClientTTHeaderHandler the client does not send the
// callee's service and method: only a TTHeader proxy routing on them reads
// them, and they cost the server four allocations per call to decode;
// behind such a proxy, install transmeta.ClientTTHeaderHandler as well.
//
// Package otelsetup builds a TracerProvider from the OTEL_* environment.
package tracing
