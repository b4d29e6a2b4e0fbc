package kitexlogrus

import (
	"context"
	"log/slog"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/contrib/bridges/otellogrus"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/embedded"

	"github.com/kitexsuite/suite/logging"
)

// otellogrus sets a record's severity from the logrus level, which cannot
// tell klog's Notice from Info, and its severity text is logrus's level
// name. The Logger hands otellogrus a LoggerProvider of its own whose
// loggers set the severity and its text from the klog level, carried to
// Emit in the entry's Context (which otellogrus emits with), and unwrap that
// context again: the records are the ones the slog adapter exports.

// otelOutput sends records to a LoggerProvider through the otellogrus
// bridge; logger, the provider's logger of the same scope, answers Enabled
// before the message is built.
type otelOutput struct {
	hook   *otellogrus.Hook
	logger log.Logger
}

func newOTelOutput(lp log.LoggerProvider) *otelOutput {
	return &otelOutput{
		hook:   otellogrus.NewHook(ScopeName, otellogrus.WithLoggerProvider(severityProvider{lp: lp})),
		logger: lp.Logger(ScopeName),
	}
}

func (o *otelOutput) enabled(ctx context.Context, lv klog.Level) bool {
	sev, _ := severity(lv)
	return o.logger.Enabled(ctx, log.EnabledParameters{Severity: sev})
}

// levelCtx is the Context of the entry given to otellogrus.
type levelCtx struct {
	context.Context
	level klog.Level
}

type severityProvider struct {
	embedded.LoggerProvider
	lp log.LoggerProvider
}

func (p severityProvider) Logger(name string, opts ...log.LoggerOption) log.Logger {
	return severityLogger{inner: p.lp.Logger(name, opts...)}
}

type severityLogger struct {
	embedded.Logger
	inner log.Logger
}

func (l severityLogger) Emit(ctx context.Context, r log.Record) {
	if c, ok := ctx.(*levelCtx); ok {
		sev, text := severity(c.level)
		r.SetSeverity(sev)
		r.SetSeverityText(text)
		ctx = c.Context
	}
	l.inner.Emit(ctx, r)
}

func (l severityLogger) Enabled(ctx context.Context, p log.EnabledParameters) bool {
	if c, ok := ctx.(*levelCtx); ok {
		p.Severity, _ = severity(c.level)
		ctx = c.Context
	}
	return l.inner.Enabled(ctx, p)
}

// severity is the OTel severity and severity text of a klog level: the ones
// the slog adapter's records get from otelslog (TRACE for Trace, INFO3 for
// Notice, FATAL for Fatal; the texts slog's level names: "DEBUG-4", "INFO",
// "INFO+2", "WARN", "ERROR+4", ...).
func severity(l klog.Level) (log.Severity, string) {
	const offset = slog.Level(log.SeverityDebug) - slog.LevelDebug
	sl := logging.SlogLevel(l)
	return log.Severity(sl + offset), sl.String()
}
