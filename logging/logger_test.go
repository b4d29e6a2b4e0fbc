package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/codes"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/logging"
)

// lines decodes the JSON records written to buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func spanCtx(t *testing.T) (context.Context, trace.Span, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	return ctx, span, rec
}

func TestCtxMethodsAddTraceFields(t *testing.T) {
	var buf bytes.Buffer
	l := logging.NewLogger(logging.WithLevel(klog.LevelTrace))
	l.SetOutput(&buf)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxInfof(ctx, "hello %s", "world")
	l.CtxInfof(context.Background(), "no span")
	l.Infof("no ctx")
	got := lines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("got %d records, want 3", len(got))
	}
	sc := span.SpanContext()
	if got[0]["msg"] != "hello world" || got[0]["trace_id"] != sc.TraceID().String() ||
		got[0]["span_id"] != sc.SpanID().String() || got[0]["trace_flags"] != "01" {
		t.Errorf("record with a span: %v", got[0])
	}
	for _, r := range got[1:] {
		if _, ok := r["trace_id"]; ok {
			t.Errorf("record without a span has trace fields: %v", r)
		}
	}
}

func TestLevelsAndNames(t *testing.T) {
	var buf bytes.Buffer
	l := logging.NewLogger(logging.WithExitFunc(func(int) {}))
	l.SetOutput(&buf)
	l.SetLevel(klog.LevelNotice)
	l.Info("dropped")
	l.Notice("kept")
	l.Warnf("kept %d", 2)
	l.Fatal("fatal")
	var levels []string
	for _, r := range lines(t, &buf) {
		levels = append(levels, r["level"].(string))
	}
	if strings.Join(levels, ",") != "NOTICE,WARN,FATAL" {
		t.Errorf("levels %v, want NOTICE,WARN,FATAL", levels)
	}
}

func TestFatalCallsTheExitFunc(t *testing.T) {
	var buf bytes.Buffer
	var codes []int
	l := logging.NewLogger(logging.WithExitFunc(func(c int) { codes = append(codes, c) }))
	l.SetOutput(&buf)
	l.Fatal("a")
	l.Fatalf("b %d", 1)
	l.CtxFatalf(context.Background(), "c")
	if len(codes) != 3 || codes[0] != 1 {
		t.Fatalf("exit called with %v, want three times 1", codes)
	}
	if n := len(lines(t, &buf)); n != 3 {
		t.Errorf("%d fatal records, want 3", n)
	}
}

// The kitex-contrib slog adapter loses trace fields after With; ours keeps
// them through With and WithGroup.
func TestWithAndGroupKeepTraceFields(t *testing.T) {
	var buf bytes.Buffer
	base := logging.NewLogger()
	base.SetOutput(&buf)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	base.With("service", "orders").CtxInfof(ctx, "with")
	base.WithGroup("req").With("id", 7).CtxInfof(ctx, "group")
	got := lines(t, &buf)
	tid := span.SpanContext().TraceID().String()
	if got[0]["trace_id"] != tid || got[0]["service"] != "orders" {
		t.Errorf("With lost fields: %v", got[0])
	}
	req, _ := got[1]["req"].(map[string]any)
	if req == nil || req["trace_id"] != tid || req["id"] != float64(7) {
		t.Errorf("WithGroup lost fields: %v", got[1])
	}
}

func TestFieldNamesAndUserHandler(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	l := logging.NewLogger(logging.WithHandler(h), logging.WithLevel(klog.LevelDebug),
		logging.WithFieldNames(logging.FieldNames{TraceID: "traceID"}))
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxDebugf(ctx, "custom")
	out := buf.String()
	if !strings.Contains(out, "traceID="+span.SpanContext().TraceID().String()) || !strings.Contains(out, "span_id=") {
		t.Errorf("text record %q lacks renamed traceID and default span_id", out)
	}
}

func TestErrorMarksSpanIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		var opts []logging.Option
		if on {
			opts = append(opts, logging.WithErrorMarksSpan())
		}
		l := logging.NewLogger(opts...)
		l.SetOutput(&bytes.Buffer{})
		ctx, span, rec := spanCtx(t)
		l.CtxErrorf(ctx, "boom %d", 1)
		span.End()
		st := rec.Ended()[0].Status()
		if on && (st.Code != codes.Error || st.Description != "boom 1") {
			t.Errorf("with WithErrorMarksSpan: status %v, want Error \"boom 1\"", st)
		}
		if !on && st.Code != codes.Unset {
			t.Errorf("by default: status %v, want Unset", st)
		}
	}
}

// memExporter keeps what the SDK's log pipeline exports.
type memExporter struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (e *memExporter) Export(_ context.Context, rs []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rs {
		e.records = append(e.records, r.Clone())
	}
	return nil
}
func (e *memExporter) Shutdown(context.Context) error   { return nil }
func (e *memExporter) ForceFlush(context.Context) error { return nil }

func TestOTelLogsOutput(t *testing.T) {
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	defer func() { _ = lp.Shutdown(context.Background()) }()
	l := logging.NewLogger(logging.WithLoggerProvider(lp))
	l.SetOutput(&bytes.Buffer{})
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxWarnf(ctx, "to otlp %d", 42)
	l.Debugf("below the level") // not exported either
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if len(exp.records) != 1 {
		t.Fatalf("exported %d records, want 1", len(exp.records))
	}
	r := exp.records[0]
	if r.Body().AsString() != "to otlp 42" || r.TraceID() != span.SpanContext().TraceID() || r.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("record body %q trace %s span %s", r.Body().AsString(), r.TraceID(), r.SpanID())
	}
	if r.Severity().String() != "WARN" {
		t.Errorf("severity %v, want WARN", r.Severity())
	}
}

// A call below the level allocates nothing: the level is checked before
// any formatting.
func TestDisabledLevelAllocatesNothing(t *testing.T) {
	l := logging.NewLogger()
	l.SetOutput(&bytes.Buffer{})
	ctx, span, _ := spanCtx(t)
	defer span.End()
	if n := testing.AllocsPerRun(1000, func() {
		l.Debugf("value %d of %s", 42, "x")
		l.CtxDebugf(ctx, "value %d", 42)
		l.Trace("x", 1)
	}); n != 0 {
		t.Errorf("disabled calls allocate %.1f times, want 0", n)
	}
}
