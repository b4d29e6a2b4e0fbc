package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of records sent to a
// LoggerProvider.
const ScopeName = "github.com/kitexsuite/suite/logging"

// Logger is a klog.FullLogger on log/slog with trace correlation.
type Logger struct {
	handler slog.Handler
	level   *slog.LevelVar // shared with derived Loggers
	out     *swapWriter    // nil when the user gave the handler
	cfg     *config
}

var (
	_ klog.FullLogger = (*Logger)(nil)
	_ klog.Control    = (*Logger)(nil)
)

// NewLogger returns a Logger configured by opts; see the package doc.
func NewLogger(opts ...Option) *Logger {
	cfg := newConfig(opts)
	l := &Logger{level: new(slog.LevelVar), cfg: cfg}
	l.level.Set(cfg.level)
	inner := cfg.handler
	if inner == nil {
		l.out = &swapWriter{}
		l.out.set(os.Stderr)
		inner = slog.NewJSONHandler(l.out, &slog.HandlerOptions{Level: l.level, ReplaceAttr: replaceLevelName})
	}
	th := &traceHandler{inner: inner, names: cfg.names}
	if cfg.loggerProvider != nil {
		th.otel = otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(cfg.loggerProvider))
	}
	l.handler = th
	return l
}

// Slog returns a *slog.Logger on the same handler (trace fields included),
// for application code that logs through slog directly.
func (l *Logger) Slog() *slog.Logger { return slog.New(l.handler) }

// With returns a Logger adding attrs (slog key-value pairs) to every record.
func (l *Logger) With(args ...any) *Logger {
	c := *l
	c.handler = slog.New(l.handler).With(args...).Handler()
	return &c
}

// WithGroup returns a Logger putting later attributes under name.
func (l *Logger) WithGroup(name string) *Logger {
	c := *l
	c.handler = l.handler.WithGroup(name)
	return &c
}

// SetLevel implements klog.Control; it applies to every Logger derived from
// this one.
func (l *Logger) SetLevel(lv klog.Level) { l.level.Set(SlogLevel(lv)) }

// SetOutput implements klog.Control. It redirects the Logger's own JSON
// output; a handler given with WithHandler writes where it writes.
func (l *Logger) SetOutput(w io.Writer) {
	if l.out != nil {
		l.out.set(w)
	}
}

// log is the one path every method takes. The level check comes first, so a
// disabled call formats and allocates nothing.
func (l *Logger) log(ctx context.Context, lv klog.Level, format string, formatted bool, v []any) {
	sl := SlogLevel(lv)
	if sl < l.level.Level() {
		if lv == klog.LevelFatal {
			l.cfg.exit(1)
		}
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if l.handler.Enabled(ctx, sl) {
		var msg string
		if formatted {
			msg = fmt.Sprintf(format, v...)
		} else {
			msg = fmt.Sprint(v...)
		}
		_ = l.handler.Handle(ctx, slog.NewRecord(time.Now(), sl, msg, 0))
		if l.cfg.errorMarksSpan && sl >= slog.LevelError {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetStatus(codes.Error, msg)
			}
		}
	}
	if lv == klog.LevelFatal {
		l.cfg.exit(1)
	}
}

// Trace logs at LevelTrace.
func (l *Logger) Trace(v ...any) { l.log(nil, klog.LevelTrace, "", false, v) }

// Debug logs at slog.LevelDebug.
func (l *Logger) Debug(v ...any) { l.log(nil, klog.LevelDebug, "", false, v) }

// Info logs at slog.LevelInfo.
func (l *Logger) Info(v ...any) { l.log(nil, klog.LevelInfo, "", false, v) }

// Notice logs at LevelNotice.
func (l *Logger) Notice(v ...any) { l.log(nil, klog.LevelNotice, "", false, v) }

// Warn logs at slog.LevelWarn.
func (l *Logger) Warn(v ...any) { l.log(nil, klog.LevelWarn, "", false, v) }

// Error logs at slog.LevelError.
func (l *Logger) Error(v ...any) { l.log(nil, klog.LevelError, "", false, v) }

// Fatal logs at LevelFatal, then calls the exit function (os.Exit(1) unless
// WithExitFunc).
func (l *Logger) Fatal(v ...any) { l.log(nil, klog.LevelFatal, "", false, v) }

// Tracef logs at LevelTrace.
func (l *Logger) Tracef(format string, v ...any) { l.log(nil, klog.LevelTrace, format, true, v) }

// Debugf logs at slog.LevelDebug.
func (l *Logger) Debugf(format string, v ...any) { l.log(nil, klog.LevelDebug, format, true, v) }

// Infof logs at slog.LevelInfo.
func (l *Logger) Infof(format string, v ...any) { l.log(nil, klog.LevelInfo, format, true, v) }

// Noticef logs at LevelNotice.
func (l *Logger) Noticef(format string, v ...any) { l.log(nil, klog.LevelNotice, format, true, v) }

// Warnf logs at slog.LevelWarn.
func (l *Logger) Warnf(format string, v ...any) { l.log(nil, klog.LevelWarn, format, true, v) }

// Errorf logs at slog.LevelError.
func (l *Logger) Errorf(format string, v ...any) { l.log(nil, klog.LevelError, format, true, v) }

// Fatalf logs at LevelFatal, then calls the exit function.
func (l *Logger) Fatalf(format string, v ...any) { l.log(nil, klog.LevelFatal, format, true, v) }

// CtxTracef logs at LevelTrace with the trace fields of ctx.
func (l *Logger) CtxTracef(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelTrace, format, true, v)
}

// CtxDebugf logs at slog.LevelDebug with the trace fields of ctx.
func (l *Logger) CtxDebugf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelDebug, format, true, v)
}

// CtxInfof logs at slog.LevelInfo with the trace fields of ctx.
func (l *Logger) CtxInfof(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelInfo, format, true, v)
}

// CtxNoticef logs at LevelNotice with the trace fields of ctx.
func (l *Logger) CtxNoticef(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelNotice, format, true, v)
}

// CtxWarnf logs at slog.LevelWarn with the trace fields of ctx.
func (l *Logger) CtxWarnf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelWarn, format, true, v)
}

// CtxErrorf logs at slog.LevelError with the trace fields of ctx (and marks
// the span with WithErrorMarksSpan).
func (l *Logger) CtxErrorf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelError, format, true, v)
}

// CtxFatalf logs at LevelFatal with the trace fields of ctx, then calls the
// exit function.
func (l *Logger) CtxFatalf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelFatal, format, true, v)
}
