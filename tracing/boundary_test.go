package tracing_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bytedance/gopkg/cloud/metainfo"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
)

// unaryTransports are the two ways a unary call carries headers: Thrift
// over TTHeader and Protobuf over Kitex's gRPC.
var unaryTransports = []struct {
	name  string
	codec testservice.Codec
	tp    transport.Protocol
}{{"ttheader", testservice.Thrift, transport.TTHeaderFramed}, {"grpc", testservice.Protobuf, transport.GRPC}}

// startBackend starts a server with the server Suite built from opts that
// reports the trace id and baggage its handler sees.
func (e *env) startBackend(codec testservice.Codec, opts ...tracing.Option) string {
	e.t.Helper()
	h := &testservice.Handler{TraceID: traceIDOf, Baggage: baggageOf}
	svr, err := testservice.Start("backend", codec, h, server.WithSuite(tracing.NewServerSuite(append(e.opt, opts...)...)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = svr.Stop() })
	return svr.Addr
}

func withMember(t *testing.T, ctx context.Context, k, v string) context.Context {
	t.Helper()
	m, err := baggage.NewMember(k, v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := baggage.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return baggage.ContextWithBaggage(ctx, b)
}

// WithPublicEndpoint: the server span starts a new trace, linked to (not
// parented by) the caller's span; WithDropIncomingBaggage: the handler
// sees no baggage while the trace itself is continued.
func TestTrustBoundary(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		opts                  []tracing.Option
		newRoot, keepsBaggage bool
	}{
		{"trusted", nil, false, true},
		{"public endpoint", []tracing.Option{tracing.WithPublicEndpoint()}, true, true},
		{"public endpoint fn", []tracing.Option{tracing.WithPublicEndpointFn(func(_ context.Context, ri rpcinfo.RPCInfo) bool {
			return ri.From().ServiceName() == "client"
		})}, true, true},
		{"drop baggage", []tracing.Option{tracing.WithDropIncomingBaggage()}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			addr := e.startBackend(testservice.Thrift, tc.opts...)
			fwd, err := testservice.NewForward(testservice.Thrift, "backend", addr, client.WithSuite(tracing.NewClientSuite(e.opt...)),
				client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "client"}))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := fwd(withMember(t, context.Background(), "user", "alice"), &testservice.Request{Message: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			spans := e.waitSpans(2)
			cl, sv := kindSpan(t, spans, trace.SpanKindClient), kindSpan(t, spans, trace.SpanKindServer)
			if tc.newRoot {
				if sv.Parent().IsValid() || sv.SpanContext().TraceID() == cl.SpanContext().TraceID() {
					t.Errorf("server span: parent %v trace %v, want a new root (caller's trace %v)", sv.Parent(), sv.SpanContext().TraceID(), cl.SpanContext().TraceID())
				}
				if links := sv.Links(); len(links) != 1 || !links[0].SpanContext.Equal(cl.SpanContext().WithRemote(true)) {
					t.Errorf("server span links %v, want exactly the caller's span %v", links, cl.SpanContext())
				}
			} else if sv.Parent().SpanID() != cl.SpanContext().SpanID() || sv.SpanContext().TraceID() != cl.SpanContext().TraceID() {
				t.Errorf("server span parent %v, want the client span %v", sv.Parent(), cl.SpanContext())
			}
			if want := sv.SpanContext().TraceID().String(); len(resp.TraceIDs) != 1 || resp.TraceIDs[0] != want {
				t.Errorf("handler saw trace %v, want its server span's %s", resp.TraceIDs, want)
			}
			if got := resp.Baggage["user"]; (got == "alice") != tc.keepsBaggage {
				t.Errorf("handler saw baggage %v; keeps baggage %v", resp.Baggage, tc.keepsBaggage)
			}
		})
	}
}

// A caller still on obs-opentelemetry writes the context as Kitex
// metainfo (RPC_TRANSIT_traceparent over TTHeader, rpc-transit-traceparent
// over gRPC), exactly as a plain Kitex client with metainfo values does:
// the server Suite continues it, and its baggage.
func TestServerReadsMetainfoForm(t *testing.T) {
	for _, tc := range unaryTransports {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			addr := e.startBackend(tc.codec)
			// No client Suite: the caller writes only metainfo.
			fwd, err := testservice.NewForward(tc.codec, "backend", addr, client.WithTransportProtocol(tc.tp))
			if err != nil {
				t.Fatal(err)
			}
			ctx, parent := e.tp.Tracer("test").Start(context.Background(), "caller")
			carrier := propagation.MapCarrier{}
			prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
			prop.Inject(withMember(t, ctx, "user", "alice"), carrier)
			for k, v := range carrier {
				ctx = metainfo.WithValue(ctx, k, v)
			}
			resp, err := fwd(ctx, &testservice.Request{Message: "hi"})
			parent.End()
			if err != nil {
				t.Fatal(err)
			}
			spans := e.waitSpans(2)
			sv := kindSpan(t, spans, trace.SpanKindServer)
			if sv.Parent().SpanID() != parent.SpanContext().SpanID() || sv.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				t.Errorf("server span parent %v, want the caller's span %v", sv.Parent(), parent.SpanContext())
			}
			if resp.Baggage["user"] != "alice" {
				t.Errorf("handler saw baggage %v, want user=alice", resp.Baggage)
			}
		})
	}
}

