package logging

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
)

// traceHandler adds the trace correlation fields to every record and, when
// configured, copies records to an OTel LoggerProvider. Derived handlers
// (WithAttrs, WithGroup) are traceHandlers too, so the fields survive them.
type traceHandler struct {
	inner slog.Handler
	otel  slog.Handler // nil unless WithLoggerProvider
	names FieldNames
}

func (h *traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l) || (h.otel != nil && h.otel.Enabled(ctx, l))
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.otel != nil && h.otel.Enabled(ctx, r.Level) {
		// The OTel bridge reads the trace context from ctx itself; it gets
		// the record before the fields below are added.
		_ = h.otel.Handle(ctx, r)
	}
	if !h.inner.Enabled(ctx, r.Level) {
		return nil
	}
	if t, ok := TraceFields(ctx); ok {
		r.AddAttrs(slog.String(h.names.TraceID, t.TraceID), slog.String(h.names.SpanID, t.SpanID),
			slog.String(h.names.TraceFlags, t.TraceFlags))
	}
	return h.inner.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(attrs)
	if h.otel != nil {
		c.otel = h.otel.WithAttrs(attrs)
	}
	return &c
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	if h.otel != nil {
		c.otel = h.otel.WithGroup(name)
	}
	return &c
}

// swapWriter is the output of the Logger's own handler, so that SetOutput
// can change it without rebuilding handlers other Loggers derived.
type swapWriter struct{ w atomic.Pointer[io.Writer] }

func (s *swapWriter) Write(p []byte) (int, error) { return (*s.w.Load()).Write(p) }

func (s *swapWriter) set(w io.Writer) { s.w.Store(&w) }
