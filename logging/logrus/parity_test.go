package kitexlogrus_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/kitexsuite/suite/logging"
	kitexlogrus "github.com/kitexsuite/suite/logging/logrus"
)

// parityLogger is what the comparison needs of both adapters.
type parityLogger interface {
	klog.FullLogger
	klog.Control
}

// TestSameAsSlogAdapter logs the same calls through the slog adapter and
// this one and compares the JSON lines (but the time) and the exported
// OpenTelemetry records.
func TestSameAsSlogAdapter(t *testing.T) {
	ctx, span, _ := spanCtx(t)
	defer span.End()
	calls := []struct {
		name string
		call func(l parityLogger)
	}{
		{"Trace", func(l parityLogger) { l.Trace("t", 1) }},
		{"CtxDebugf", func(l parityLogger) { l.CtxDebugf(ctx, "d %d", 2) }},
		{"Infof", func(l parityLogger) { l.Infof("i %s", "x") }},
		{"CtxInfof", func(l parityLogger) { l.CtxInfof(ctx, "i %s", "x") }},
		{"Notice", func(l parityLogger) { l.Notice("n") }},
		{"CtxNoticef", func(l parityLogger) { l.CtxNoticef(ctx, "n %v", true) }},
		{"Warn", func(l parityLogger) { l.Warn("w", 3) }},
		{"CtxErrorf", func(l parityLogger) { l.CtxErrorf(ctx, "e %q", "q") }},
		{"CtxFatalf", func(l parityLogger) { l.CtxFatalf(ctx, "f") }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			type result struct {
				line  map[string]any
				rec   sdklog.Record
				exits int
			}
			run := func(mk func(*memExporter, func(int)) parityLogger) result {
				exp := &memExporter{}
				var res result
				l := mk(exp, func(int) { res.exits++ })
				var buf bytes.Buffer
				l.SetOutput(&buf)
				l.SetLevel(klog.LevelTrace)
				c.call(l)
				got := lines(t, &buf)
				if len(got) != 1 || len(exp.records) != 1 {
					t.Fatalf("%d lines, %d records; want 1 and 1", len(got), len(exp.records))
				}
				delete(got[0], "time")
				res.line, res.rec = got[0], exp.records[0]
				return res
			}
			provider := func(exp *memExporter) *sdklog.LoggerProvider {
				lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
				t.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
				return lp
			}
			want := run(func(exp *memExporter, exit func(int)) parityLogger {
				return logging.NewLogger(logging.WithLoggerProvider(provider(exp)), logging.WithExitFunc(exit))
			})
			got := run(func(exp *memExporter, exit func(int)) parityLogger {
				return kitexlogrus.NewLogger(kitexlogrus.WithLoggerProvider(provider(exp)), kitexlogrus.WithExitFunc(exit))
			})
			if !reflect.DeepEqual(got.line, want.line) {
				t.Errorf("line %v, slog adapter's %v", got.line, want.line)
			}
			if got.exits != want.exits {
				t.Errorf("exit called %d times, slog adapter %d", got.exits, want.exits)
			}
			g, w := got.rec, want.rec
			if g.Body().AsString() != w.Body().AsString() || g.Severity() != w.Severity() ||
				g.SeverityText() != w.SeverityText() || g.TraceID() != w.TraceID() ||
				g.SpanID() != w.SpanID() || g.TraceFlags() != w.TraceFlags() || g.AttributesLen() != w.AttributesLen() {
				t.Errorf("record %q %v %q %s/%s %d attrs; slog adapter's %q %v %q %s/%s %d attrs",
					g.Body().AsString(), g.Severity(), g.SeverityText(), g.TraceID(), g.SpanID(), g.AttributesLen(),
					w.Body().AsString(), w.Severity(), w.SeverityText(), w.TraceID(), w.SpanID(), w.AttributesLen())
			}
		})
	}
}

// With fields reach the line and the record's attributes as the slog
// adapter's With attributes do.
func TestWithSameAsSlogAdapter(t *testing.T) {
	ctx, span, _ := spanCtx(t)
	defer span.End()
	attrs := func(r sdklog.Record) map[string]string {
		m := map[string]string{}
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			m[string(kv.Key)] = kv.Value.Emit()
			return true
		})
		return m
	}
	var wbuf, gbuf bytes.Buffer
	wexp, gexp := &memExporter{}, &memExporter{}
	wlp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(wexp)))
	glp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(gexp)))
	defer func() { _ = wlp.Shutdown(context.Background()); _ = glp.Shutdown(context.Background()) }()
	wl := logging.NewLogger(logging.WithLoggerProvider(wlp))
	wl.SetOutput(&wbuf)
	gl := kitexlogrus.NewLogger(kitexlogrus.WithLoggerProvider(glp))
	gl.SetOutput(&gbuf)
	wl.With("service", "orders", "shard", "3").CtxInfof(ctx, "with")
	gl.With(logrus.Fields{"service": "orders", "shard": "3"}).CtxInfof(ctx, "with")
	w, g := lines(t, &wbuf)[0], lines(t, &gbuf)[0]
	delete(w, "time")
	delete(g, "time")
	if !reflect.DeepEqual(g, w) {
		t.Errorf("line %v, slog adapter's %v", g, w)
	}
	if ga, wa := attrs(gexp.records[0]), attrs(wexp.records[0]); !reflect.DeepEqual(ga, wa) {
		t.Errorf("attributes %v, slog adapter's %v", ga, wa)
	}
}
