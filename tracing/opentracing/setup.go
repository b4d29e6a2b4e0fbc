package opentracing

import "github.com/kitexsuite/suite/tracing/otelsetup"

// SetupOptions are the otelsetup options that make this package's
// propagators OTEL_PROPAGATORS names, for that Setup only:
// "jaegerspancontext" (LegacyPropagator(opts...)) and "uberctx"
// (UberctxBaggage). A fleet moving off tracer-opentracing and
// jaeger-client might run with
//
//	OTEL_PROPAGATORS=jaegerspancontext,jaeger,tracecontext,baggage,uberctx
//
// The order is the composite's: on extract the last propagator that finds
// a valid span context wins, so the legacy form comes first (lowest
// priority) and tracecontext last among the trace propagators. W3C
// baggage replaces the context's baggage when its header is present,
// while uberctx (and the legacy form's binary baggage) merge into it, so
// uberctx comes after baggage and both survive.
func SetupOptions(opts ...LegacyOption) []otelsetup.Option {
	return []otelsetup.Option{
		otelsetup.WithPropagator("jaegerspancontext", LegacyPropagator(opts...)),
		otelsetup.WithPropagator("uberctx", UberctxBaggage()),
	}
}
