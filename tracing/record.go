package tracing

import (
	"context"
	"sync/atomic"

	"github.com/cloudwego/kitex/pkg/stats"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/callctx"
	"github.com/kitexsuite/suite/internal/stack"
	"github.com/kitexsuite/suite/rpcmodel"
)

// callRecord is what a Suite keeps about one traced call between the
// tracer's Start and Finish. It lives in the call's context; it never holds
// the RPCInfo, which Kitex recycles after Finish.
type callRecord struct {
	span   trace.Span
	remote trace.SpanContext // server: the parent extracted from the request
	skip   bool              // filtered out: no span, propagation only
	// stack (server) is the server's stack hint: a traced client call
	// made in the handler sets it deep (see clientTracer.Start).
	stack *stack.Hint

	// provisional: the server span started before Kitex knew the method
	// (gRPC reads the method after the tracer starts), so Finish renames it.
	provisional bool
	// startMethod is the rpc.method the span started with ("" if none).
	startMethod string
	// startOpts backs a server span's start options: the cached ones plus
	// what the call adds (a new root, the start time), without allocating.
	startOpts [5]trace.SpanStartOption
	config    rpcmodel.ConfigSnapshot // client: the call's configuration at Start
	sent      atomic.Int64
	recv      atomic.Int64
	sentBytes atomic.Int64
	recvBytes atomic.Int64
	attempts  atomic.Int32

	// Client streams only: Kitex finishes a gRPC client stream on a failed
	// Recv or Send or at its end, never when the caller cancels and walks
	// away; abandon ends the span then. ended makes the two paths end it
	// once; stopAbandon unregisters it when Finish comes first.
	ended       atomic.Bool
	stopAbandon func() bool
}

// recordKey tells a client call's record from a server call's: a handler's
// context holds the server record, and a client call made in it must never
// find that one (a filtered or unsampled client call would otherwise end
// the server's span).
type recordKey struct{ side rpcmodel.Side }

var (
	clientKey = recordKey{rpcmodel.Client}
	serverKey = recordKey{rpcmodel.Server}
)

// withRecord returns a child of ctx holding a new callRecord under key (one
// allocation for both, see callctx).
func withRecord(ctx context.Context, key recordKey) (context.Context, *callRecord) {
	return callctx.WithAlias[callRecord](ctx, key, rpcmodel.TraceLinkKey())
}

func recordFrom(ctx context.Context, key recordKey) *callRecord {
	return callctx.From[callRecord](ctx, key)
}

// TraceLink publishes the call's span to other signals (metric exemplars,
// log lines) through rpcmodel.TraceLinkFrom.
func (r *callRecord) TraceLink() (rpcmodel.TraceLink, bool) {
	if r.span == nil {
		return rpcmodel.TraceLink{}, false
	}
	sc := r.span.SpanContext()
	if !sc.IsValid() {
		return rpcmodel.TraceLink{}, false
	}
	return rpcmodel.TraceLink{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Sampled: sc.IsSampled()}, true
}

// detailedEvents are the Kitex stats events WithDetailedEvents turns into
// span events, with the event names they get.
var detailedEvents = [...]struct {
	event stats.Event
	name  string
}{
	{stats.ClientConnStart, "kitex.conn.start"},
	{stats.ClientConnFinish, "kitex.conn.finish"},
	{stats.ServerHandleStart, "kitex.handle.start"},
	{stats.ServerHandleFinish, "kitex.handle.finish"},
	{stats.ReadStart, "kitex.read.start"},
	{stats.ReadFinish, "kitex.read.finish"},
	{stats.WaitReadStart, "kitex.wait_read.start"},
	{stats.WaitReadFinish, "kitex.wait_read.finish"},
	{stats.WriteStart, "kitex.write.start"},
	{stats.WriteFinish, "kitex.write.finish"},
}
