package kitexzap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kitexsuite/suite/logging"
	kitexzap "github.com/kitexsuite/suite/logging/zap"
	"github.com/kitexsuite/suite/rpcmodel"
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

func spanCtx(t testing.TB) (context.Context, trace.Span, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	return ctx, span, rec
}

func TestCtxMethodsAddTraceFields(t *testing.T) {
	var buf bytes.Buffer
	l := kitexzap.NewLogger(kitexzap.WithLevel(klog.LevelTrace))
	l.SetOutput(&buf)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxInfof(ctx, "hello %s", "world")
	l.CtxInfof(context.Background(), "no span")
	l.Infof("no ctx")
	l.CtxInfof(nil, "nil ctx") //nolint:staticcheck // klog callers may pass nil
	got := lines(t, &buf)
	if len(got) != 4 {
		t.Fatalf("got %d records, want 4", len(got))
	}
	sc := span.SpanContext()
	if got[0]["msg"] != "hello world" || got[0]["trace_id"] != sc.TraceID().String() ||
		got[0]["span_id"] != sc.SpanID().String() || got[0]["trace_flags"] != "01" {
		t.Errorf("record with a span: %v", got[0])
	}
	if _, ok := got[0]["time"].(string); !ok || got[0]["level"] != "INFO" {
		t.Errorf("record lacks time or level INFO: %v", got[0])
	}
	for _, r := range got[1:] {
		if _, ok := r["trace_id"]; ok {
			t.Errorf("record without a span has trace fields: %v", r)
		}
	}
}

// The fields of a span a tracing Suite published (rpcmodel.TraceLinkKey)
// are those of logging.TraceFields, whatever the adapter.
type link rpcmodel.TraceLink

func (l link) TraceLink() (rpcmodel.TraceLink, bool) { return rpcmodel.TraceLink(l), true }

func TestTraceLinkFallback(t *testing.T) {
	var buf bytes.Buffer
	l := kitexzap.NewLogger()
	l.SetOutput(&buf)
	tl := link{TraceID: [16]byte{1, 2, 3}, SpanID: [8]byte{4, 5}, Sampled: false}
	ctx := context.WithValue(context.Background(), rpcmodel.TraceLinkKey(), tl)
	l.CtxInfof(ctx, "linked")
	want, _ := logging.TraceFields(ctx)
	got := lines(t, &buf)[0]
	if got["trace_id"] != want.TraceID || got["span_id"] != want.SpanID || got["trace_flags"] != "00" {
		t.Errorf("record %v, want %+v", got, want)
	}
}

