package kitexzap

import (
	"github.com/cloudwego/kitex/pkg/klog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LevelTrace is the zap level of klog's Trace: one below zap's debug level.
// LevelEncoder prints it as "TRACE".
const LevelTrace = zapcore.DebugLevel - 1

// noticeLevel is what the Logger's own core gets for klog's Notice, so that
// LevelEncoder can print "NOTICE"; its enabler treats it as info. zap has
// no level between info and warn, so other cores get zapcore.InfoLevel.
const noticeLevel = zapcore.Level(-64)

// ZapLevel maps a klog level to its zap level: Trace LevelTrace, Debug
// debug, Info info, Notice info (zap has no level between info and warn),
// Warn warn, Error error, Fatal fatal.
func ZapLevel(l klog.Level) zapcore.Level {
	switch l {
	case klog.LevelTrace:
		return LevelTrace
	case klog.LevelDebug:
		return zapcore.DebugLevel
	case klog.LevelInfo, klog.LevelNotice:
		return zapcore.InfoLevel
	case klog.LevelWarn:
		return zapcore.WarnLevel
	case klog.LevelError:
		return zapcore.ErrorLevel
	}
	return zapcore.FatalLevel
}

// LevelEncoder prints levels as the slog adapter does: TRACE, DEBUG, INFO,
// NOTICE (from the Logger's own core only), WARN, ERROR, FATAL; other zap
// levels as zapcore.CapitalLevelEncoder does.
func LevelEncoder(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	switch l {
	case LevelTrace:
		enc.AppendString("TRACE")
	case noticeLevel:
		enc.AppendString("NOTICE")
	default:
		zapcore.CapitalLevelEncoder(l, enc)
	}
}

// NewEncoderConfig returns the encoder config of the Logger's own JSON
// output: zap.NewProductionEncoderConfig with the keys "time", "level" and
// "msg", LevelEncoder, and times in RFC 3339 with milliseconds (as
// log/slog's JSON handler writes them). For a core of your own (WithCore)
// that looks like the default output.
func NewEncoderConfig() zapcore.EncoderConfig {
	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = "time"
	cfg.LevelKey = "level"
	cfg.MessageKey = "msg"
	cfg.EncodeLevel = LevelEncoder
	cfg.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z07:00")
	return cfg
}

// ownEnabler is the level of the Logger's own core: the AtomicLevel that
// SetLevel sets, with noticeLevel counted as info.
type ownEnabler struct{ zap.AtomicLevel }

func (e ownEnabler) Enabled(l zapcore.Level) bool {
	if l == noticeLevel {
		l = zapcore.InfoLevel
	}
	return e.AtomicLevel.Enabled(l)
}
