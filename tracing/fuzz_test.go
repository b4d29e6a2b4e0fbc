package tracing_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// rawHeaders is a client-side propagator that writes whatever the fuzzer
// chose as the W3C headers, so the server's real extract path sees it.
type rawHeaders struct{ next atomic.Pointer[[3]string] }

func (r *rawHeaders) Inject(_ context.Context, c propagation.TextMapCarrier) {
	h := r.next.Load()
	c.Set("traceparent", h[0])
	c.Set("tracestate", h[1])
	c.Set("baggage", h[2])
}
func (r *rawHeaders) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}
func (r *rawHeaders) Fields() []string { return []string{"traceparent", "tracestate", "baggage"} }

// FuzzExtract sends malformed propagation headers over real TTHeader calls:
// the call must succeed, and the server span must either continue a valid
// parent or start a fresh trace, never break.
func FuzzExtract(f *testing.F) {
	f.Add("00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01", "k=v", "tenant=acme")
	f.Add("00-00000000000000000000000000000000-0000000000000000-01", "", "")
	f.Add("ff-0102030405060708090a0b0c0d0e0f10-0102030405060708-01", "=,=,", "a=%zz;;;")
	f.Add("00-0102030405060708090a0b0c0d0e0f10-0102030405060708", "\x00\xff", "k=\xff\xfe")
	f.Add("garbage", "a=b,c", "=;=,")
	f.Add("", "", "k="+string(make([]byte, 9000)))

	tp := sdktrace.NewTracerProvider()
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	var serverTrace atomic.Value // trace.SpanContext seen by the handler
	h := &testservice.Handler{TraceID: func(ctx context.Context) string {
		serverTrace.Store(trace.SpanContextFromContext(ctx))
		return ""
	}}
	svr, err := testservice.Start("fuzz", testservice.Thrift, h,
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(tp), tracing.WithPropagators(prop))))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svr.Stop(); _ = tp.Shutdown(context.Background()) })
	raw := &rawHeaders{}
	c, err := echoservice.NewClient("fuzz", client.WithHostPorts(svr.Addr),
		client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(tp), tracing.WithPropagators(raw))))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, traceparent, tracestate, bag string) {
		raw.next.Store(&[3]string{traceparent, tracestate, bag})
		serverTrace.Store(trace.SpanContext{})
		if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "fuzz"}); err != nil {
			t.Fatalf("call with traceparent=%q tracestate=%q baggage=%q failed: %v", traceparent, tracestate, bag, err)
		}
		if sc := serverTrace.Load().(trace.SpanContext); !sc.IsValid() {
			t.Fatalf("server span context invalid for traceparent=%q", traceparent)
		}
	})
}
