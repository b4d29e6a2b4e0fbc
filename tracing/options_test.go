package tracing_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/rpcmodel"
	"github.com/kitexsuite/suite/tracing"
)

func TestSemconvOptIn(t *testing.T) {
	cases := []struct {
		optIn          string
		current, older bool
	}{
		{"", true, false},
		{"rpc", true, false},
		{"rpc/old", false, true},
		{"rpc/dup", true, true},
		{"http,rpc/dup,rpc/old", true, true}, // rpc/dup wins
	}
	for _, tc := range cases {
		t.Run(tc.optIn, func(t *testing.T) {
			e := newEnv(t, tracing.WithSemconvOptIn(tc.optIn))
			c, _ := e.oneHop()
			if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "hi"}); err != nil {
				t.Fatal(err)
			}
			for _, s := range e.waitSpans(2) {
				_, hasCurrent := attr(s, "rpc.system.name")
				sys, hasOld := attr(s, "rpc.system")
				if hasCurrent != tc.current || hasOld != tc.older {
					t.Errorf("%s span: rpc.system.name present %v (want %v), rpc.system present %v (want %v)",
						s.SpanKind(), hasCurrent, tc.current, hasOld, tc.older)
				}
				if tc.older {
					if sys != "kitex" {
						t.Errorf("rpc.system = %q, want kitex", sys)
					}
					wantAttr(t, s, "rpc.service", "backend")
					if !tc.current {
						wantAttr(t, s, "rpc.method", "Echo") // obs-opentelemetry's short method name
					} else {
						wantAttr(t, s, "rpc.method", "echo.EchoService/Echo") // both name it; current wins
					}
					wantAttr(t, s, "request.protocol", "TTHeader|Framed")
				}
			}
		})
	}
}

// A server whose filter rejects the call records no span, yet what its
// handler calls continues the caller's trace, parented by the caller's
// client span; a client whose filter rejects the call records none either
// and still propagates that context.
func TestFilterSkipsSpansButKeepsPropagating(t *testing.T) {
	skipEcho := tracing.WithFilter(func(_ context.Context, ri rpcinfo.RPCInfo) bool {
		return ri.Invocation().MethodName() != "Echo"
	})
	for _, tc := range []struct {
		name             string
		filterNextClient bool
	}{{"next_client_traced", false}, {"next_client_filtered", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			// Installed before the Suites, the signal finishes after them: a
			// token per server means its Suite is done with the call.
			finished := testservice.NewFinishSignal(2)
			backend, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{TraceID: seenSpan},
				server.WithTracer(finished), server.WithSuite(tracing.NewServerSuite(e.opt...)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = backend.Stop() })
			nextOpts := e.opt
			if tc.filterNextClient {
				nextOpts = append(nextOpts[:len(nextOpts):len(nextOpts)], skipEcho)
			}
			toBackend, err := testservice.NewForward(testservice.Thrift, "backend", backend.Addr, client.WithSuite(tracing.NewClientSuite(nextOpts...)))
			if err != nil {
				t.Fatal(err)
			}
			frontend, err := testservice.Start("frontend", testservice.Thrift, &testservice.Handler{Next: toBackend, TraceID: seenSpan},
				server.WithTracer(finished), server.WithSuite(tracing.NewServerSuite(append(e.opt, skipEcho)...)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = frontend.Stop() })
			call, err := testservice.NewForward(testservice.Thrift, "frontend", frontend.Addr, client.WithSuite(tracing.NewClientSuite(e.opt...)))
			if err != nil {
				t.Fatal(err)
			}

			ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
			resp, err := call(ctx, &testservice.Request{Hops: 1})
			root.End()
			if err != nil {
				t.Fatal(err)
			}
			if err := finished.Wait(2, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			// Client spans end before their call returns: every span is in.
			spans := e.rec.Ended()
			want := 4 // root, caller's client span, next client span, backend's server span
			if tc.filterNextClient {
				want = 3
			}
			if len(spans) != want {
				t.Fatalf("got %d spans, want %d (none for the filtered calls): %s", len(spans), want, tree(spans))
			}
			callerSpan := childOf(t, spans, trace.SpanKindClient, root.SpanContext())
			if len(resp.TraceIDs) != 2 {
				t.Fatalf("handlers reported %v, want both hops", resp.TraceIDs)
			}
			// The frontend's handler holds the caller's context as it arrived.
			front := viewOf(t, resp.TraceIDs[0])
			if front.Trace != callerSpan.SpanContext().TraceID().String() || front.Span != callerSpan.SpanContext().SpanID().String() {
				t.Errorf("filtered server's handler saw %+v, want the caller's client span %s", front, callerSpan.SpanContext().SpanID())
			}
			next := callerSpan
			if !tc.filterNextClient {
				next = childOf(t, spans, trace.SpanKindClient, callerSpan.SpanContext())
				if !next.Parent().IsRemote() {
					t.Errorf("next client span's parent is local, want the caller's remote span")
				}
			}
			sv := kindSpan(t, spans, trace.SpanKindServer)
			if sv.Parent().SpanID() != next.SpanContext().SpanID() || sv.SpanContext().TraceID() != root.SpanContext().TraceID() {
				t.Errorf("backend's server span parent %v, want %s in the caller's trace: %s", sv.Parent(), next.SpanContext().SpanID(), tree(spans))
			}
			wantHandlerSaw(t, resp.TraceIDs[1], sv)
		})
	}
}

