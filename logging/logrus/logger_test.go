package kitexlogrus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/logging"
	kitexlogrus "github.com/kitexsuite/suite/logging/logrus"
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
	l := kitexlogrus.NewLogger(kitexlogrus.WithLevel(klog.LevelTrace))
	l.SetOutput(&buf)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxInfof(ctx, "hello %s", "world")
	l.CtxInfof(context.Background(), "no span")
	l.Infof("no ctx")
	l.CtxInfof(nil, "nil ctx") //nolint:staticcheck // a nil ctx must not panic
	got := lines(t, &buf)
	if len(got) != 4 {
		t.Fatalf("got %d records, want 4", len(got))
	}
	sc := span.SpanContext()
	if got[0]["msg"] != "hello world" || got[0]["trace_id"] != sc.TraceID().String() ||
		got[0]["span_id"] != sc.SpanID().String() || got[0]["trace_flags"] != "01" {
		t.Errorf("record with a span: %v", got[0])
	}
	// The same values as the shared extraction gives.
	want, _ := logging.TraceFields(ctx)
	if got[0]["trace_id"] != want.TraceID || got[0]["span_id"] != want.SpanID || got[0]["trace_flags"] != want.TraceFlags {
		t.Errorf("record %v, logging.TraceFields %+v", got[0], want)
	}
	for _, r := range got[1:] {
		if _, ok := r["trace_id"]; ok {
			t.Errorf("record without a span has trace fields: %v", r)
		}
	}
}

func TestDefaultFormat(t *testing.T) {
	var buf bytes.Buffer
	l := kitexlogrus.NewLogger()
	l.SetOutput(&buf)
	before := time.Now().Truncate(time.Millisecond)
	l.Info("plain")
	got := lines(t, &buf)
	if len(got) != 1 {
		t.Fatalf("got %d records, want 1", len(got))
	}
	r := got[0]
	if len(r) != 3 || r["level"] != "INFO" || r["msg"] != "plain" {
		t.Errorf("record %v, want exactly time, level INFO, msg", r)
	}
	ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", r["time"].(string))
	if err != nil || ts.Before(before) || time.Since(ts) > time.Minute {
		t.Errorf("time %v: %v", r["time"], err)
	}
	if strings.Contains(buf.String(), "kitexlogrus.level") || strings.Contains(buf.String(), `"info"`) {
		t.Errorf("logrus's level name leaked: %s", buf.String())
	}
}

func TestLevelsAndNames(t *testing.T) {
	var buf bytes.Buffer
	l := kitexlogrus.NewLogger(kitexlogrus.WithExitFunc(func(int) {}))
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
	l := kitexlogrus.NewLogger(kitexlogrus.WithLevel(klog.LevelTrace), kitexlogrus.WithExitFunc(func(int) {}))
	l.SetOutput(&buf)
	ctx := context.Background()
	l.Trace("a")
	l.Debugf("b")
	l.CtxInfof(ctx, "c")
	l.CtxNoticef(ctx, "d")
	l.Warn("e")
	l.CtxErrorf(ctx, "f")
	l.Fatalf("g")
	var levels, msgs []string
	for _, r := range lines(t, &buf) {
		levels = append(levels, r["level"].(string))
		msgs = append(msgs, r["msg"].(string))
	}
	if got := strings.Join(levels, ","); got != "TRACE,DEBUG,INFO,NOTICE,WARN,ERROR,FATAL" {
		t.Errorf("levels %s", got)
	}
	if got := strings.Join(msgs, ""); got != "abcdefg" {
		t.Errorf("messages %s", got)
	}
}

func TestLogrusLevel(t *testing.T) {
	want := map[klog.Level]logrus.Level{
		klog.LevelTrace: logrus.TraceLevel, klog.LevelDebug: logrus.DebugLevel,
		klog.LevelInfo: logrus.InfoLevel, klog.LevelNotice: logrus.InfoLevel,
		klog.LevelWarn: logrus.WarnLevel, klog.LevelError: logrus.ErrorLevel,
		klog.LevelFatal: logrus.FatalLevel,
	}
	for k, w := range want {
		if g := kitexlogrus.LogrusLevel(k); g != w {
			t.Errorf("LogrusLevel(%v) = %v, want %v", k, g, w)
		}
	}
}

