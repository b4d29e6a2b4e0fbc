package tracing_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	t        *testing.T
	rec      *tracetest.SpanRecorder
	ended    chan struct{}            // one token per ended span
	finished testservice.FinishSignal // one token per call a chain server has recorded
	tp       *sdktrace.TracerProvider
	opt      []tracing.Option
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
	return &env{t: t, rec: rec, ended: ended, finished: testservice.NewFinishSignal(4096), tp: tp, opt: append([]tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagators(prop)}, opts...)}
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

// handlerView is what a test handler saw in its context, as seenSpan
// reports it in the Response's TraceIDs: the span and, when that span is
// the SDK's (the server span), its parent. Parent is empty when the
// context holds only a remote span context (a filtered server).
type handlerView struct {
	Trace, Span, Parent string // hex ids
	Sampled             bool
	ParentRemote        bool
}

// seenSpan is a Handler.TraceID hook reporting the handler's span and the
// parent the server Suite gave it.
func seenSpan(ctx context.Context) string {
	sp := trace.SpanFromContext(ctx)
	sc := sp.SpanContext()
	v := handlerView{Trace: sc.TraceID().String(), Span: sc.SpanID().String(), Sampled: sc.IsSampled()}
	if ro, ok := sp.(sdktrace.ReadOnlySpan); ok {
		v.Parent, v.ParentRemote = ro.Parent().SpanID().String(), ro.Parent().IsRemote()
	}
	b, _ := json.Marshal(v) // strings and bools always encode
	return string(b)
}

func viewOf(t *testing.T, seen string) handlerView {
	t.Helper()
	var v handlerView
	if err := json.Unmarshal([]byte(seen), &v); err != nil {
		t.Fatalf("handler view %q: %v", seen, err)
	}
	return v
}

// wantHandlerSaw asserts the handler's context held exactly the server span
// sv, with sv's parent.
func wantHandlerSaw(t *testing.T, seen string, sv sdkSpan) {
	t.Helper()
	want := handlerView{Trace: sv.SpanContext().TraceID().String(), Span: sv.SpanContext().SpanID().String(),
		Parent: sv.Parent().SpanID().String(), Sampled: sv.SpanContext().IsSampled(), ParentRemote: sv.Parent().IsRemote()}
	if got := viewOf(t, seen); got != want {
		t.Errorf("handler saw %+v, want its server span %+v", got, want)
	}
}

// chain starts the servers of hops (each forwarding to the next, each
// handler reporting seenSpan) and returns a Forward calling the first one as
// service "client". Each server sends a token on e.finished once its Suite
// has recorded a call.
func (e *env) chain(hops ...hop) testservice.Forward {
	e.t.Helper()
	var next testservice.Forward
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		handler := &testservice.Handler{Next: next, TraceID: seenSpan, Baggage: baggageOf}
		svr, err := testservice.Start(h.name, h.codec, handler, server.WithTracer(e.finished),
			server.WithSuite(tracing.NewServerSuite(e.opt...)))
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

// waitChain waits until the n servers of a chain have recorded their call
// and returns every span ended so far: all of the call's spans, since the
// client spans end before their call returns.
func (e *env) waitChain(n int) []sdkSpan {
	e.t.Helper()
	if err := e.finished.Wait(n, 10*time.Second); err != nil {
		e.t.Fatal(err)
	}
	return e.rec.Ended()
}

// wantChain asserts spans are exactly one call through a chain of n hops:
// caller -> client 1 -> server 1 -> client 2 -> ... -> server n, in one
// trace, each span's parent the span before it by span id (server i's a
// remote parent, client i+1's the local server span i), and hop i's handler
// seeing server span i (seen: the Response's TraceIDs, from seenSpan).
// caller is the test's own span, recorded in spans too, or invalid when
// client 1 must be a root.
func wantChain(t *testing.T, spans []sdkSpan, caller trace.SpanContext, seen []string, n int) {
	t.Helper()
	want := 2 * n
	if caller.IsValid() {
		want++
	}
	traces := map[trace.TraceID]bool{}
	for _, s := range spans {
		traces[s.SpanContext().TraceID()] = true
	}
	if len(spans) != want || len(traces) != 1 {
		t.Fatalf("got %d spans in %d traces, want %d in one: %s", len(spans), len(traces), want, tree(spans))
	}
	if caller.IsValid() && !traces[caller.TraceID()] {
		t.Fatalf("spans are not in the caller's trace %s: %s", caller.TraceID(), tree(spans))
	}
	if len(seen) != n {
		t.Fatalf("%d handlers reported what they saw, want %d: %v", len(seen), n, seen)
	}
	parent := caller
	for i := 0; i < n; i++ {
		cl := childOf(t, spans, trace.SpanKindClient, parent)
		if (i == 0 && cl.Parent().IsRemote() != caller.IsRemote()) || (i > 0 && cl.Parent().IsRemote()) {
			t.Errorf("hop %d client span's parent remote = %v, want the local span before it", i+1, cl.Parent().IsRemote())
		}
		sv := childOf(t, spans, trace.SpanKindServer, cl.SpanContext())
		if !sv.Parent().IsRemote() {
			t.Errorf("hop %d server span's parent is not remote", i+1)
		}
		wantHandlerSaw(t, seen[i], sv)
		parent = sv.SpanContext()
	}
}

// childOf returns the one span of kind k whose parent is parent (a root when
// parent is invalid), failing the test when there is none or several.
func childOf(t *testing.T, spans []sdkSpan, k trace.SpanKind, parent trace.SpanContext) sdkSpan {
	t.Helper()
	var found []sdkSpan
	for _, s := range spans {
		if s.SpanKind() == k && s.Parent().SpanID() == parent.SpanID() {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s spans are children of %s, want one: %s", len(found), k, parent.SpanID(), tree(spans))
	}
	return found[0]
}

// tree lists spans as kind:name span<-parent, for failure messages.
func tree(spans []sdkSpan) string {
	out := ""
	for _, s := range spans {
		out += fmt.Sprintf("\n\t%s:%s %s<-%s", s.SpanKind(), s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID())
	}
	return out
}

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
