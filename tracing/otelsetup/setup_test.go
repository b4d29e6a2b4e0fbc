package otelsetup_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kitexsuite/suite/tracing/otelsetup"
)

func TestPropagatorFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		propagators string
		wantFields  []string
	}{
		{"", []string{"baggage", "traceparent", "tracestate"}},
		{"tracecontext", []string{"traceparent", "tracestate"}},
		{"baggage", []string{"baggage"}},
		{" TraceContext , baggage,tracecontext,", []string{"baggage", "traceparent", "tracestate"}},
		{"none", nil},
		// The specification's other names, from contrib/propagators.
		{"b3", []string{"b3"}},
		{"b3multi", []string{"x-b3-flags", "x-b3-sampled", "x-b3-spanid", "x-b3-traceid"}},
		{"jaeger", []string{"uber-trace-id"}},
		{"ottrace", []string{"ot-tracer-sampled", "ot-tracer-spanid", "ot-tracer-traceid"}},
		{"xray", []string{"X-Amzn-Trace-Id"}},
	}
	for _, tt := range tests {
		t.Run(tt.propagators, func(t *testing.T) {
			t.Parallel()
			setup, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
				"OTEL_TRACES_EXPORTER": "none",
				"OTEL_PROPAGATORS":     tt.propagators,
			})))
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			t.Cleanup(func() { _ = setup.Shutdown(context.Background()) })
			got := setup.Propagator().Fields()
			slices.Sort(got)
			if !slices.Equal(got, tt.wantFields) {
				t.Errorf("Fields() = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

// TestExporterNone checks that without an exporter spans are still sampled
// and their context still propagates, so downstream services keep the trace.
func TestExporterNone(t *testing.T) {
	t.Parallel()
	setup, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
		"OTEL_TRACES_EXPORTER": "none",
	})))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	ctx, span := setup.TracerProvider().Tracer("otelsetup_test").Start(context.Background(), "op")
	if !span.IsRecording() {
		t.Error("span is not recording")
	}
	carrier := propagation.MapCarrier{}
	setup.Propagator().Inject(ctx, carrier)
	if carrier.Get("traceparent") == "" {
		t.Errorf("injected %v, want a traceparent", carrier)
	}
	span.End()

	if err := setup.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() error = %v", err)
	}
	if err := setup.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown() error = %v, want nil", err)
	}
}

// TestGlobalsUntouchedByDefault and TestWithSetGlobal change or observe
// process-wide state, so they do not run in parallel.
func TestGlobalsUntouchedByDefault(t *testing.T) {
	// Sentinels of comparable types: the default globals (or a composite
	// propagator) could not be compared with ==.
	tp, prop := noop.NewTracerProvider(), propagation.Baggage{}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	t.Cleanup(resetGlobals)

	setup, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
		"OTEL_TRACES_EXPORTER": "none",
	})))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	defer func() { _ = setup.Shutdown(context.Background()) }()
	if otel.GetTracerProvider() != trace.TracerProvider(tp) {
		t.Error("New replaced the global tracer provider without WithSetGlobal")
	}
	if otel.GetTextMapPropagator() != propagation.TextMapPropagator(prop) {
		t.Error("New replaced the global propagator without WithSetGlobal")
	}
}

func TestWithSetGlobal(t *testing.T) {
	t.Cleanup(resetGlobals)
	setup, err := otelsetup.New(context.Background(), otelsetup.WithSetGlobal(), otelsetup.WithEnv(envOf(map[string]string{
		"OTEL_TRACES_EXPORTER": "none",
		"OTEL_PROPAGATORS":     "baggage",
	})))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	defer func() { _ = setup.Shutdown(context.Background()) }()
	if otel.GetTracerProvider() != setup.TracerProvider() {
		t.Error("global tracer provider is not the Setup's")
	}
	if got := otel.GetTextMapPropagator().Fields(); !slices.Equal(got, []string{"baggage"}) {
		t.Errorf("global propagator fields = %v, want [baggage]", got)
	}
}

// resetGlobals leaves inert otel globals behind for whatever runs next; they
// cannot be reset to their initial delegates.
func resetGlobals() {
	otel.SetTracerProvider(noop.NewTracerProvider())
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
}

// On extract the last propagator that finds a valid span context wins, so
// the order of OTEL_PROPAGATORS decides between two headers that disagree.
func TestPropagatorOrderLastValidWins(t *testing.T) {
	t.Parallel()
	carrier := propagation.MapCarrier{
		"traceparent":   "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01",
		"uber-trace-id": "00000000000000000000000000000abc:0000000000000def:0:1",
	}
	for order, want := range map[string]string{
		"jaeger,tracecontext": "0102030405060708090a0b0c0d0e0f10",
		"tracecontext,jaeger": "00000000000000000000000000000abc",
	} {
		setup, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
			"OTEL_TRACES_EXPORTER": "none", "OTEL_PROPAGATORS": order,
		})))
		if err != nil {
			t.Fatal(err)
		}
		got := trace.SpanContextFromContext(setup.Propagator().Extract(context.Background(), carrier)).TraceID().String()
		if got != want {
			t.Errorf("%s: trace id %s, want %s", order, got, want)
		}
		_ = setup.Shutdown(context.Background())
	}
}

// WithPropagator adds a name for one Setup, and nothing process-wide.
func TestWithPropagator(t *testing.T) {
	t.Parallel()
	custom := propagation.Baggage{}
	setup, err := otelsetup.New(context.Background(), otelsetup.WithPropagator("Custom", custom),
		otelsetup.WithEnv(envOf(map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_PROPAGATORS": "tracecontext,custom"})))
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Shutdown(context.Background())
	got := setup.Propagator().Fields()
	slices.Sort(got)
	if want := []string{"baggage", "traceparent", "tracestate"}; !slices.Equal(got, want) {
		t.Fatalf("Fields() = %v, want %v", got, want)
	}
	_, err = otelsetup.New(context.Background(),
		otelsetup.WithEnv(envOf(map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_PROPAGATORS": "custom"})))
	if err == nil || !strings.Contains(err.Error(), `unsupported propagator "custom"`) {
		t.Fatalf("another Setup accepted custom: %v", err)
	}
}
