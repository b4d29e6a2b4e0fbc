package kitexlogrus

import (
	"context"
	"fmt"
	"io"
	"maps"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/logging"
	"github.com/kitexsuite/suite/logging/internal/otelseverity"
)

// ScopeName is the instrumentation scope of records sent to a
// LoggerProvider.
const ScopeName = "github.com/kitexsuite/suite/logging/logrus"

// Logger is a klog.FullLogger on logrus with trace correlation.
type Logger struct {
	lg     *logrus.Logger
	own    bool          // lg is the Logger's own: SetOutput and SetLevel reach it
	fields logrus.Fields // from With; never written after With returns
	level  *atomic.Int32 // klog level, shared with derived Loggers
	otel   *otelOutput   // nil unless WithLoggerProvider
	cfg    *config
}

var (
	_ klog.FullLogger = (*Logger)(nil)
	_ klog.Control    = (*Logger)(nil)
)

// NewLogger returns a Logger configured by opts; see the package doc.
func NewLogger(opts ...Option) *Logger {
	cfg := newConfig(opts)
	l := &Logger{lg: cfg.logger, level: new(atomic.Int32), cfg: cfg}
	l.level.Store(int32(cfg.level))
	if l.lg == nil {
		l.own = true
		l.lg = logrus.New() // writes to os.Stderr
		l.lg.SetFormatter(NewFormatter(nil))
		l.lg.SetLevel(LogrusLevel(cfg.level))
		l.lg.ExitFunc = cfg.exit // unused: the Logger never calls logrus's Fatal
	}
	if cfg.loggerProvider != nil {
		l.otel = newOTelOutput(cfg.loggerProvider)
	}
	return l
}

// With returns a Logger adding fields to every record. It shares the level
// and the output of l, and still adds the trace fields.
func (l *Logger) With(fields logrus.Fields) *Logger {
	c := *l
	c.fields = make(logrus.Fields, len(l.fields)+len(fields))
	maps.Copy(c.fields, l.fields)
	maps.Copy(c.fields, fields)
	return &c
}

// SetLevel implements klog.Control; it applies to every Logger derived from
// this one. On the Logger's own logrus.Logger it also sets the mapped
// logrus level; a logrus.Logger given with WithLogger keeps its level.
func (l *Logger) SetLevel(lv klog.Level) {
	l.level.Store(int32(lv))
	if l.own {
		l.lg.SetLevel(LogrusLevel(lv))
	}
}

// SetOutput implements klog.Control. It redirects the Logger's own JSON
// output (of every Logger derived from this one); a logrus.Logger given with
// WithLogger writes where it writes.
func (l *Logger) SetOutput(w io.Writer) {
	if l.own {
		l.lg.SetOutput(w)
	}
}

// noticeKey marks, in an entry's Context, a klog Notice record logged at
// logrus.InfoLevel, for the formatter to name it NOTICE.
type noticeKey struct{}

func isNotice(ctx context.Context) bool {
	return ctx != nil && ctx.Value(noticeKey{}) != nil
}

// log is the one path every method takes. The level check comes first, so a
// disabled call formats and allocates nothing.
func (l *Logger) log(ctx context.Context, lv klog.Level, format string, formatted bool, v []any) {
	if int32(lv) < l.level.Load() {
		if lv == klog.LevelFatal {
			l.cfg.exit(1)
		}
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ll := LogrusLevel(lv)
	out := l.lg.IsLevelEnabled(ll)
	toOTel := l.otel != nil && l.otel.enabled(ctx, lv)
	if out || toOTel {
		var msg string
		if formatted {
			msg = fmt.Sprintf(format, v...)
		} else {
			msg = fmt.Sprint(v...)
		}
		now := time.Now()
		if lv == klog.LevelNotice {
			ctx = context.WithValue(ctx, noticeKey{}, true)
		}
		if toOTel {
			// The bridge emits with the entry's Context (the trace context, and
			// the klog level for the severity); it gets the entry before the
			// trace fields are added.
			_ = l.otel.hook.Fire(&logrus.Entry{Logger: l.lg, Data: l.fields, Time: now, Level: ll, Message: msg,
				Context: otelseverity.WithLevel(ctx, lv)})
		}
		if out {
			data := make(logrus.Fields, len(l.fields)+3)
			maps.Copy(data, l.fields)
			if t, ok := logging.TraceFields(ctx); ok {
				data[l.cfg.names.TraceID] = t.TraceID
				data[l.cfg.names.SpanID] = t.SpanID
				data[l.cfg.names.TraceFlags] = t.TraceFlags
			}
			// Entry.Log never exits nor panics, even at FatalLevel.
			(&logrus.Entry{Logger: l.lg, Data: data, Time: now, Context: ctx}).Log(ll, msg)
		}
		if l.cfg.errorMarksSpan && lv >= klog.LevelError {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetStatus(codes.Error, msg)
			}
		}
	}
	if lv == klog.LevelFatal {
		l.cfg.exit(1)
	}
}

