// Package otelsetup bootstraps an OpenTelemetry tracer provider from the
// standard OTEL_* environment variables, for services that use the kitexsuite
// tracing middleware (or anything else built on the otel API).
//
// Typical use in main:
//
//	setup, err := otelsetup.New(ctx, otelsetup.WithServiceName("checkout"))
//	if err != nil {
//		return err // a *ConfigError names the variable at fault
//	}
//	defer func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		_ = setup.Shutdown(ctx) // flushes buffered spans
//	}()
//	suite := tracing.NewServerSuite( // or client suite, or any otel user
//		tracing.WithTracerProvider(setup.TracerProvider()),
//		tracing.WithPropagators(setup.Propagator()),
//	)
//
// Pass WithSetGlobal to New instead if the program relies on the otel
// globals.
//
// # Variables
//
// New reads these, through WithEnv's lookup (os.Getenv by default):
//
//   - OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
//   - OTEL_PROPAGATORS: tracecontext, baggage (default: both), b3 (single
//     header), b3multi (x-b3-*, what jaeger-client's B3 propagator reads),
//     jaeger (uber-trace-id, no baggage), ottrace (64-bit trace ids),
//     xray — from go.opentelemetry.io/contrib/propagators — or none, plus
//     the names WithPropagator adds (tracing/opentracing's SetupOptions:
//     jaegerspancontext, uberctx). The list is the composite's order: on
//     extract the last propagator that finds a valid span context wins,
//     so list the one most of the fleet speaks last (tracecontext), and
//     the legacy ones first.
//   - OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG: always_on, always_off,
//     traceidratio, parentbased_always_on (default), parentbased_always_off,
//     parentbased_traceidratio
//   - OTEL_TRACES_EXPORTER: otlp (default) or none; with none, spans are
//     still created and sampled and context still propagates, but nothing
//     is exported
//   - OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL: http/protobuf (default), grpc or
//     http/json
//   - OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT, HEADERS, TIMEOUT, COMPRESSION,
//     CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY}; for gRPC also INSECURE,
//     which only counts when the endpoint has no http:// or https:// scheme
//   - OTEL_BSP_{SCHEDULE_DELAY, EXPORT_TIMEOUT, MAX_QUEUE_SIZE,
//     MAX_EXPORT_BATCH_SIZE}
//
// The SDK and the OTLP exporters read many of these themselves, but only
// from the process environment, and they log a bad value and carry on with a
// default. New instead validates each variable, returns a *ConfigError for a
// bad one, and passes the parsed value on as an explicit option, which
// overrides whatever the SDK read. When the lookup leaves a variable empty,
// the sampler, propagators and resource take the spec defaults; exporter and
// batch settings keep the exporter's or SDK's own default, which may still
// come from the process environment. Span limits (OTEL_SPAN_*,
// OTEL_ATTRIBUTE_*) are left to the SDK entirely.
//
// Precedence is: options given to New, then the environment, then SDK
// defaults.
package otelsetup
