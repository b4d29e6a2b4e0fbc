package kitexzap

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kitexsuite/suite/logging"
	"github.com/kitexsuite/suite/logging/internal/otelseverity"
)

// ScopeName is the instrumentation scope of records sent to a
// LoggerProvider.
const ScopeName = "github.com/kitexsuite/suite/logging/zap"

// Logger is a klog.FullLogger on zap with trace correlation.
type Logger struct {
	zl         *zap.Logger  // fatal hook that does not exit
	otel       zapcore.Core // otelzap; nil unless WithLoggerProvider
	otelLogger log.Logger   // the level check of otel records
	level      *levelState  // shared with derived Loggers
	out        *swapWriter  // nil when the user gave the core or logger
	cfg        *config
}

var (
	_ klog.FullLogger = (*Logger)(nil)
	_ klog.Control    = (*Logger)(nil)
)

// NewLogger returns a Logger configured by opts; see the package doc.
func NewLogger(opts ...Option) *Logger {
	cfg := newConfig(opts)
	l := &Logger{level: &levelState{zap: zap.NewAtomicLevel()}, cfg: cfg}
	l.level.set(cfg.level)
	noExit := zap.WithFatalHook(noExitHook{})
	switch {
	case cfg.logger != nil:
		// Skip log and the klog method, so that zap's caller is the
		// caller of the Logger.
		l.zl = cfg.logger.WithOptions(noExit, zap.AddCallerSkip(2))
	case cfg.core != nil:
		l.zl = zap.New(cfg.core, noExit)
	default:
		l.out = &swapWriter{}
		l.out.set(os.Stderr)
		core := zapcore.NewCore(zapcore.NewJSONEncoder(NewEncoderConfig()), zapcore.Lock(l.out), ownEnabler{l.level.zap})
		l.zl = zap.New(core, noExit)
	}
	if lp := cfg.loggerProvider; lp != nil {
		l.otel = otelzap.NewCore(ScopeName, otelzap.WithLoggerProvider(otelseverity.Provider(lp)))
		l.otelLogger = lp.Logger(ScopeName)
	}
	return l
}

// With returns a Logger adding fields to every record (and, with
// WithLoggerProvider, as attributes to every OTel record). The trace fields
// are added per call, so the derived Logger still writes them.
func (l *Logger) With(fields ...zap.Field) *Logger {
	c := *l
	c.zl = l.zl.With(fields...)
	if l.otel != nil {
		c.otel = l.otel.With(fields)
	}
	return &c
}

// SetLevel implements klog.Control; it applies to every Logger derived from
// this one.
func (l *Logger) SetLevel(lv klog.Level) { l.level.set(lv) }

// SetOutput implements klog.Control. It redirects the Logger's own JSON
// output; a core or logger given with WithCore or WithLogger writes where it
// writes.
func (l *Logger) SetOutput(w io.Writer) {
	if l.out != nil {
		l.out.set(w)
	}
}

// Sync flushes the output, as zap.Logger.Sync does.
func (l *Logger) Sync() error { return l.zl.Sync() }

