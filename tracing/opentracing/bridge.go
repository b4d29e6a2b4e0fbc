package opentracing

import (
	"context"
	"sync"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/contrib/propagators/jaeger"
	"go.opentelemetry.io/otel/baggage"
	otbridge "go.opentelemetry.io/otel/bridge/opentracing"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the OpenTracing spans the
// bridge from NewBridge creates.
const ScopeName = "github.com/kitexsuite/suite/tracing/opentracing"

// NewBridge returns OpenTelemetry's OpenTracing bridge set up the one way
// under which OpenTracing code and Kitex spans nest in both directions: a
// BridgeTracer whose OpenTelemetry tracer comes from the returned
// TracerProvider, which wraps tp (go.opentelemetry.io/otel/bridge/opentracing's
// NewTracerProvider). Make the tracer OpenTracing's global and the
// provider OpenTelemetry's:
//
//	bt, wtp := opentracing.NewBridge(sdkProvider)
//	ot.SetGlobalTracer(bt)
//	otel.SetTracerProvider(wtp)
//
// With the bridge's tracer taken from tp directly, a Kitex call made in a
// handler's OpenTracing span would be that span's sibling (the bridge
// records the OpenTracing span in the context for OpenTelemetry only
// through the wrapped provider); with no OpenTelemetry tracer set at all,
// its spans would be dropped without a word. The bridge's warnings (a
// foreign span, baggage without an OpenTracing span) go to klog, each
// once.
//
// Do not set the bridge as the global tracer with tracer-opentracing's
// Suites still installed: the bridge cannot read or write OpenTracing's
// Binary format, so every RPC carrying tracer-opentracing's span context
// fails on that server. This package's Suites replace them.
func NewBridge(tp trace.TracerProvider) (*otbridge.BridgeTracer, *otbridge.TracerProvider) {
	bt := otbridge.NewBridgeTracer()
	wtp := otbridge.NewTracerProvider(bt, tp)
	bt.SetOpenTelemetryTracer(wtp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version)))
	var warned sync.Map
	bt.SetWarningHandler(func(msg string) {
		if _, loaded := warned.LoadOrStore(msg, struct{}{}); !loaded {
			klog.Warnf("kitexsuite/tracing/opentracing: the OpenTracing bridge says: %s (logged once)", msg)
		}
	})
	return bt, wtp
}

// baggageContextWithSelf sets the context's baggage again, so that the
// bridge's set hook copies it into the OpenTracing span now in ctx
// (incoming W3C baggage is otherwise invisible to span.BaggageItem).
func baggageContextWithSelf(ctx context.Context) context.Context {
	bag := baggage.FromContext(ctx)
	if bag.Len() == 0 {
		return ctx
	}
	return baggage.ContextWithBaggage(ctx, bag)
}

// foreignFields writes a span context in the fields OpenTracing tracers
// other than the bridge read: uber-trace-id (jaeger-client's own), x-b3-*
// (jaeger-client's and Zipkin's B3) and W3C traceparent.
var foreignFields = propagation.NewCompositeTextMapPropagator(
	jaeger.Jaeger{}, b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)), propagation.TraceContext{})