// Trace logs at logrus.TraceLevel.
func (l *Logger) Trace(v ...any) { l.log(nil, klog.LevelTrace, "", false, v) }

// Debug logs at logrus.DebugLevel.
func (l *Logger) Debug(v ...any) { l.log(nil, klog.LevelDebug, "", false, v) }

// Info logs at logrus.InfoLevel.
func (l *Logger) Info(v ...any) { l.log(nil, klog.LevelInfo, "", false, v) }

// Notice logs at logrus.InfoLevel, named NOTICE.
func (l *Logger) Notice(v ...any) { l.log(nil, klog.LevelNotice, "", false, v) }

// Warn logs at logrus.WarnLevel.
func (l *Logger) Warn(v ...any) { l.log(nil, klog.LevelWarn, "", false, v) }

// Error logs at logrus.ErrorLevel.
func (l *Logger) Error(v ...any) { l.log(nil, klog.LevelError, "", false, v) }

// Fatal logs at logrus.FatalLevel, then calls the exit function (os.Exit(1)
// unless WithExitFunc).
func (l *Logger) Fatal(v ...any) { l.log(nil, klog.LevelFatal, "", false, v) }

// Tracef logs at logrus.TraceLevel.
func (l *Logger) Tracef(format string, v ...any) { l.log(nil, klog.LevelTrace, format, true, v) }

// Debugf logs at logrus.DebugLevel.
func (l *Logger) Debugf(format string, v ...any) { l.log(nil, klog.LevelDebug, format, true, v) }

// Infof logs at logrus.InfoLevel.
func (l *Logger) Infof(format string, v ...any) { l.log(nil, klog.LevelInfo, format, true, v) }

// Noticef logs at logrus.InfoLevel, named NOTICE.
func (l *Logger) Noticef(format string, v ...any) { l.log(nil, klog.LevelNotice, format, true, v) }

// Warnf logs at logrus.WarnLevel.
func (l *Logger) Warnf(format string, v ...any) { l.log(nil, klog.LevelWarn, format, true, v) }

// Errorf logs at logrus.ErrorLevel.
func (l *Logger) Errorf(format string, v ...any) { l.log(nil, klog.LevelError, format, true, v) }

// Fatalf logs at logrus.FatalLevel, then calls the exit function.
func (l *Logger) Fatalf(format string, v ...any) { l.log(nil, klog.LevelFatal, format, true, v) }

// CtxTracef logs at logrus.TraceLevel with the trace fields of ctx.
func (l *Logger) CtxTracef(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelTrace, format, true, v)
}

// CtxDebugf logs at logrus.DebugLevel with the trace fields of ctx.
func (l *Logger) CtxDebugf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelDebug, format, true, v)
}

// CtxInfof logs at logrus.InfoLevel with the trace fields of ctx.
func (l *Logger) CtxInfof(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelInfo, format, true, v)
}

// CtxNoticef logs at logrus.InfoLevel, named NOTICE, with the trace fields
// of ctx.
func (l *Logger) CtxNoticef(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelNotice, format, true, v)
}

// CtxWarnf logs at logrus.WarnLevel with the trace fields of ctx.
func (l *Logger) CtxWarnf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelWarn, format, true, v)
}

// CtxErrorf logs at logrus.ErrorLevel with the trace fields of ctx (and
// marks the span with WithErrorMarksSpan).
func (l *Logger) CtxErrorf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelError, format, true, v)
}

// CtxFatalf logs at logrus.FatalLevel with the trace fields of ctx, then
// calls the exit function.
func (l *Logger) CtxFatalf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelFatal, format, true, v)
}