func TestLevelsAndNames(t *testing.T) {
	var buf bytes.Buffer
	l := kitexzap.NewLogger(kitexzap.WithExitFunc(func(int) {}))
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

func TestEveryLevelName(t *testing.T) {
	var buf bytes.Buffer
	l := kitexzap.NewLogger(kitexzap.WithLevel(klog.LevelTrace), kitexzap.WithExitFunc(func(int) {}))
	l.SetOutput(&buf)
	ctx := context.Background()
	l.Trace("m")
	l.Debug("m")
	l.Info("m")
	l.Notice("m")
	l.Warn("m")
	l.Error("m")
	l.Fatal("m")
	l.Tracef("%s", "m")
	l.Debugf("%s", "m")
	l.Infof("%s", "m")
	l.Noticef("%s", "m")
	l.Warnf("%s", "m")
	l.Errorf("%s", "m")
	l.Fatalf("%s", "m")
	l.CtxTracef(ctx, "%s", "m")
	l.CtxDebugf(ctx, "%s", "m")
	l.CtxInfof(ctx, "%s", "m")
	l.CtxNoticef(ctx, "%s", "m")
	l.CtxWarnf(ctx, "%s", "m")
	l.CtxErrorf(ctx, "%s", "m")
	l.CtxFatalf(ctx, "%s", "m")
	var levels []string
	for _, r := range lines(t, &buf) {
		if r["msg"] != "m" {
			t.Errorf("msg %v, want m", r["msg"])
		}
		levels = append(levels, r["level"].(string))
	}
	const names = "TRACE,DEBUG,INFO,NOTICE,WARN,ERROR,FATAL"
	if got := strings.Join(levels, ","); got != names+","+names+","+names {
		t.Errorf("levels %s, want %s three times", got, names)
	}
}

func TestZapLevel(t *testing.T) {
	want := map[klog.Level]zapcore.Level{
		klog.LevelTrace: kitexzap.LevelTrace, klog.LevelDebug: zapcore.DebugLevel,
		klog.LevelInfo: zapcore.InfoLevel, klog.LevelNotice: zapcore.InfoLevel,
		klog.LevelWarn: zapcore.WarnLevel, klog.LevelError: zapcore.ErrorLevel,
		klog.LevelFatal: zapcore.FatalLevel,
	}
	for k, z := range want {
		if got := kitexzap.ZapLevel(k); got != z {
			t.Errorf("ZapLevel(%v) = %v, want %v", k, got, z)
		}
	}
}

func TestFatalCallsTheExitFunc(t *testing.T) {
	var buf bytes.Buffer
	var codes []int
	l := kitexzap.NewLogger(kitexzap.WithExitFunc(func(c int) { codes = append(codes, c) }))
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

// zap's own fatal exit is off on a user's zap.Logger too: the record is
// written, then the exit function runs, once.
func TestFatalThroughAUserLoggerDoesNotExit(t *testing.T) {
	var buf bytes.Buffer
	exits := 0
	zl := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(kitexzap.NewEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel))
	l := kitexzap.NewLogger(kitexzap.WithLogger(zl), kitexzap.WithExitFunc(func(int) { exits++ }))
	l.Fatalf("down %d", 1)
	got := lines(t, &buf)
	if exits != 1 || len(got) != 1 || got[0]["level"] != "FATAL" || got[0]["msg"] != "down 1" {
		t.Errorf("exits %d, records %v", exits, got)
	}
}

// The kitex-contrib zap adapter loses trace fields after With; ours keeps
// them.
func TestWithKeepsTraceFields(t *testing.T) {
	var buf bytes.Buffer
	base := kitexzap.NewLogger()
	base.SetOutput(&buf)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	base.With(zap.String("service", "orders")).CtxInfof(ctx, "with")
	base.With(zap.Namespace("req"), zap.Int("id", 7)).CtxInfof(ctx, "namespace")
	base.CtxInfof(ctx, "base")
	got := lines(t, &buf)
	tid := span.SpanContext().TraceID().String()
	if got[0]["trace_id"] != tid || got[0]["service"] != "orders" {
		t.Errorf("With lost fields: %v", got[0])
	}
	// As a field after zap.Namespace, the trace fields land in it.
	req, _ := got[1]["req"].(map[string]any)
	if req == nil || req["trace_id"] != tid || req["id"] != float64(7) {
		t.Errorf("Namespace lost fields: %v", got[1])
	}
	if _, ok := got[2]["service"]; ok || got[2]["trace_id"] != tid {
		t.Errorf("With changed the base Logger: %v", got[2])
	}
}

// SetLevel and SetOutput on a derived Logger apply to its base as well, as
// in the slog adapter.
func TestDerivedLoggersShareLevelAndOutput(t *testing.T) {
	var buf bytes.Buffer
	base := kitexzap.NewLogger()
	derived := base.With(zap.Bool("derived", true))
	derived.SetOutput(&buf)
	derived.SetLevel(klog.LevelWarn)
	base.Info("dropped")
	base.Warn("kept")
	if got := lines(t, &buf); len(got) != 1 || got[0]["msg"] != "kept" {
		t.Errorf("records %v, want the one warning", got)
	}
}

func TestFieldNamesAndUserCore(t *testing.T) {
	var buf bytes.Buffer
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel)
	l := kitexzap.NewLogger(kitexzap.WithCore(core), kitexzap.WithLevel(klog.LevelDebug),
		kitexzap.WithFieldNames(logging.FieldNames{TraceID: "traceID"}))
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxDebugf(ctx, "custom")
	out := buf.String()
	if !strings.Contains(out, `"traceID": "`+span.SpanContext().TraceID().String()) || !strings.Contains(out, `"span_id": `) {
		t.Errorf("console record %q lacks renamed traceID and default span_id", out)
	}
}

