package tracing

import (
	"context"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
)

// A server whose handler makes a traced client call is marked deep, so its
// Inbound starts requests on a 16 KiB stack; a leaf server is not.
func TestHandlerCallMarksServerStackDeep(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	opts := []Option{WithTracerProvider(tp)}

	backSuite := NewServerSuite(opts...)
	back, err := testservice.Start("back", testservice.Thrift, &testservice.Handler{}, server.WithSuite(backSuite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = back.Stop() })
	next, err := testservice.NewForward(testservice.Thrift, "back", back.Addr, client.WithSuite(NewClientSuite(opts...)))
	if err != nil {
		t.Fatal(err)
	}
	frontSuite := NewServerSuite(opts...)
	front, err := testservice.Start("front", testservice.Thrift, &testservice.Handler{Next: next}, server.WithSuite(frontSuite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = front.Stop() })
	c, err := echoservice.NewClient("front", client.WithHostPorts(front.Addr), client.WithSuite(NewClientSuite(opts...)))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "leaf only"}); err != nil {
		t.Fatal(err)
	}
	if frontSuite.tracer.stack.Deep() || backSuite.tracer.stack.Deep() {
		t.Fatalf("deep after a call no handler forwarded: front %v, back %v", frontSuite.tracer.stack.Deep(), backSuite.tracer.stack.Deep())
	}
	if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "through", Hops: 1}); err != nil {
		t.Fatal(err)
	}
	if !frontSuite.tracer.stack.Deep() {
		t.Fatal("the front server's handler made a traced call, but its stack hint is not deep")
	}
	if backSuite.tracer.stack.Deep() {
		t.Fatal("the back server is a leaf, but its stack hint is deep")
	}
}
