package logging

import (
	"log/slog"

	"github.com/cloudwego/kitex/pkg/klog"
)

// slog levels of the klog levels slog has no name for.
const (
	LevelTrace  = slog.Level(-8)
	LevelNotice = slog.Level(2)
	LevelFatal  = slog.Level(12)
)

// SlogLevel maps a klog level to its slog level.
func SlogLevel(l klog.Level) slog.Level {
	switch l {
	case klog.LevelTrace:
		return LevelTrace
	case klog.LevelDebug:
		return slog.LevelDebug
	case klog.LevelInfo:
		return slog.LevelInfo
	case klog.LevelNotice:
		return LevelNotice
	case klog.LevelWarn:
		return slog.LevelWarn
	case klog.LevelError:
		return slog.LevelError
	}
	return LevelFatal
}

// levelNames names the levels slog prints as "DEBUG-4" and the like.
func replaceLevelName(groups []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey || len(groups) > 0 {
		return a
	}
	if l, ok := a.Value.Any().(slog.Level); ok {
		switch l {
		case LevelTrace:
			a.Value = slog.StringValue("TRACE")
		case LevelNotice:
			a.Value = slog.StringValue("NOTICE")
		case LevelFatal:
			a.Value = slog.StringValue("FATAL")
		}
	}
	return a
}