// log is the one path every method takes. The level check comes first, so a
// disabled call formats and allocates nothing.
func (l *Logger) log(ctx context.Context, lv klog.Level, format string, formatted bool, v []any) {
	if lv < l.level.get() {
		if lv == klog.LevelFatal {
			l.cfg.exit(1)
		}
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	zlv := ZapLevel(lv)
	if lv == klog.LevelNotice && l.out != nil {
		zlv = noticeLevel
	}
	// Core().Enabled first: zap's sampler keys on the message, so Check must
	// see the formatted message, and formatting waits until a writer wants it.
	toZap := l.zl.Core().Enabled(zlv)
	toOTel := false
	if l.otel != nil {
		sev, _ := otelseverity.Severity(lv)
		toOTel = l.otelLogger.Enabled(ctx, log.EnabledParameters{Severity: sev})
	}
	if toZap || toOTel {
		var msg string
		if formatted {
			msg = fmt.Sprintf(format, v...)
		} else {
			msg = fmt.Sprint(v...)
		}
		var ce *zapcore.CheckedEntry
		if toZap {
			ce = l.zl.Check(zlv, msg)
		}
		if toOTel {
			// otelzap emits with the context of a field holding one; it
			// gets the record without the fields below, the trace context
			// is the record's own.
			ent := zapcore.Entry{Level: ZapLevel(lv), Time: time.Now(), Message: msg}
			_ = l.otel.Write(ent, []zapcore.Field{zap.Reflect("context", otelseverity.WithLevel(ctx, lv))})
		}
		if ce != nil {
			if t, ok := logging.TraceFields(ctx); ok {
				n := &l.cfg.names
				ce.Write(zap.String(n.TraceID, t.TraceID), zap.String(n.SpanID, t.SpanID),
					zap.String(n.TraceFlags, t.TraceFlags))
			} else {
				ce.Write()
			}
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

// Trace logs at LevelTrace.
func (l *Logger) Trace(v ...any) { l.log(nil, klog.LevelTrace, "", false, v) }

// Debug logs at zap's debug level.
func (l *Logger) Debug(v ...any) { l.log(nil, klog.LevelDebug, "", false, v) }

// Info logs at zap's info level.
func (l *Logger) Info(v ...any) { l.log(nil, klog.LevelInfo, "", false, v) }

// Notice logs at zap's info level, named NOTICE by the Logger's own output.
func (l *Logger) Notice(v ...any) { l.log(nil, klog.LevelNotice, "", false, v) }

// Warn logs at zap's warn level.
func (l *Logger) Warn(v ...any) { l.log(nil, klog.LevelWarn, "", false, v) }

// Error logs at zap's error level.
func (l *Logger) Error(v ...any) { l.log(nil, klog.LevelError, "", false, v) }

// Fatal logs at zap's fatal level, then calls the exit function (os.Exit(1)
// unless WithExitFunc); zap itself never exits.
func (l *Logger) Fatal(v ...any) { l.log(nil, klog.LevelFatal, "", false, v) }

// Tracef logs at LevelTrace.
func (l *Logger) Tracef(format string, v ...any) { l.log(nil, klog.LevelTrace, format, true, v) }

// Debugf logs at zap's debug level.
func (l *Logger) Debugf(format string, v ...any) { l.log(nil, klog.LevelDebug, format, true, v) }

// Infof logs at zap's info level.
func (l *Logger) Infof(format string, v ...any) { l.log(nil, klog.LevelInfo, format, true, v) }

// Noticef logs at zap's info level, named NOTICE by the Logger's own output.
func (l *Logger) Noticef(format string, v ...any) { l.log(nil, klog.LevelNotice, format, true, v) }

// Warnf logs at zap's warn level.
func (l *Logger) Warnf(format string, v ...any) { l.log(nil, klog.LevelWarn, format, true, v) }

// Errorf logs at zap's error level.
func (l *Logger) Errorf(format string, v ...any) { l.log(nil, klog.LevelError, format, true, v) }

// Fatalf logs at zap's fatal level, then calls the exit function.
func (l *Logger) Fatalf(format string, v ...any) { l.log(nil, klog.LevelFatal, format, true, v) }

// CtxTracef logs at LevelTrace with the trace fields of ctx.
func (l *Logger) CtxTracef(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelTrace, format, true, v)
}

// CtxDebugf logs at zap's debug level with the trace fields of ctx.
func (l *Logger) CtxDebugf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelDebug, format, true, v)
}

// CtxInfof logs at zap's info level with the trace fields of ctx.
func (l *Logger) CtxInfof(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelInfo, format, true, v)
}

// CtxNoticef logs at zap's info level, named NOTICE by the Logger's own
// output, with the trace fields of ctx.
func (l *Logger) CtxNoticef(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelNotice, format, true, v)
}

// CtxWarnf logs at zap's warn level with the trace fields of ctx.
func (l *Logger) CtxWarnf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelWarn, format, true, v)
}

// CtxErrorf logs at zap's error level with the trace fields of ctx (and
// marks the span with WithErrorMarksSpan).
func (l *Logger) CtxErrorf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelError, format, true, v)
}

// CtxFatalf logs at zap's fatal level with the trace fields of ctx, then
// calls the exit function.
func (l *Logger) CtxFatalf(ctx context.Context, format string, v ...any) {
	l.log(ctx, klog.LevelFatal, format, true, v)
}

// levelState is the level of a Logger and the Loggers derived from it: the
// klog level every call is checked against first, and the zap level of the
// Logger's own core (zap has no Notice: it is info there).
type levelState struct {
	klog atomic.Int32
	zap  zap.AtomicLevel
}

func (s *levelState) get() klog.Level { return klog.Level(s.klog.Load()) }

func (s *levelState) set(l klog.Level) {
	s.klog.Store(int32(l))
	s.zap.SetLevel(ZapLevel(l))
}

// noExitHook replaces zap's fatal hook: the Logger calls its exit function
// itself, after logging to every output.
type noExitHook struct{}

func (noExitHook) OnWrite(*zapcore.CheckedEntry, []zapcore.Field) {}

// swapWriter is the output of the Logger's own core, so that SetOutput can
// change it without rebuilding cores other Loggers derived.
type swapWriter struct{ w atomic.Pointer[io.Writer] }

func (s *swapWriter) Write(p []byte) (int, error) { return (*s.w.Load()).Write(p) }

// Sync syncs the output when it can (zap syncs after a Fatal record).
func (s *swapWriter) Sync() error {
	if ws, ok := (*s.w.Load()).(interface{ Sync() error }); ok {
		return ws.Sync()
	}
	return nil
}

func (s *swapWriter) set(w io.Writer) { s.w.Store(&w) }
