package tracing_test

import (
	"context"
	"fmt"
	"sort"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// A server and a client, each with one Suite: the client's context reaches
// the server, and both ends of the call are spans of one trace.
func Example() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

	// Server side: one option. (testservice.Start wraps echoservice.NewServer
	// on a loopback listener.)
	svr, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{},
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(tp), tracing.WithPropagators(prop))))
	if err != nil {
		panic(err)
	}

	// Client side: one option.
	cli := echoservice.MustNewClient("echo", client.WithHostPorts(svr.Addr),
		client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(tp), tracing.WithPropagators(prop))))
	if _, err := cli.Echo(context.Background(), &echo.EchoRequest{Message: "hello"}); err != nil {
		panic(err)
	}
	_ = svr.Stop() // the server ends its span after replying; Stop waits for it
	_ = tp.Shutdown(context.Background())

	spans := recorder.Ended()
	var lines []string
	for _, s := range spans {
		lines = append(lines, fmt.Sprintf("%s %s same-trace=%v", s.SpanKind(), s.Name(),
			s.SpanContext().TraceID() == spans[0].SpanContext().TraceID()))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// client echo.EchoService/Echo same-trace=true
	// server echo.EchoService/Echo same-trace=true
}