// With a core or logger of the user's, SetOutput has no effect, and the
// user's own level applies after the Logger's.
func TestUserCoreKeepsItsOutputAndLevel(t *testing.T) {
	var mine, other bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(kitexzap.NewEncoderConfig()), zapcore.AddSync(&mine), zapcore.WarnLevel)
	l := kitexzap.NewLogger(kitexzap.WithCore(core), kitexzap.WithLevel(klog.LevelTrace))
	l.SetOutput(&other)
	l.Info("below the core's level")
	l.Notice("notice is info to a user core")
	l.Error("kept")
	got := lines(t, &mine)
	if other.Len() != 0 || len(got) != 1 || got[0]["msg"] != "kept" || got[0]["level"] != "ERROR" {
		t.Errorf("user core got %v, SetOutput's writer %q", got, other.String())
	}

	mine.Reset()
	core = zapcore.NewCore(zapcore.NewJSONEncoder(kitexzap.NewEncoderConfig()), zapcore.AddSync(&mine), kitexzap.LevelTrace)
	l = kitexzap.NewLogger(kitexzap.WithCore(core), kitexzap.WithLevel(klog.LevelTrace))
	l.Trace("t")
	l.Notice("n")
	var levels []string
	for _, r := range lines(t, &mine) {
		levels = append(levels, r["level"].(string))
	}
	if strings.Join(levels, ",") != "TRACE,INFO" {
		t.Errorf("levels %v through a user core with LevelEncoder, want TRACE,INFO", levels)
	}
}

// zap's caller annotation on a user's logger points at the caller of the
// klog method.
func TestUserLoggerCaller(t *testing.T) {
	var buf bytes.Buffer
	zl := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(kitexzap.NewEncoderConfig()), zapcore.AddSync(&buf), zapcore.InfoLevel),
		zap.AddCaller())
	l := kitexzap.NewLogger(kitexzap.WithLogger(zl))
	l.Infof("where")
	l.CtxInfof(context.Background(), "where")
	for _, r := range lines(t, &buf) {
		if c, _ := r["caller"].(string); !strings.HasPrefix(c, "zap/logger_test.go:") {
			t.Errorf("caller %q, want this file", c)
		}
	}
}

func TestErrorMarksSpanIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		var opts []kitexzap.Option
		if on {
			opts = append(opts, kitexzap.WithErrorMarksSpan())
		}
		l := kitexzap.NewLogger(opts...)
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

func (e *memExporter) take() []sdklog.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.records
	e.records = nil
	return rs
}

func otelLogger(t *testing.T, opts ...kitexzap.Option) (*kitexzap.Logger, *memExporter) {
	t.Helper()
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	t.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
	l := kitexzap.NewLogger(append([]kitexzap.Option{kitexzap.WithLoggerProvider(lp)}, opts...)...)
	l.SetOutput(&bytes.Buffer{})
	return l, exp
}

func TestOTelLogsOutput(t *testing.T) {
	l, exp := otelLogger(t)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxWarnf(ctx, "to otlp %d", 42)
	l.Debugf("below the level") // not exported either
	rs := exp.take()
	if len(rs) != 1 {
		t.Fatalf("exported %d records, want 1", len(rs))
	}
	r := rs[0]
	if r.Body().AsString() != "to otlp 42" || r.TraceID() != span.SpanContext().TraceID() || r.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("record body %q trace %s span %s", r.Body().AsString(), r.TraceID(), r.SpanID())
	}
	if r.Severity().String() != "WARN" {
		t.Errorf("severity %v, want WARN", r.Severity())
	}
	if r.InstrumentationScope().Name != kitexzap.ScopeName {
		t.Errorf("scope %q, want %q", r.InstrumentationScope().Name, kitexzap.ScopeName)
	}
	// The trace fields are the record's own trace context, not attributes.
	if n := r.AttributesLen(); n != 0 {
		t.Errorf("record has %d attributes, want none", n)
	}
}

