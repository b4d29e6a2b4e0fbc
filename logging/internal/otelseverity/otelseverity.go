// Package otelseverity makes the OTel log bridges of the zap and logrus
// adapters (otelzap, otellogrus) export the records the slog adapter
// exports: those bridges set a record's severity from their logger's level,
// which cannot tell klog's Trace, Notice and Fatal apart. An adapter hands
// its bridge Provider(lp) and emits with WithLevel(ctx, level); the
// provider's loggers set severity and text from the klog level and unwrap
// the context again.
package otelseverity

import (
	"context"
	"log/slog"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/embedded"

	"github.com/kitexsuite/suite/logging"
)

// levelCtx is the context a record is emitted with, carrying its klog level.
type levelCtx struct {
	context.Context
	level klog.Level
}

// WithLevel returns ctx carrying the klog level of the record about to be
// emitted through a bridge.
func WithLevel(ctx context.Context, l klog.Level) context.Context {
	return &levelCtx{Context: ctx, level: l}
}

// Provider wraps lp so its loggers set severity from the klog level.
func Provider(lp log.LoggerProvider) log.LoggerProvider { return provider{lp: lp} }

type provider struct {
	embedded.LoggerProvider
	lp log.LoggerProvider
}

func (p provider) Logger(name string, opts ...log.LoggerOption) log.Logger {
	return logger{inner: p.lp.Logger(name, opts...)}
}

type logger struct {
	embedded.Logger
	inner log.Logger
}

func (l logger) Emit(ctx context.Context, r log.Record) {
	if c, ok := ctx.(*levelCtx); ok {
		sev, text := Severity(c.level)
		r.SetSeverity(sev)
		r.SetSeverityText(text)
		ctx = c.Context
	}
	l.inner.Emit(ctx, r)
}

func (l logger) Enabled(ctx context.Context, p log.EnabledParameters) bool {
	if c, ok := ctx.(*levelCtx); ok {
		p.Severity, _ = Severity(c.level)
		ctx = c.Context
	}
	return l.inner.Enabled(ctx, p)
}

// Severity is the OTel severity and severity text of a klog level: the ones
// the slog adapter's records get from otelslog (TRACE for Trace, INFO3 for
// Notice, FATAL for Fatal; the texts slog's level names: "DEBUG-4", "INFO",
// "INFO+2", "WARN", "ERROR+4", ...).
func Severity(l klog.Level) (log.Severity, string) {
	const offset = slog.Level(log.SeverityDebug) - slog.LevelDebug
	sl := logging.SlogLevel(l)
	return log.Severity(sl + offset), sl.String()
}
