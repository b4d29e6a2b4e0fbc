package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/server"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/logging"
	"github.com/kitexsuite/suite/tracing"
)

// syncBuffer is written by Kitex's handler goroutines and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// klogAdapter is one of the kitexsuite logging adapters, as the table test
// sees it: a klog.FullLogger writing JSON records to an io.Writer.
type klogAdapter struct {
	name string
	make func(out *syncBuffer) klog.FullLogger
}

var adapters = []klogAdapter{
	{"slog", func(out *syncBuffer) klog.FullLogger {
		l := logging.NewLogger(logging.WithLevel(klog.LevelDebug))
		l.SetOutput(out)
		return l
	}},
}

// A real Kitex server whose handler logs through klog.CtxInfof: with each
// adapter as Kitex's logger, the record carries the trace id and span id of
// the call's server span.
func TestHandlerLogCarriesServerSpan(t *testing.T) {
	for _, a := range adapters {
		t.Run(a.name, func(t *testing.T) {
			out := &syncBuffer{}
			prev := klog.DefaultLogger()
			klog.SetLogger(a.make(out))
			defer klog.SetLogger(prev)

			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			h := &testservice.Handler{TraceID: func(ctx context.Context) string {
				klog.CtxInfof(ctx, "handling %s", "echo")
				return ""
			}}
			finished := testservice.NewFinishSignal(1)
			svr, err := testservice.Start("backend", testservice.Thrift, h, server.WithTracer(finished),
				server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(tp))))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = svr.Stop() }()
			c, err := echoservice.NewClient("backend", client.WithHostPorts(svr.Addr),
				client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(tp))))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
				t.Fatal(err)
			}
			wait(t, finished, 1)

			var serverSpan sdktrace.ReadOnlySpan
			for _, s := range spans.Ended() {
				if s.SpanKind() == trace.SpanKindServer {
					serverSpan = s
				}
			}
			if serverSpan == nil {
				t.Fatal("no server span")
			}
			var rec map[string]any
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.Contains(line, "handling echo") {
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("record %q: %v", line, err)
					}
				}
			}
			if rec == nil {
				t.Fatalf("no record of the handler's log in:\n%s", out.String())
			}
			if rec["trace_id"] != serverSpan.SpanContext().TraceID().String() || rec["span_id"] != serverSpan.SpanContext().SpanID().String() {
				t.Errorf("record %v, want the server span's ids %s / %s", rec, serverSpan.SpanContext().TraceID(), serverSpan.SpanContext().SpanID())
			}
		})
	}
}