// Every level exports the severity (and text) the slog adapter's records
// get from otelslog.
func TestOTelSeveritiesMatchTheSlogAdapter(t *testing.T) {
	l, exp := otelLogger(t, kitexzap.WithLevel(klog.LevelTrace), kitexzap.WithExitFunc(func(int) {}))
	ctx := context.Background()
	l.CtxTracef(ctx, "m")
	l.CtxDebugf(ctx, "m")
	l.CtxInfof(ctx, "m")
	l.CtxNoticef(ctx, "m")
	l.CtxWarnf(ctx, "m")
	l.CtxErrorf(ctx, "m")
	l.CtxFatalf(ctx, "m")
	want := []struct {
		sev  otellog.Severity
		text string
	}{
		{otellog.SeverityTrace1, "DEBUG-4"}, {otellog.SeverityDebug1, "DEBUG"}, {otellog.SeverityInfo1, "INFO"},
		{otellog.SeverityInfo3, "INFO+2"}, {otellog.SeverityWarn1, "WARN"}, {otellog.SeverityError1, "ERROR"},
		{otellog.SeverityFatal1, "ERROR+4"},
	}
	rs := exp.take()
	if len(rs) != len(want) {
		t.Fatalf("exported %d records, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.Severity() != want[i].sev || r.SeverityText() != want[i].text {
			t.Errorf("record %d: severity %v %q, want %v %q", i, r.Severity(), r.SeverityText(), want[i].sev, want[i].text)
		}
	}
}

// The fields of With become attributes of the OTel records; a zap.Error
// field becomes the record's exception attributes.
func TestOTelRecordsGetWithFields(t *testing.T) {
	l, exp := otelLogger(t)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.With(zap.String("service", "orders"), zap.Int("shard", 3), zap.Error(errors.New("bad"))).CtxErrorf(ctx, "failed")
	rs := exp.take()
	if len(rs) != 1 {
		t.Fatalf("exported %d records, want 1", len(rs))
	}
	attrs := map[string]string{}
	rs[0].WalkAttributes(func(kv attribute.KeyValue) bool {
		attrs[string(kv.Key)] = kv.Value.Emit()
		return true
	})
	if attrs["service"] != "orders" || attrs["shard"] != "3" || attrs["exception.message"] != "bad" {
		t.Errorf("attributes %v", attrs)
	}
	if rs[0].TraceID() != span.SpanContext().TraceID() {
		t.Errorf("trace %s, want %s", rs[0].TraceID(), span.SpanContext().TraceID())
	}
}

// Logging, SetLevel and SetOutput may run at once (go test -race).
func TestConcurrentUse(t *testing.T) {
	l, _ := otelLogger(t)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := l.With(zap.Int("g", i))
			for range 100 {
				w.CtxInfof(ctx, "n %d", i)
				if i == 0 {
					l.SetLevel(klog.LevelDebug)
					l.SetOutput(&bytes.Buffer{})
				}
			}
		}()
	}
	wg.Wait()
}

// A call below the level allocates nothing: the level is checked before
// any formatting.
func TestDisabledLevelAllocatesNothing(t *testing.T) {
	l := kitexzap.NewLogger()
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
	l.SetLevel(klog.LevelWarn)
	if n := testing.AllocsPerRun(1000, func() { l.Noticef("value %d", 42) }); n != 0 {
		t.Errorf("a disabled Notice allocates %.1f times, want 0", n)
	}
}

// zap's sampler counts per message: a Logger built on a sampling core must
// let distinct messages through even past the per-second budget.
func TestSamplingSeesTheMessage(t *testing.T) {
	var buf bytes.Buffer
	core := zapcore.NewSamplerWithOptions(
		zapcore.NewCore(zapcore.NewJSONEncoder(kitexzap.NewEncoderConfig()), zapcore.AddSync(&buf), zapcore.InfoLevel),
		time.Hour, 1, 0) // first of each message per hour, then none
	l := kitexzap.NewLogger(kitexzap.WithCore(core))
	for i := 0; i < 3; i++ {
		l.Infof("message %d", i)
		l.Infof("message %d", i) // a repeat: sampled out
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Errorf("%d records through a 1-per-message sampler, want 3 (one per distinct message):\n%s", n, buf.String())
	}
}