func TestAttributesFunc(t *testing.T) {
	extra := tracing.WithAttributes(func(_ context.Context, call *rpcmodel.Call) []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("app.side", call.Side.String())}
	})
	e := newEnv(t, extra)
	c, _ := e.oneHop()
	if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	spans := e.waitSpans(2)
	wantAttr(t, kindSpan(t, spans, trace.SpanKindClient), "app.side", "client")
	wantAttr(t, kindSpan(t, spans, trace.SpanKindServer), "app.side", "server")
}

func TestDetailedEvents(t *testing.T) {
	e := newEnv(t, tracing.WithDetailedEvents())
	c, _ := e.oneHop()
	if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	spans := e.waitSpans(2)
	has := func(s sdkSpan, name string) bool {
		for _, ev := range s.Events() {
			if ev.Name == name {
				return true
			}
		}
		return false
	}
	if cl := kindSpan(t, spans, trace.SpanKindClient); !has(cl, "kitex.write.start") || !has(cl, "kitex.read.finish") {
		t.Errorf("client span lacks write/read events: %v", cl.Events())
	}
	if sv := kindSpan(t, spans, trace.SpanKindServer); !has(sv, "kitex.handle.start") || !has(sv, "kitex.handle.finish") {
		t.Errorf("server span lacks handle events: %v", sv.Events())
	}
}

// An unsampled caller still propagates its trace id; the server honours the
// parent's decision under the default parent-based sampler.
func TestUnsampledParentPropagates(t *testing.T) {
	e := newEnv(t)
	c, _ := e.oneHop()
	tid, _ := trace.TraceIDFromHex("0102030405060708090a0b0c0d0e0f10")
	sid, _ := trace.SpanIDFromHex("0102030405060708")
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}) // not sampled

	serverTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	defer func() { _ = serverTP.Shutdown(context.Background()) }()
	prop := propagation.TraceContext{}
	seenc := make(chan trace.SpanContext, 1) // the handler runs on a Kitex goroutine
	h := &testservice.Handler{TraceID: func(ctx context.Context) string {
		seenc <- trace.SpanContextFromContext(ctx)
		return ""
	}}
	svr, err := testservice.Start("unsampled", testservice.Thrift, h,
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(serverTP), tracing.WithPropagators(prop))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svr.Stop() }()
	clientTP := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	defer func() { _ = clientTP.Shutdown(context.Background()) }()
	c, err = echoservice.NewClient("unsampled", client.WithHostPorts(svr.Addr),
		client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(clientTP), tracing.WithPropagators(prop))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Echo(trace.ContextWithRemoteSpanContext(context.Background(), parent), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	if seen := <-seenc; seen.TraceID() != tid || seen.IsSampled() {
		t.Fatalf("server saw %v (sampled %v), want trace %s not sampled", seen.TraceID(), seen.IsSampled(), tid)
	}
}

