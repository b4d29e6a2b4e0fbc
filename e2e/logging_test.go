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
	kitexlogrus "github.com/kitexsuite/suite/logging/logrus"
	kitexzap "github.com/kitexsuite/suite/logging/zap"
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
	{"zap", func(out *syncBuffer) klog.FullLogger {
		l := kitexzap.NewLogger(kitexzap.WithLevel(klog.LevelDebug))
		l.SetOutput(out)
		return l
	}},
	{"logrus", func(out *syncBuffer) klog.FullLogger {
		l := kitexlogrus.NewLogger(kitexlogrus.WithLevel(klog.LevelDebug))
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
			useLogger(t, a.make(out))

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

// The same calls through each adapter give the same fields: level names,
// message, trace fields present exactly when there is a span.
func TestAdaptersWriteTheSameFields(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	type want struct{ level, msg, traceID string }
	calls := []struct {
		do   func(l klog.FullLogger)
		want *want // nil: nothing written
	}{
		{func(l klog.FullLogger) { l.CtxInfof(ctx, "info %d", 1) }, &want{"INFO", "info 1", span.SpanContext().TraceID().String()}},
		{func(l klog.FullLogger) { l.CtxNoticef(ctx, "notice") }, &want{"NOTICE", "notice", span.SpanContext().TraceID().String()}},
		{func(l klog.FullLogger) { l.CtxWarnf(context.Background(), "no span") }, &want{"WARN", "no span", ""}},
		{func(l klog.FullLogger) { l.Errorf("plain %s", "error") }, &want{"ERROR", "plain error", ""}},
		{func(l klog.FullLogger) { l.CtxTracef(ctx, "below debug") }, nil},
		{func(l klog.FullLogger) { l.Debug("debug ", "joined") }, &want{"DEBUG", "debug joined", ""}},
	}
	for _, a := range adapters {
		t.Run(a.name, func(t *testing.T) {
			for i, c := range calls {
				out := &syncBuffer{}
				l := a.make(out)
				c.do(l)
				text := strings.TrimSpace(out.String())
				if c.want == nil {
					if text != "" {
						t.Errorf("call %d: wrote %q, want nothing", i, text)
					}
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(text), &rec); err != nil {
					t.Fatalf("call %d: %q: %v", i, text, err)
				}
				if rec["level"] != c.want.level || rec["msg"] != c.want.msg {
					t.Errorf("call %d: level %v msg %v, want %s %q", i, rec["level"], rec["msg"], c.want.level, c.want.msg)
				}
				tid, has := rec["trace_id"]
				if c.want.traceID == "" && has {
					t.Errorf("call %d: trace_id %v without a span", i, tid)
				}
				if c.want.traceID != "" && (tid != c.want.traceID || rec["span_id"] != span.SpanContext().SpanID().String() || rec["trace_flags"] != "01") {
					t.Errorf("call %d: trace fields %v %v %v", i, tid, rec["span_id"], rec["trace_flags"])
				}
				if _, ok := rec["time"]; !ok {
					t.Errorf("call %d: no time field", i)
				}
			}
		})
	}
}

// Kitex logs a failed request with the context it had before the handler,
// which holds the caller's span context: the record must still carry the
// server span's id (published by the tracing Suite), not the caller's.
func TestKitexOwnLogCarriesServerSpan(t *testing.T) {
	for _, a := range adapters {
		t.Run(a.name, func(t *testing.T) {
			out := &syncBuffer{}
			useLogger(t, a.make(out))
			spans := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			finished := testservice.NewFinishSignal(1)
			svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{}, server.WithTracer(finished),
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
			if _, err := c.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionError}); err == nil {
				t.Fatal("want the handler's error")
			}
			wait(t, finished, 1)
			var serverSpan sdktrace.ReadOnlySpan
			for _, s := range spans.Ended() {
				if s.SpanKind() == trace.SpanKindServer {
					serverSpan = s
				}
			}
			var rec map[string]any
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.Contains(line, "processing request error") {
					_ = json.Unmarshal([]byte(line), &rec)
				}
			}
			if rec == nil || serverSpan == nil {
				t.Fatalf("no Kitex error record or no server span in:\n%s", out.String())
			}
			if rec["span_id"] != serverSpan.SpanContext().SpanID().String() {
				t.Errorf("Kitex's record has span_id %v, want the server span %s", rec["span_id"], serverSpan.SpanContext().SpanID())
			}
		})
	}
}