// Without WithPropagators the Suites use the global propagator as it is at
// each call: one set after the Suites were built applies, and a global set
// to one with no fields (OTEL_PROPAGATORS=none) propagates nothing. Globals
// are process state: this test restores them and runs alone.
func TestGlobalPropagatorResolvedPerCall(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	e := newEnv(t)
	// Suites with a provider but no propagator option.
	opts := []tracing.Option{tracing.WithTracerProvider(e.tp)}
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{TraceID: traceIDOf},
		server.WithSuite(tracing.NewServerSuite(opts...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svr.Stop() })
	fwd, err := testservice.NewForward(testservice.Thrift, "backend", svr.Addr, client.WithSuite(tracing.NewClientSuite(opts...)))
	if err != nil {
		t.Fatal(err)
	}
	call := func() (cl, sv sdkSpan) {
		t.Helper()
		e.rec.Reset()
		if _, err := fwd(context.Background(), &testservice.Request{Message: "hi"}); err != nil {
			t.Fatal(err)
		}
		spans := e.waitSpans(2)
		return kindSpan(t, spans, trace.SpanKindClient), kindSpan(t, spans, trace.SpanKindServer)
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator()) // "none", set after the Suites were built
	if cl, sv := call(); sv.SpanContext().TraceID() == cl.SpanContext().TraceID() || sv.Parent().IsValid() {
		t.Errorf("global propagator none: the server continued the caller's trace (parent %v)", sv.Parent())
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if cl, sv := call(); sv.Parent().SpanID() != cl.SpanContext().SpanID() {
		t.Errorf("global W3C set later: server parent %v, want the client span %v", sv.Parent(), cl.SpanContext())
	}
}

// In Kitex's default gRPC metainfo mode a server's incoming metainfo is
// sent on by every call it makes. A caller writing the trace context as
// metainfo (obs-opentelemetry) → a server and client with the Suites →
// a next hop reading metainfo: the next hop sees this hop's call (with
// WithContribMetainfoWrite) or nothing, never the caller's stale context.
func TestStaleMetainfoIsNotForwardedOverGRPC(t *testing.T) {
	for _, metainfoWrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("metainfo write %v", metainfoWrite), func(t *testing.T) {
			e := newEnv(t)
			var opts []tracing.Option
			if metainfoWrite {
				opts = append(opts, tracing.WithContribMetainfoWrite())
			}
			// The next hop: no Suite, it reads what a metainfo reader reads.
			next, err := testservice.Start("next", testservice.Protobuf, &testservice.Handler{
				TraceID: func(ctx context.Context) string { v, _ := metainfo.GetValue(ctx, "TRACEPARENT"); return v },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = next.Stop() })
			toNext, err := testservice.NewForward(testservice.Protobuf, "next", next.Addr,
				client.WithTransportProtocol(transport.GRPC), client.WithSuite(tracing.NewClientSuite(append(e.opt, opts...)...)))
			if err != nil {
				t.Fatal(err)
			}
			mid, err := testservice.Start("mid", testservice.Protobuf, &testservice.Handler{Next: toNext},
				server.WithSuite(tracing.NewServerSuite(e.opt...)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = mid.Stop() })
			toMid, err := testservice.NewForward(testservice.Protobuf, "mid", mid.Addr, client.WithTransportProtocol(transport.GRPC))
			if err != nil {
				t.Fatal(err)
			}
			ctx, caller := e.tp.Tracer("test").Start(context.Background(), "caller")
			carrier := propagation.MapCarrier{}
			propagation.TraceContext{}.Inject(ctx, carrier)
			stale := carrier["traceparent"]
			resp, err := toMid(metainfo.WithValue(ctx, "traceparent", stale), &testservice.Request{Message: "hi", Hops: 1})
			caller.End()
			if err != nil {
				t.Fatal(err)
			}
			spans := e.waitSpans(3) // caller, mid's server, mid's client
			cl := kindSpan(t, spans, trace.SpanKindClient)
			want := ""
			if metainfoWrite {
				want = fmt.Sprintf("00-%s-%s-01", cl.SpanContext().TraceID(), cl.SpanContext().SpanID())
			}
			if got := resp.TraceIDs[len(resp.TraceIDs)-1]; got != want {
				t.Fatalf("the next hop read traceparent %q from metainfo, want %q (the caller's stale one: %q)", got, want, stale)
			}
		})
	}
}
