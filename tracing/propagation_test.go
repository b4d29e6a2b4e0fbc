package tracing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
)

var grpcTransport = []client.Option{client.WithTransportProtocol(transport.GRPC)}

// Every span of a call through a chain has exactly the parent it should:
// the caller's span, then client, server, client, server... by span id, in
// one trace; each handler sees its own server span and the baggage
// reaches the last hop.
func TestThreeHopChainOneTrace(t *testing.T) {
	thrift := func(name string) hop { return hop{name, testservice.Thrift, nil} }
	cases := []struct {
		name       string
		hops       []hop
		callerSpan bool // false: the first client span is a root
	}{
		{"thrift_ttheader", []hop{thrift("frontend"), thrift("backend")}, true},
		{"kitex_protobuf", []hop{{"frontend", testservice.Protobuf, nil}, {"backend", testservice.Protobuf, nil}}, true},
		{"grpc", []hop{{"frontend", testservice.Protobuf, grpcTransport}, {"backend", testservice.Protobuf, grpcTransport}}, true},
		{"thrift_then_grpc", []hop{thrift("frontend"), {"backend", testservice.Protobuf, grpcTransport}}, true},
		{"thrift_over_grpc", []hop{{"frontend", testservice.Thrift, grpcTransport}, thrift("backend")}, true},
		{"thrift_grpc_thrift", []hop{thrift("frontend"), {"middle", testservice.Protobuf, grpcTransport}, thrift("backend")}, true},
		{"no_caller_span", []hop{thrift("frontend"), thrift("middle"), thrift("backend")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			call := e.chain(tc.hops...)

			ctx, root := context.Background(), trace.SpanFromContext(context.Background()) // no span
			if tc.callerSpan {
				ctx, root = e.tp.Tracer("test").Start(ctx, "root")
			}
			member, _ := baggage.NewMember("tenant", "acme")
			bag, _ := baggage.New(member)
			resp, err := call(baggage.ContextWithBaggage(ctx, bag), &testservice.Request{Message: "hi", Hops: int32(len(tc.hops) - 1)})
			root.End()
			if err != nil {
				t.Fatal(err)
			}
			if resp.Baggage["tenant"] != "acme" {
				t.Fatalf("last hop saw baggage %v, want tenant=acme", resp.Baggage)
			}
			caller := root.SpanContext() // invalid without a caller span
			wantChain(t, e.waitChain(len(tc.hops)), caller, resp.TraceIDs, len(tc.hops))
		})
	}
}

// With no propagator configured anywhere (OTel's global one carries no
// fields until someone sets it), the Suites still speak W3C to each other.
func TestDefaultPropagatorIsW3C(t *testing.T) {
	e := newEnv(t)
	e.opt = []tracing.Option{tracing.WithTracerProvider(e.tp)} // no WithPropagators
	call := e.chain(hop{"backend", testservice.Thrift, nil})
	ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
	member, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(member)
	resp, err := call(baggage.ContextWithBaggage(ctx, bag), &testservice.Request{Message: "hi"})
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Baggage["tenant"] != "acme" {
		t.Fatalf("server saw baggage %v, want tenant=acme", resp.Baggage)
	}
	wantChain(t, e.waitChain(1), root.SpanContext(), resp.TraceIDs, 1)
}

// stale is a traceparent of another trace, as a gateway forwarding its own
// caller's headers leaves in the outgoing gRPC metadata.
const stale = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// The client Suite sets the outgoing traceparent, never appends it: the
// server reads the first value, so a stale one already in the metadata
// (appended, set, or under another case) would win. The caller's own
// metadata is left as it was.
func TestGRPCOutgoingTraceparentReplaced(t *testing.T) {
	for _, tc := range []struct {
		name string
		md   metadata.MD // set with NewOutgoingContext; nil: appended
	}{
		{"appended", nil},
		{"set", metadata.Pairs("traceparent", stale)},
		{"other_case", metadata.MD{"Traceparent": {stale}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			call := e.chain(hop{"backend", testservice.Protobuf, grpcTransport})
			ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
			if tc.md == nil {
				ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", stale)
			} else {
				ctx = metadata.NewOutgoingContext(ctx, tc.md)
			}
			resp, err := call(ctx, &testservice.Request{Message: "hi"})
			root.End()
			if err != nil {
				t.Fatal(err)
			}
			wantChain(t, e.waitChain(1), root.SpanContext(), resp.TraceIDs, 1)
			md, _ := metadata.FromOutgoingContext(ctx)
			intact := len(md) == 1
			for k, v := range md {
				intact = intact && strings.EqualFold(k, "traceparent") && len(v) == 1 && v[0] == stale
			}
			if !intact {
				t.Errorf("the caller's outgoing metadata is now %v, want only the stale traceparent it set", md)
			}
		})
	}
}

// gRPC metadata keys are case-insensitive: the server Suite reads a
// "Traceparent" key. HTTP/2 delivers keys in lower case, so the key comes
// from a meta handler ahead of the Suite that rebuilds the metadata (as a
// proxy layer copying canonical HTTP headers might).
func TestGRPCIncomingKeysCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	canonical := remote.NewCustomMetaHandler(remote.WithOnReadStream(func(ctx context.Context) (context.Context, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		out := metadata.MD{}
		for k, v := range md {
			if k == "traceparent" {
				k = "Traceparent"
			}
			out[k] = v
		}
		return metadata.NewIncomingContext(ctx, out), nil
	}))
	svr, err := testservice.Start("backend", testservice.Protobuf, &testservice.Handler{TraceID: seenSpan},
		server.WithMetaHandler(canonical), server.WithTracer(e.finished), server.WithSuite(tracing.NewServerSuite(e.opt...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svr.Stop() })
	call, err := testservice.NewForward(testservice.Protobuf, "backend", svr.Addr,
		append([]client.Option{client.WithSuite(tracing.NewClientSuite(e.opt...))}, grpcTransport...)...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := call(context.Background(), &testservice.Request{Message: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	wantChain(t, e.waitChain(1), trace.SpanContext{}, resp.TraceIDs, 1)
}
