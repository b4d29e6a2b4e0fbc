package tracing

import (
	"context"
	"sync/atomic"

	"github.com/cloudwego/kitex/pkg/stats"
	"go.opentelemetry.io/otel/trace"
)

// callRecord is what a Suite keeps about one traced call between the
// tracer's Start and Finish. It lives in the call's context; it never holds
// the RPCInfo, which Kitex recycles after Finish.
type callRecord struct {
	span   trace.Span
	remote trace.SpanContext // server: the parent extracted from the request
	skip   bool              // filtered out: no span, propagation only

	// provisional: the server span started before Kitex knew the method
	// (gRPC reads the method after the tracer starts), so Finish renames it.
	provisional bool
	sent        atomic.Int64
	recv        atomic.Int64
	sentBytes   atomic.Int64
	recvBytes   atomic.Int64
	attempts    atomic.Int32
}

type recordKey struct{}

// recordCtx carries a callRecord in the context it lives in: one allocation
// for both, where context.WithValue plus a record would be two.
type recordCtx struct {
	context.Context
	rec callRecord
}

func (c *recordCtx) Value(key any) any {
	if key == (recordKey{}) {
		return &c.rec
	}
	return c.Context.Value(key)
}

// withRecord returns a child of ctx holding a new callRecord.
func withRecord(ctx context.Context) (context.Context, *callRecord) {
	c := &recordCtx{Context: ctx}
	return c, &c.rec
}

func recordFrom(ctx context.Context) *callRecord {
	r, _ := ctx.Value(recordKey{}).(*callRecord)
	return r
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
