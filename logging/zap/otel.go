package kitexzap

import (
	"context"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/embedded"
)

// otelzap sets a record's severity from the zap level, which cannot tell
// klog's Trace, Notice and Fatal apart the way the slog adapter's records
// do. The Logger hands otelzap a LoggerProvider of its own whose loggers
// set the severity from the klog level, carried to Emit in the context
// otelzap emits with (the "context" field), and unwrap that context again.

// levelCtx is the context a record is written to otelzap with.
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

// Enabled is not on the Logger's path: it checks the level of an OTel
// record itself, with the caller's context and the record's severity,
// before it formats the message, and then writes to otelzap directly.
func (l severityLogger) Enabled(ctx context.Context, p log.EnabledParameters) bool {
	return l.inner.Enabled(ctx, p)
}
