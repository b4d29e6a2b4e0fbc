// Package opentracing moves Kitex services off
// kitex-contrib/tracer-opentracing (archived, last tag v0.0.3) without a
// broken trace: its span context — jaeger-client's binary form in Kitex
// metainfo — is read and written by LegacyPropagator beside the W3C
// context, so legacy callers and callees stay in the same trace as
// OpenTelemetry hops.
//
//	prop := propagation.NewCompositeTextMapPropagator(
//		opentracing.LegacyPropagator(), // lowest priority: the last valid context wins
//		propagation.TraceContext{}, propagation.Baggage{})
//	cli := echoservice.MustNewClient("echo",
//		client.WithSuite(tracing.NewClientSuite(tracing.WithPropagator(prop))))
//
// # The legacy wire format
//
// tracer-opentracing injects with tracer.Inject(span.Context(),
// opentracing.Binary, buf) into Kitex metainfo: its main branch under
// SpanContextKey ("JAEGERSPANCONTEXT"), base64; v0.0.3 under
// SpanContextKeyV003 ("JaegerSpanContext"), raw bytes. The bytes are
// jaeger-client's BinaryPropagator layout: trace id (16 bytes, high then
// low, big-endian; high is zero for 64-bit ids), span id (8), parent id
// (8), flags (1: bit 0 sampled, bit 1 debug), an int32 baggage count, then
// int32-length-prefixed keys and values. Over TTHeader both keys arrive as
// RPC_TRANSIT_<key>, case kept; over gRPC only the base64 form survives
// (the raw form holds control bytes, which Kitex drops from HTTP/2
// metadata), under rpc-transit-jaegerspancontext.
//
// A legacy server that cannot extract fails the RPC; LegacyPropagator
// never does: a malformed value starts a new root and is logged once.
package opentracing
