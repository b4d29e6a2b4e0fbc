package tracing_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/callopt"
	"github.com/cloudwego/kitex/pkg/retry"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// With a Kitex retry policy, the call's CLIENT span covers all attempts;
// every attempt after the first is a `kitex.retry` event on it, the count is
// in kitex.retry.attempts, and each attempt's SERVER span is its child.
func TestRetryAttemptsAreVisible(t *testing.T) {
	e := newEnv(t)
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{}, server.WithSuite(tracing.NewServerSuite(e.opt...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svr.Stop() })
	policy := retry.NewFailurePolicy()
	policy.WithMaxRetryTimes(2)
	c, err := echoservice.NewClient("backend", client.WithHostPorts(svr.Addr),
		client.WithSuite(tracing.NewClientSuite(e.opt...)), client.WithFailureRetry(policy))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionSleep, SleepMs: 200},
		callopt.WithRPCTimeout(20*time.Millisecond))
	if err == nil {
		t.Fatal("want every attempt to time out")
	}
	spans := e.waitSpans(4) // one client span, three server spans
	cl := kindSpan(t, spans, trace.SpanKindClient)
	wantAttr(t, cl, "kitex.retry.attempts", "3")
	retries := 0
	for _, ev := range cl.Events() {
		if ev.Name == "kitex.retry" {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("client span has %d kitex.retry events, want 2", retries)
	}
	servers := byKind(spans, trace.SpanKindServer)
	if len(servers) != 3 {
		t.Fatalf("want 3 server spans (one per attempt), got %v", names(spans))
	}
	for _, s := range servers {
		if s.Parent().SpanID() != cl.SpanContext().SpanID() {
			t.Errorf("attempt's server span parent %s, want the client span", s.Parent().SpanID())
		}
	}
}
