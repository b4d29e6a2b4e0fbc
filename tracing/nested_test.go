package tracing_test

import (
	"context"
	"net"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/fallback"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// A Kitex fallback runs in the failed call's context, before that call's
// Finish. A second client called from it whose Suite filters the call or
// does not sample it must leave the outer call's span alone: no retry
// event, the outer call's own attributes and status, ended by the outer
// Finish, exactly once.
func TestNestedCallNeverTouchesOuterRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		inner func(e *env) []tracing.Option
	}{
		{"filtered", func(e *env) []tracing.Option {
			return append(e.opt, tracing.WithFilter(func(context.Context, rpcinfo.RPCInfo) bool { return false }))
		}},
		{"unsampled", func(e *env) []tracing.Option {
			never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
			return append(e.opt, tracing.WithTracerProvider(never))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			failing := e.startBackend(testservice.Thrift)
			spare := e.startBackend(testservice.Thrift)
			second, err := echoservice.NewClient("spare", client.WithHostPorts(spare), client.WithSuite(tracing.NewClientSuite(tc.inner(e)...)))
			if err != nil {
				t.Fatal(err)
			}
			fb := fallback.ErrorFallback(fallback.UnwrapHelper(func(ctx context.Context, req, _ interface{}, _ error) (interface{}, error) {
				return second.Echo(ctx, &echo.EchoRequest{Message: req.(*echo.EchoRequest).Message})
			}))
			first, err := echoservice.NewClient("backend", client.WithHostPorts(failing), client.WithSuite(tracing.NewClientSuite(e.opt...)),
				client.WithFallback(fb))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := first.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionError}); err != nil {
				t.Fatalf("the fallback should have answered: %v", err)
			}
			// The failing server's span, the spare server's span, and the
			// outer client span; the inner client call records none.
			spans := e.waitSpans(3)
			clients := byKind(spans, trace.SpanKindClient)
			if len(clients) != 1 {
				t.Fatalf("client spans %v, want exactly the outer call's", names(spans))
			}
			outer := clients[0]
			for _, ev := range outer.Events() {
				if ev.Name != "exception" {
					t.Errorf("outer span has event %q, want only its exception (no bogus retry)", ev.Name)
				}
			}
			wantAttr(t, outer, "server.port", portOf(t, failing))
			wantAttr(t, outer, "error.type", "handler_error")
			servers := byKind(spans, trace.SpanKindServer)
			if len(servers) != 2 {
				t.Fatalf("server spans %v, want 2", names(spans))
			}
			for _, sv := range servers {
				if p, _ := attr(sv, "server.port"); p == portOf(t, failing) && sv.Parent().SpanID() != outer.SpanContext().SpanID() {
					t.Errorf("failing server's span parent %v, want the outer client span", sv.Parent())
				}
			}
		})
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
