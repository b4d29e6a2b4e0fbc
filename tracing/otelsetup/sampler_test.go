package otelsetup_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// parent is the context a span is started in, as seen by the sampler.
type parent int

const (
	root            parent = iota // no parent
	sampledRemote                 // remote parent with the sampled flag
	unsampledRemote               // remote parent without it
)

func (p parent) context() context.Context {
	if p == root {
		return context.Background()
	}
	cfg := trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		Remote:  true,
	}
	if p == sampledRemote {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg))
}

func TestSamplerFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sampler, arg string
		parent       parent
		want         bool // sampled and recording
	}{
		{sampler: "", parent: root, want: true}, // default: parentbased_always_on
		{sampler: "", parent: unsampledRemote, want: false},
		{sampler: "always_on", parent: root, want: true},
		{sampler: "always_on", parent: unsampledRemote, want: true},
		{sampler: "always_on", arg: "ignored", parent: root, want: true},
		{sampler: "always_off", parent: root, want: false},
		{sampler: "always_off", parent: sampledRemote, want: false},
		{sampler: " ALWAYS_OFF ", parent: root, want: false},
		{sampler: "traceidratio", parent: root, want: true}, // no arg: ratio 1
		{sampler: "traceidratio", arg: "1", parent: root, want: true},
		{sampler: "traceidratio", arg: "0", parent: root, want: false},
		{sampler: "traceidratio", arg: "0", parent: sampledRemote, want: false},
		{sampler: "parentbased_always_on", parent: root, want: true},
		{sampler: "parentbased_always_on", parent: sampledRemote, want: true},
		{sampler: "parentbased_always_on", parent: unsampledRemote, want: false},
		{sampler: "parentbased_always_off", parent: root, want: false},
		{sampler: "parentbased_always_off", parent: sampledRemote, want: true},
		{sampler: "parentbased_always_off", parent: unsampledRemote, want: false},
		{sampler: "parentbased_traceidratio", arg: "0", parent: root, want: false},
		{sampler: "parentbased_traceidratio", arg: "0", parent: sampledRemote, want: true},
		{sampler: "parentbased_traceidratio", arg: "1", parent: root, want: true},
		{sampler: "parentbased_traceidratio", arg: "1", parent: unsampledRemote, want: false},
	}
	for _, tt := range tests {
		name := tt.sampler + "/arg=" + tt.arg + "/" + [...]string{"root", "sampled parent", "unsampled parent"}[tt.parent]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			setup, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
				"OTEL_TRACES_EXPORTER":    "none",
				"OTEL_TRACES_SAMPLER":     tt.sampler,
				"OTEL_TRACES_SAMPLER_ARG": tt.arg,
			})))
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			t.Cleanup(func() { _ = setup.Shutdown(context.Background()) })

			_, span := setup.TracerProvider().Tracer("otelsetup_test").Start(tt.parent.context(), "op")
			defer span.End()
			if got := span.SpanContext().IsSampled(); got != tt.want {
				t.Errorf("sampled = %v, want %v", got, tt.want)
			}
			if got := span.IsRecording(); got != tt.want {
				t.Errorf("recording = %v, want %v", got, tt.want)
			}
		})
	}
}