func TestFatalCallsTheExitFunc(t *testing.T) {
	var buf bytes.Buffer
	var codes []int
	l := kitexlogrus.NewLogger(kitexlogrus.WithExitFunc(func(c int) { codes = append(codes, c) }))
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

// logrus's own Fatal calls the logrus.Logger's ExitFunc; the adapter must
// not, only its own exit function.
func TestFatalDoesNotCallLogrusExit(t *testing.T) {
	var buf bytes.Buffer
	lg := logrus.New()
	lg.SetOutput(&buf)
	lg.SetFormatter(kitexlogrus.NewFormatter(nil))
	logrusExits, exits := 0, 0
	lg.ExitFunc = func(int) { logrusExits++ }
	l := kitexlogrus.NewLogger(kitexlogrus.WithLogger(lg), kitexlogrus.WithExitFunc(func(int) { exits++ }))
	l.Fatal("x")
	if logrusExits != 0 || exits != 1 {
		t.Errorf("logrus ExitFunc called %d times, WithExitFunc %d times; want 0 and 1", logrusExits, exits)
	}
	if got := lines(t, &buf); len(got) != 1 || got[0]["level"] != "FATAL" {
		t.Errorf("records %v", got)
	}
}

func TestWithKeepsTraceFields(t *testing.T) {
	var buf bytes.Buffer
	base := kitexlogrus.NewLogger()
	base.SetOutput(&buf)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	svc := base.With(logrus.Fields{"service": "orders"})
	svc.CtxInfof(ctx, "with")
	svc.With(logrus.Fields{"id": 7}).CtxInfof(ctx, "chained")
	base.CtxInfof(ctx, "base")
	got := lines(t, &buf)
	tid := span.SpanContext().TraceID().String()
	if got[0]["trace_id"] != tid || got[0]["service"] != "orders" {
		t.Errorf("With lost fields: %v", got[0])
	}
	if got[1]["trace_id"] != tid || got[1]["service"] != "orders" || got[1]["id"] != float64(7) {
		t.Errorf("chained With lost fields: %v", got[1])
	}
	if _, ok := got[2]["service"]; ok || got[2]["trace_id"] != tid {
		t.Errorf("With changed its parent: %v", got[2])
	}
	if _, ok := got[0]["id"]; ok {
		t.Errorf("a derived With changed its parent: %v", got[0])
	}
}

// Derived Loggers share the level and the output.
func TestWithSharesLevelAndOutput(t *testing.T) {
	base := kitexlogrus.NewLogger()
	derived := base.With(logrus.Fields{"k": "v"})
	var buf bytes.Buffer
	base.SetOutput(&buf)
	base.SetLevel(klog.LevelDebug)
	derived.Debugf("shared")
	if got := lines(t, &buf); len(got) != 1 || got[0]["msg"] != "shared" || got[0]["k"] != "v" {
		t.Errorf("records %v", got)
	}
}

func TestFieldNamesAndUserLogger(t *testing.T) {
	var buf bytes.Buffer
	lg := logrus.New()
	lg.SetOutput(&buf)
	lg.SetFormatter(&logrus.TextFormatter{DisableColors: true, DisableTimestamp: true})
	lg.SetLevel(logrus.DebugLevel)
	l := kitexlogrus.NewLogger(kitexlogrus.WithLogger(lg), kitexlogrus.WithLevel(klog.LevelDebug),
		kitexlogrus.WithFieldNames(logging.FieldNames{TraceID: "traceID"}))
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxDebugf(ctx, "custom")
	out := buf.String()
	if !strings.Contains(out, "traceID="+span.SpanContext().TraceID().String()) || !strings.Contains(out, "span_id=") ||
		!strings.Contains(out, "level=debug") {
		t.Errorf("text record %q lacks renamed traceID, default span_id or the user's level name", out)
	}
}

// With a user's logrus.Logger, SetOutput has no effect and SetLevel leaves
// its level alone; the user's level still applies after the Logger's.
func TestUserLoggerKeepsItsOutputAndLevel(t *testing.T) {
	var mine, other bytes.Buffer
	lg := logrus.New()
	lg.SetOutput(&mine)
	lg.SetFormatter(kitexlogrus.NewFormatter(nil))
	lg.SetLevel(logrus.WarnLevel)
	l := kitexlogrus.NewLogger(kitexlogrus.WithLogger(lg))
	l.SetOutput(&other)
	l.SetLevel(klog.LevelDebug)
	if lg.GetLevel() != logrus.WarnLevel {
		t.Errorf("SetLevel changed the user's logger to %v", lg.GetLevel())
	}
	l.Info("below the user's level")
	l.Warn("kept")
	if other.Len() != 0 {
		t.Errorf("SetOutput redirected a user's logger: %q", other.String())
	}
	if got := lines(t, &mine); len(got) != 1 || got[0]["msg"] != "kept" || got[0]["level"] != "WARN" {
		t.Errorf("records %v", got)
	}
}

// Hooks on a user's logger see the trace fields and the Context.
func TestUserHooksSeeTraceFields(t *testing.T) {
	lg := logrus.New()
	lg.SetOutput(io.Discard)
	h := &recordingHook{}
	lg.AddHook(h)
	l := kitexlogrus.NewLogger(kitexlogrus.WithLogger(lg))
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.CtxWarnf(ctx, "hooked")
	if len(h.entries) != 1 {
		t.Fatalf("hook fired %d times, want 1", len(h.entries))
	}
	e := h.entries[0]
	if e.Data["trace_id"] != span.SpanContext().TraceID().String() || e.Context == nil ||
		!trace.SpanContextFromContext(e.Context).Equal(span.SpanContext()) || e.Level != logrus.WarnLevel {
		t.Errorf("hook entry %+v", e)
	}
}

type recordingHook struct{ entries []*logrus.Entry }

func (h *recordingHook) Levels() []logrus.Level { return logrus.AllLevels }
func (h *recordingHook) Fire(e *logrus.Entry) error {
	h.entries = append(h.entries, e)
	return nil
}

func TestErrorMarksSpanIsOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		var opts []kitexlogrus.Option
		if on {
			opts = append(opts, kitexlogrus.WithErrorMarksSpan())
		}
		l := kitexlogrus.NewLogger(opts...)
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

func TestWarnDoesNotMarkSpan(t *testing.T) {
	l := kitexlogrus.NewLogger(kitexlogrus.WithErrorMarksSpan())
	l.SetOutput(&bytes.Buffer{})
	ctx, span, rec := spanCtx(t)
	l.CtxWarnf(ctx, "not an error")
	span.End()
	if st := rec.Ended()[0].Status(); st.Code != codes.Unset {
		t.Errorf("a warning set the status to %v", st)
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
	l := kitexlogrus.NewLogger(kitexlogrus.WithLoggerProvider(lp))
	l.SetOutput(&bytes.Buffer{})
	ctx, span, _ := spanCtx(t)
	defer span.End()
	l.With(logrus.Fields{"service": "orders"}).CtxWarnf(ctx, "to otlp %d", 42)
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
	if r.Severity().String() != "WARN" || r.SeverityText() != "WARN" {
		t.Errorf("severity %v %q, want WARN", r.Severity(), r.SeverityText())
	}
	if r.InstrumentationScope().Name != kitexlogrus.ScopeName {
		t.Errorf("scope %q", r.InstrumentationScope().Name)
	}
	attrs := map[string]string{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		attrs[string(kv.Key)] = kv.Value.Emit()
		return true
	})
	if attrs["service"] != "orders" {
		t.Errorf("attributes %v lack the With field", attrs)
	}
	if _, ok := attrs["trace_id"]; ok {
		t.Errorf("attributes %v carry the trace fields; the record has the trace context", attrs)
	}
}

// Every level has the severity and severity text the slog adapter's records
// get from otelslog: Notice is INFO3, although logrus logs it at InfoLevel.
func TestOTelSeverities(t *testing.T) {
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	defer func() { _ = lp.Shutdown(context.Background()) }()
	l := kitexlogrus.NewLogger(kitexlogrus.WithLoggerProvider(lp), kitexlogrus.WithLevel(klog.LevelTrace),
		kitexlogrus.WithExitFunc(func(int) {}))
	l.SetOutput(io.Discard)
	l.Trace("t")
	l.Debug("d")
	l.Info("i")
	l.CtxNoticef(context.Background(), "n")
	l.Warn("w")
	l.Error("e")
	l.Fatal("f")
	want := []struct {
		sev  log.Severity
		text string
	}{
		{log.SeverityTrace1, "DEBUG-4"}, {log.SeverityDebug1, "DEBUG"}, {log.SeverityInfo1, "INFO"},
		{log.SeverityInfo3, "INFO+2"}, {log.SeverityWarn1, "WARN"}, {log.SeverityError1, "ERROR"},
		{log.SeverityFatal1, "ERROR+4"},
	}
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if len(exp.records) != len(want) {
		t.Fatalf("exported %d records, want %d", len(exp.records), len(want))
	}
	for i, r := range exp.records {
		if r.Severity() != want[i].sev || r.SeverityText() != want[i].text {
			t.Errorf("record %q: severity %v %q, want %v %q", r.Body().AsString(), r.Severity(), r.SeverityText(),
				want[i].sev, want[i].text)
		}
	}
}

// With a LoggerProvider, a record the logrus.Logger's level drops still goes
// to OpenTelemetry, as with the slog adapter.
func TestOTelGetsWhatTheUserLoggerDrops(t *testing.T) {
	exp := &memExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	defer func() { _ = lp.Shutdown(context.Background()) }()
	var buf bytes.Buffer
	lg := logrus.New()
	lg.SetOutput(&buf)
	lg.SetLevel(logrus.ErrorLevel)
	l := kitexlogrus.NewLogger(kitexlogrus.WithLogger(lg), kitexlogrus.WithLoggerProvider(lp))
	l.Info("otel only")
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if len(exp.records) != 1 || buf.Len() != 0 {
		t.Errorf("exported %d records, wrote %q; want 1 and nothing", len(exp.records), buf.String())
	}
}

func TestFormatter(t *testing.T) {
	tests := []struct {
		name string
		base *logrus.JSONFormatter
		data logrus.Fields
		want map[string]any
	}{
		{"clashing level field", &logrus.JSONFormatter{DisableTimestamp: true},
			logrus.Fields{"level": "mine", "err": errors.New("bad")},
			map[string]any{"level": "WARN", "fields.level": "mine", "err": "bad", "msg": "m"}},
		{"renamed keys", &logrus.JSONFormatter{DisableTimestamp: true,
			FieldMap: logrus.FieldMap{logrus.FieldKeyLevel: "severity", logrus.FieldKeyMsg: "message"}},
			logrus.Fields{"a": 1},
			map[string]any{"severity": "WARN", "message": "m", "a": float64(1)}},
		{"data key", &logrus.JSONFormatter{DisableTimestamp: true, DataKey: "fields"},
			logrus.Fields{"a": 1, "err": errors.New("bad")},
			map[string]any{"level": "WARN", "msg": "m", "fields": map[string]any{"a": float64(1), "err": "bad"}}},
		{"pretty", &logrus.JSONFormatter{DisableTimestamp: true, PrettyPrint: true},
			logrus.Fields{"a": "<b>"},
			map[string]any{"level": "WARN", "msg": "m", "a": "<b>"}},
		{"empty key sorts first", &logrus.JSONFormatter{DisableTimestamp: true},
			logrus.Fields{"": "x"},
			map[string]any{"": "x", "level": "WARN", "msg": "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := kitexlogrus.NewFormatter(tt.base)
			b, err := f.Format(&logrus.Entry{Logger: logrus.New(), Data: tt.data, Level: logrus.WarnLevel, Message: "m", Time: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("not JSON: %q: %v", b, err)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Errorf("got %s, want %s (line %q)", gb, wb, b)
			}
		})
	}
}

// Loggers are safe for concurrent use, including SetLevel and SetOutput.
func TestConcurrentUse(t *testing.T) {
	l := kitexlogrus.NewLogger(kitexlogrus.WithLevel(klog.LevelDebug))
	l.SetOutput(io.Discard)
	ctx, span, _ := spanCtx(t)
	defer span.End()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := l.With(logrus.Fields{"g": i})
			for j := range 200 {
				d.CtxInfof(ctx, "n %d", j)
				d.Noticef("n %d", j)
				if j%50 == 0 {
					l.SetLevel(klog.Level(j / 50 % 3))
					l.SetOutput(io.Discard)
				}
			}
		}()
	}
	wg.Wait()
}

// A call below the level allocates nothing: the level is checked before
// any formatting.
func TestDisabledLevelAllocatesNothing(t *testing.T) {
	l := kitexlogrus.NewLogger()
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
