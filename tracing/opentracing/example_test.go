package opentracing_test

import (
	"context"
	"fmt"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	ot "github.com/opentracing/opentracing-go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/tracing/opentracing"
)

// A span context as tracer-opentracing's main branch sends it (base64 of
// jaeger-client's binary form, under JAEGERSPANCONTEXT) is read as the
// remote parent.
func ExampleLegacyPropagator() {
	carrier := propagation.MapCarrier{
		opentracing.SpanContextKey: "AQIDBAUGBwgRIjNEVWZ3iKq7zN0AESIzAAAAAAAAAAABAAAAAA==",
	}
	ctx := opentracing.LegacyPropagator().Extract(context.Background(), carrier)
	sc := trace.SpanContextFromContext(ctx)
	fmt.Println(sc.TraceID(), sc.SpanID(), sc.IsSampled())
	// Output: 01020304050607081122334455667788 aabbccdd00112233 true
}

// Migrating from kitex-contrib/tracer-opentracing: the import path
// changes, the calls stay. Spans are OpenTelemetry's (the global
// TracerProvider); the OpenTracing tracer is the bridge, so handler code
// calling opentracing.StartSpanFromContext joins the same trace.
func ExampleNewServerSuite() {
	sdk := sdktrace.NewTracerProvider() // with your exporter, or otelsetup.New
	bt, wtp := opentracing.NewBridge(sdk)
	ot.SetGlobalTracer(bt)
	_ = wtp // otel.SetTracerProvider(wtp) in a program

	serverOpts := []server.Option{server.WithSuite(opentracing.NewServerSuite(bt, opentracing.CallerOperationName))}
	clientOpts := []client.Option{client.WithSuite(opentracing.NewClientSuite(bt, opentracing.CallerOperationName))}
	_, _ = serverOpts, clientOpts
}
