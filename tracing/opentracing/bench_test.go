package opentracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
)

// The legacy form's cost on a call that does not carry it: extracting W3C
// context alone, and with LegacyPropagator first in the composite.
func BenchmarkExtractLegacyAbsent(b *testing.B) {
	carrier := propagation.MapCarrier{
		"traceparent": "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01",
		"baggage":     "user=alice",
	}
	w3c := []propagation.TextMapPropagator{propagation.TraceContext{}, propagation.Baggage{}}
	for _, bc := range []struct {
		name string
		p    propagation.TextMapPropagator
	}{
		{"w3c", propagation.NewCompositeTextMapPropagator(w3c...)},
		{"legacy+w3c", propagation.NewCompositeTextMapPropagator(append([]propagation.TextMapPropagator{LegacyPropagator()}, w3c...)...)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.p.Extract(context.Background(), carrier)
			}
		})
	}
}
