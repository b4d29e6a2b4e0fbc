package logging

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/rpcmodel"
)

// FieldNames are the keys trace correlation writes. The defaults are the
// same in every kitexsuite adapter.
type FieldNames struct {
	TraceID    string
	SpanID     string
	TraceFlags string
}

// Override returns n with every name o sets replacing n's; an empty name
// in o keeps n's. Every adapter's WithFieldNames applies it.
func (n FieldNames) Override(o FieldNames) FieldNames {
	if o.TraceID != "" {
		n.TraceID = o.TraceID
	}
	if o.SpanID != "" {
		n.SpanID = o.SpanID
	}
	if o.TraceFlags != "" {
		n.TraceFlags = o.TraceFlags
	}
	return n
}

// DefaultFieldNames are trace_id, span_id and trace_flags.
var DefaultFieldNames = FieldNames{TraceID: "trace_id", SpanID: "span_id", TraceFlags: "trace_flags"}

// Trace is the correlation of one log record, in the W3C text forms.
type Trace struct {
	TraceID    string // 32 lower-case hex digits
	SpanID     string // 16 lower-case hex digits
	TraceFlags string // 2 hex digits, "01" when sampled
}

// TraceFields returns the correlation for ctx: a local span in ctx as OTel
// put it, else the span a kitexsuite tracing Suite published for the call,
// else a remote parent in ctx. The order matters on a Kitex server: before
// the handler, ctx holds the caller's (remote) span context, while the
// call's own server span is the one the Suite published. ok is false when
// there is no valid span: then nothing must be logged.
func TraceFields(ctx context.Context) (Trace, bool) {
	if ctx == nil {
		return Trace{}, false
	}
	sc := trace.SpanContextFromContext(ctx)
	if sc.IsValid() && !sc.IsRemote() {
		return fromSpanContext(sc), true
	}
	if l, ok := rpcmodel.TraceLinkFrom(ctx); ok {
		flags := "00"
		if l.Sampled {
			flags = "01"
		}
		return Trace{TraceID: hex.EncodeToString(l.TraceID[:]), SpanID: hex.EncodeToString(l.SpanID[:]), TraceFlags: flags}, true
	}
	if sc.IsValid() {
		return fromSpanContext(sc), true
	}
	return Trace{}, false
}

func fromSpanContext(sc trace.SpanContext) Trace {
	return Trace{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), TraceFlags: sc.TraceFlags().String()}
}