// The client Suite turns Kitex's default Framed transport into TTHeader so
// context can travel, and leaves a transport the user chose alone.
func TestClientTransport(t *testing.T) {
	cases := []struct {
		name          string
		opts          []client.Option
		suiteOpts     []tracing.Option
		wantTransport string
		propagates    bool
	}{
		{"default_framed_upgraded", nil, nil, "ttheader_framed", true},
		{"grpc_kept", []client.Option{client.WithTransportProtocol(transport.GRPC)}, nil, "grpc", true},
		{"keep_transport", nil, []tracing.Option{tracing.WithKeepTransport()}, "framed", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tracing.WithWireAttributes())
			svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{TraceID: seenSpan},
				server.WithSuite(tracing.NewServerSuite(e.opt...)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = svr.Stop() })
			opts := append([]client.Option{client.WithHostPorts(svr.Addr),
				client.WithSuite(tracing.NewClientSuite(append(e.opt, tc.suiteOpts...)...))}, tc.opts...)
			c, err := echoservice.NewClient("backend", opts...)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Echo(context.Background(), &echo.EchoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			spans := e.waitSpans(2)
			cl, sv := kindSpan(t, spans, trace.SpanKindClient), kindSpan(t, spans, trace.SpanKindServer)
			wantAttr(t, cl, "kitex.transport", tc.wantTransport)
			wantHandlerSaw(t, resp.TraceIds[0], sv)
			seen := viewOf(t, resp.TraceIds[0])
			continued := seen.Trace == cl.SpanContext().TraceID().String() && seen.Parent == cl.SpanContext().SpanID().String()
			if continued != tc.propagates {
				t.Errorf("handler saw %+v; continues the client span %s: %v, want %v", seen, cl.SpanContext().SpanID(), continued, tc.propagates)
			}
			if !tc.propagates && sv.Parent().IsValid() {
				t.Errorf("server span parent %v, want a new root", sv.Parent())
			}
		})
	}
}

// A client call the filter skips, made inside a traced handler, must leave
// the handler's server span alone: it ends with its own attributes, after
// the handler is done.
func TestFilteredNestedClientLeavesServerSpanAlone(t *testing.T) {
	e := newEnv(t)
	skipAll := tracing.WithFilter(func(context.Context, rpcinfo.RPCInfo) bool { return false })
	backend, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Stop() })
	toBackend, err := testservice.NewForward(testservice.Thrift, "backend", backend.Addr,
		client.WithSuite(tracing.NewClientSuite(append(e.opt, skipAll)...)))
	if err != nil {
		t.Fatal(err)
	}
	frontend, err := testservice.Start("frontend", testservice.Thrift, &testservice.Handler{Next: toBackend, TraceID: seenSpan},
		server.WithTracer(e.finished), server.WithSuite(tracing.NewServerSuite(e.opt...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = frontend.Stop() })
	call, err := testservice.NewForward(testservice.Thrift, "frontend", frontend.Addr,
		client.WithSuite(tracing.NewClientSuite(e.opt...)),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "client"}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := call(context.Background(), &testservice.Request{Hops: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The outer client span (a root) and the frontend's server span, its
	// child, whose handler sees it; the filtered call adds none.
	spans := e.waitChain(1)
	wantChain(t, spans, trace.SpanContext{}, resp.TraceIDs, 1)
	sv := kindSpan(t, spans, trace.SpanKindServer)
	wantAttr(t, sv, "service.peer.name", "client")
	if _, ok := attr(sv, "network.peer.address"); !ok {
		t.Errorf("server span lost its own attributes: %v", sv.Attributes())
	}
	if n := len(byKind(spans, trace.SpanKindClient)); n != 1 {
		t.Errorf("%d client spans, want only the outer one", n)
	}
}

// kitex.transport and the sizes are opt-in: absent by default, on every
// span with WithWireAttributes (sizes as Kitex measured the payloads).
func TestWireAttributes(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "WithWireAttributes"}[on], func(t *testing.T) {
			var opts []tracing.Option
			if on {
				opts = append(opts, tracing.WithWireAttributes())
			}
			e := newEnv(t, opts...)
			c, _ := e.oneHop()
			if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "hello"}); err != nil {
				t.Fatal(err)
			}
			for _, s := range e.waitSpans(2) {
				if !on {
					for _, k := range []string{"kitex.transport", "kitex.request.size", "kitex.response.size"} {
						noAttr(t, s, k)
					}
					continue
				}
				wantAttr(t, s, "kitex.transport", "ttheader_framed")
				for _, k := range []string{"kitex.request.size", "kitex.response.size"} {
					if v, ok := attr(s, k); !ok || v == "0" {
						t.Errorf("%s span: %s = %q (present %v), want the payload size", s.SpanKind(), k, v, ok)
					}
				}
			}
		})
	}
}
