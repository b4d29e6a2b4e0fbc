package opentracing_test

import (
	"context"
	"encoding/base64"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/tracing/opentracing"
	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// SetupOptions make the legacy form and uberctx OTEL_PROPAGATORS names,
// in the documented order: the legacy span context is read when nothing
// else is there, tracecontext wins over it, and uberctx merges into W3C
// baggage.
func TestSetupOptionsInTheDocumentedOrder(t *testing.T) {
	env := map[string]string{
		"OTEL_TRACES_EXPORTER": "none",
		"OTEL_PROPAGATORS":     "jaegerspancontext,jaeger,tracecontext,baggage,uberctx",
	}
	setup, err := otelsetup.New(context.Background(), append(opentracing.SetupOptions(),
		otelsetup.WithEnv(func(k string) string { return env[k] }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Shutdown(context.Background())
	prop := setup.Propagator()
	// jaeger-client's binary form: trace id 9, span id 8, no parent,
	// sampled, no baggage.
	legacy := base64.StdEncoding.EncodeToString(opentracing.JaegerBinary(0, 9, 8, 0, 1))

	only := prop.Extract(context.Background(), propagation.MapCarrier{opentracing.SpanContextKey: legacy})
	if got := trace.SpanContextFromContext(only).TraceID().String(); got != "00000000000000000000000000000009" {
		t.Fatalf("legacy alone: trace %s, want the legacy one", got)
	}
	both := prop.Extract(context.Background(), propagation.MapCarrier{
		opentracing.SpanContextKey: legacy,
		"traceparent":              "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01",
		"baggage":                  "tenant=t-1",
		"uberctx-user":             "alice",
	})
	if got := trace.SpanContextFromContext(both).TraceID().String(); got != "0102030405060708090a0b0c0d0e0f10" {
		t.Fatalf("legacy and traceparent: trace %s, want traceparent's (listed later)", got)
	}
	bag := baggage.FromContext(both)
	if bag.Member("tenant").Value() != "t-1" || bag.Member("user").Value() != "alice" {
		t.Fatalf("baggage %s, want tenant from W3C and user from uberctx", bag)
	}
}
