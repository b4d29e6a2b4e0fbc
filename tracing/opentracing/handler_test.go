package opentracing_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
	"github.com/kitexsuite/suite/tracing/opentracing"
)

// recorder is a tracer provider whose ended spans the test reads, and
// waits for, without sleeping.
type recorder struct {
	tp    *sdktrace.TracerProvider
	spans *tracetest.SpanRecorder
	ended chan struct{}
}

type endSignal chan struct{}

func (e endSignal) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e endSignal) OnEnd(sdktrace.ReadOnlySpan)                     { e <- struct{}{} }
func (e endSignal) Shutdown(context.Context) error                  { return nil }
func (e endSignal) ForceFlush(context.Context) error                { return nil }

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{spans: tracetest.NewSpanRecorder(), ended: make(chan struct{}, 64)}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans), sdktrace.WithSpanProcessor(endSignal(r.ended)))
	t.Cleanup(func() { _ = r.tp.Shutdown(context.Background()) })
	return r
}

// wait returns the spans once n have ended, and fails if more did.
func (r *recorder) wait(t *testing.T, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-r.ended:
		case <-timeout:
			t.Fatalf("%d of %d spans ended", i, n)
		}
	}
	spans := r.spans.Ended()
	if len(spans) != n {
		t.Fatalf("%d spans ended, want %d", len(spans), n)
	}
	return spans
}

// named returns the one span named name.
func named(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			if found != nil {
				t.Fatalf("two spans named %s", name)
			}
			found = s
		}
	}
	if found == nil {
		t.Fatalf("no span named %s", name)
	}
	return found
}

// ofKind returns the spans of kind k.
func ofKind(spans []sdktrace.ReadOnlySpan, k trace.SpanKind) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == k {
			out = append(out, s)
		}
	}
	return out
}

// chain runs client → A → B, where A's handler runs the OpenTracing code
// a shared library would: a "db" span from the context, marked as an
// error, with a baggage item, and the call to B made in it. B reports the
// baggage it sees.
func chain(t *testing.T, r *recorder, otTracer ot.Tracer, serverSuite func() server.Suite) *testservice.Response {
	t.Helper()
	b, err := testservice.Start("B", testservice.Thrift, &testservice.Handler{
		Baggage: func(ctx context.Context) map[string]string {
			m := map[string]string{}
			for _, mem := range baggage.FromContext(ctx).Members() {
				m[mem.Key()] = mem.Value()
			}
			return m
		},
	}, server.WithSuite(serverSuite()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	toB, err := testservice.NewForward(testservice.Thrift, "B", b.Addr, client.WithSuite(opentracing.ClientSuite(
		opentracing.WithTracer(otTracer), opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))))
	if err != nil {
		t.Fatal(err)
	}
	a, err := testservice.Start("A", testservice.Thrift, &testservice.Handler{
		Next: func(ctx context.Context, req *testservice.Request) (*testservice.Response, error) {
			span, ctx := ot.StartSpanFromContextWithTracer(ctx, otTracer, "db")
			defer span.Finish()
			ext.Error.Set(span, true)
			span.SetBaggageItem("user", "alice")
			return toB(ctx, req)
		},
	}, server.WithSuite(serverSuite()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	toA, err := testservice.NewForward(testservice.Thrift, "A", a.Addr, client.WithSuite(opentracing.ClientSuite(
		opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := toA(context.Background(), &testservice.Request{Message: "hi", Hops: 1})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func parentOf(s sdktrace.ReadOnlySpan) trace.SpanID { return s.Parent().SpanID() }

// The handler's OpenTracing code, through NewBridge's tracer, nests
// exactly: server A → db → client A→B → server B, db marked by ext.Error,
// and db's baggage item reaching B as W3C baggage.
func TestOpenTracingInHandlerJoinsTheTrace(t *testing.T) {
	r := newRecorder(t)
	bt, _ := opentracing.NewBridge(r.tp)
	resp := chain(t, r, bt, func() server.Suite {
		return opentracing.ServerSuite(opentracing.WithTracer(bt), opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))
	})
	spans := r.wait(t, 5)
	clients, servers := ofKind(spans, trace.SpanKindClient), ofKind(spans, trace.SpanKindServer)
	db := named(t, spans, "db")
	if db.Status().Code != codes.Error {
		t.Errorf("db status %v, want Error from ext.Error", db.Status())
	}
	// Order the RPC spans by parent: the root client, A's server, A's
	// client (under db), B's server.
	root := findParent(clients, trace.SpanID{})
	if root == nil {
		t.Fatalf("no root client span among %v", clients)
	}
	serverA := findParent(servers, root.SpanContext().SpanID())
	if serverA == nil || parentOf(db) != serverA.SpanContext().SpanID() {
		t.Fatalf("db's parent %s, want A's server span", parentOf(db))
	}
	clientB := findParent(clients, db.SpanContext().SpanID())
	if clientB == nil {
		t.Fatalf("no client span under db: the call to B is not db's child")
	}
	serverB := findParent(servers, clientB.SpanContext().SpanID())
	if serverB == nil {
		t.Fatalf("B's server span is not the child of A's client span")
	}
	for _, s := range []sdktrace.ReadOnlySpan{serverA, db, clientB, serverB} {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), root.SpanContext().TraceID())
		}
	}
	if resp.Baggage["user"] != "alice" {
		t.Errorf("B saw baggage %v, want user=alice from db's SetBaggageItem", resp.Baggage)
	}
}

func findParent(spans []sdktrace.ReadOnlySpan, parent trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if parentOf(s) == parent {
			return s
		}
	}
	return nil
}

// The negative control: the bridge alone, beside the plain tracing Suite,
// does not join — the handler's db span finds no OpenTracing parent in the
// context and starts a trace of its own.
func TestBridgeAloneStartsANewTrace(t *testing.T) {
	r := newRecorder(t)
	bt, _ := opentracing.NewBridge(r.tp)
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	chain(t, r, bt, func() server.Suite {
		return tracing.NewServerSuite(tracing.WithTracerProvider(r.tp), tracing.WithPropagators(prop))
	})
	spans := r.wait(t, 5)
	db := named(t, spans, "db")
	var root trace.TraceID
	for _, s := range ofKind(spans, trace.SpanKindClient) {
		if !s.Parent().IsValid() {
			root = s.SpanContext().TraceID()
		}
	}
	if db.Parent().IsValid() || db.SpanContext().TraceID() == root {
		t.Fatalf("db %v: want a new root, apart from the RPC trace %s", db, root)
	}
}
