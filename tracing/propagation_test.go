package tracing_test

import (
	"context"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
)

var grpcTransport = []client.Option{client.WithTransportProtocol(transport.GRPC)}

func TestThreeHopChainOneTrace(t *testing.T) {
	cases := []struct {
		name string
		hops []hop
	}{
		{"thrift_ttheader", []hop{{"frontend", testservice.Thrift, nil}, {"backend", testservice.Thrift, nil}}},
		{"kitex_protobuf", []hop{{"frontend", testservice.Protobuf, nil}, {"backend", testservice.Protobuf, nil}}},
		{"grpc", []hop{{"frontend", testservice.Protobuf, grpcTransport}, {"backend", testservice.Protobuf, grpcTransport}}},
		{"thrift_then_grpc", []hop{{"frontend", testservice.Thrift, nil}, {"backend", testservice.Protobuf, grpcTransport}}},
		{"thrift_over_grpc", []hop{{"frontend", testservice.Thrift, grpcTransport}, {"backend", testservice.Thrift, nil}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			call := e.chain(tc.hops...)

			ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
			member, _ := baggage.NewMember("tenant", "acme")
			bag, _ := baggage.New(member)
			ctx = baggage.ContextWithBaggage(ctx, bag)
			resp, err := call(ctx, &testservice.Request{Message: "hi", Hops: 1})
			root.End()
			if err != nil {
				t.Fatal(err)
			}
			want := root.SpanContext().TraceID().String()
			if len(resp.TraceIDs) != 2 || resp.TraceIDs[0] != want || resp.TraceIDs[1] != want {
				t.Fatalf("handlers saw trace ids %v, want %s on both hops", resp.TraceIDs, want)
			}
			if resp.Baggage["tenant"] != "acme" {
				t.Fatalf("last hop saw baggage %v, want tenant=acme", resp.Baggage)
			}

			spans := e.waitSpans(5) // root, 2 client, 2 server
			clients, servers := byKind(spans, trace.SpanKindClient), byKind(spans, trace.SpanKindServer)
			if len(clients) != 2 || len(servers) != 2 {
				t.Fatalf("got %d client and %d server spans, want 2 and 2", len(clients), len(servers))
			}
			// client(root) -> server(frontend) -> client -> server(backend)
			parentOf := map[trace.SpanID]trace.SpanID{}
			for _, s := range spans {
				if s.SpanContext().TraceID().String() != want {
					t.Fatalf("span %q has trace id %s, want %s", s.Name(), s.SpanContext().TraceID(), want)
				}
				parentOf[s.SpanContext().SpanID()] = s.Parent().SpanID()
			}
			for _, s := range servers {
				p := s.Parent()
				if !p.IsRemote() {
					t.Errorf("server span %q parent is not remote", s.Name())
				}
				if !isClientSpan(clients, p.SpanID()) {
					t.Errorf("server span %q parent %s is not a client span", s.Name(), p.SpanID())
				}
			}
			firstClient := findByParent(clients, root.SpanContext().SpanID())
			if firstClient == nil {
				t.Fatal("no client span is a child of the root span")
			}
		})
	}
}

func isClientSpan(clients []sdkSpan, id trace.SpanID) bool {
	for _, c := range clients {
		if c.SpanContext().SpanID() == id {
			return true
		}
	}
	return false
}

func findByParent(spans []sdkSpan, parent trace.SpanID) sdkSpan {
	for _, s := range spans {
		if s.Parent().SpanID() == parent {
			return s
		}
	}
	return nil
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
	if resp.TraceIDs[0] != root.SpanContext().TraceID().String() || resp.Baggage["tenant"] != "acme" {
		t.Fatalf("server saw trace %v baggage %v, want %s and tenant=acme", resp.TraceIDs, resp.Baggage, root.SpanContext().TraceID())
	}
}
