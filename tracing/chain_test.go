package tracing_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
)

// env is one tracer provider with an in-memory recorder and the W3C
// propagators, injected into every suite (no globals touched).
type env struct {
	t     *testing.T
	rec   *tracetest.SpanRecorder
	ended chan struct{} // one token per ended span
	tp    *sdktrace.TracerProvider
	opt   []tracing.Option
}

func newEnv(t *testing.T, opts ...tracing.Option) *env {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	ended := make(chan struct{}, 4096)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSpanProcessor(endSignal(ended)),
		sdktrace.WithSampler(sdktrace.AlwaysSample()))
	open := &openSpans{}
	tp.RegisterSpanProcessor(open)
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		// Cleanups run last-in first-out: servers and clients are gone by now,
		// so every span a suite started must have ended.
		if n := open.n.Load(); n != 0 {
			t.Errorf("%d spans were started and never ended", n)
		}
	})
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	return &env{t: t, rec: rec, ended: ended, tp: tp, opt: append([]tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagators(prop)}, opts...)}
}

// hop describes one server of a chain and how its caller reaches it.
type hop struct {
	name       string
	codec      testservice.Codec
	clientOpts []client.Option // e.g. the gRPC transport for the call into this hop
}

func traceIDOf(ctx context.Context) string {
	return trace.SpanContextFromContext(ctx).TraceID().String()
}

func baggageOf(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, m := range baggage.FromContext(ctx).Members() {
		out[m.Key()] = m.Value()
	}
	return out
}

// chain starts the servers of hops (each forwarding to the next) and returns
// a Forward calling the first one as service "client".
func (e *env) chain(hops ...hop) testservice.Forward {
	e.t.Helper()
	var next testservice.Forward
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		handler := &testservice.Handler{Next: next, TraceID: traceIDOf, Baggage: baggageOf}
		svr, err := testservice.Start(h.name, h.codec, handler, server.WithSuite(tracing.NewServerSuite(e.opt...)))
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { _ = svr.Stop() })
		caller := "client"
		if i > 0 {
			caller = hops[i-1].name
		}
		opts := append([]client.Option{
			client.WithSuite(tracing.NewClientSuite(e.opt...)),
			client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: caller}),
		}, h.clientOpts...)
		next, err = testservice.NewForward(h.codec, h.name, svr.Addr, opts...)
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return next
}

type sdkSpan = sdktrace.ReadOnlySpan

// waitSpans waits until n more spans have ended (the server ends its span
// after writing the reply, so the caller can see the reply first) and
// returns every span ended so far.
func (e *env) waitSpans(n int) []sdktrace.ReadOnlySpan {
	e.t.Helper()
	timeout := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-e.ended:
		case <-timeout:
			e.t.Fatalf("only %d of %d spans ended within 10s; ended: %v", i, n, names(e.rec.Ended()))
		}
	}
	return e.rec.Ended()
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind().String()+":"+s.Name())
	}
	return out
}

// openSpans counts spans started and not yet ended.
type openSpans struct{ n atomic.Int64 }

func (o *openSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) { o.n.Add(1) }
func (o *openSpans) OnEnd(sdktrace.ReadOnlySpan)                     { o.n.Add(-1) }
func (o *openSpans) Shutdown(context.Context) error                  { return nil }
func (o *openSpans) ForceFlush(context.Context) error                { return nil }

// endSignal is a span processor that sends a token for every ended span.
type endSignal chan struct{}

func (c endSignal) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c endSignal) OnEnd(sdktrace.ReadOnlySpan)                     { c <- struct{}{} }
func (c endSignal) Shutdown(context.Context) error                  { return nil }
func (c endSignal) ForceFlush(context.Context) error                { return nil }

func byKind(spans []sdktrace.ReadOnlySpan, k trace.SpanKind) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == k {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}
