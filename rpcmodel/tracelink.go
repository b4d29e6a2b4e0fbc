package rpcmodel

import "context"

// TraceLink identifies the span of the current call, for signals that point
// at it without depending on the tracing module: a metric exemplar, a log
// line. TraceID and SpanID are the W3C binary forms.
type TraceLink struct {
	TraceID [16]byte
	SpanID  [8]byte
	Sampled bool
}

// TraceLinker is what a tracing Suite puts in a call's context under
// TraceLinkKey: it answers with the call's span once there is one.
type TraceLinker interface {
	TraceLink() (TraceLink, bool)
}

type traceLinkKey struct{}

// TraceLinkKey returns the context key a tracing Suite answers with a
// TraceLinker, so that a Suite's own context type can answer it without an
// extra context layer.
func TraceLinkKey() any { return traceLinkKey{} }

// TraceLinkFrom returns the current call's span as a tracing Suite published
// it. It finds the span even where the span is not (yet) in ctx as an OTel
// value: Kitex's server tracer sees the context from before the handler.
func TraceLinkFrom(ctx context.Context) (TraceLink, bool) {
	if l, ok := ctx.Value(traceLinkKey{}).(TraceLinker); ok {
		return l.TraceLink()
	}
	return TraceLink{}, false
}
