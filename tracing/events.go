package tracing

import (
	"context"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// addStatsEvents turns Kitex's detailed stats into span events. It runs in
// Finish, while the RPCStats are still valid.
func addStatsEvents(sp trace.Span, st rpcinfo.RPCStats) {
	for _, e := range detailedEvents {
		if ev := st.GetEvent(e.event); ev != nil && !ev.IsNil() {
			sp.AddEvent(e.name, trace.WithTimestamp(ev.Time()))
		}
	}
}

// messageEventName is the span event WithMessageEvents records per message.
const messageEventName = "kitex.stream.message"

var (
	// Semantic conventions v1.43 dropped the rpc.message event and its
	// attributes (otelgrpc v0.72.0 records none), so WithMessageEvents
	// names its events in the kitex namespace.
	messageDirectionKey = attribute.Key("kitex.message.direction")
	messageIDKey        = attribute.Key("kitex.message.id")
	messageSizeKey      = attribute.Key("kitex.message.size")
	sentAttr            = messageDirectionKey.String("sent")
	recvAttr            = messageDirectionKey.String("received")
)

// onStreamSend and onStreamRecv count the messages of a stream (Kitex calls
// them after each Send/Recv, not for the io.EOF that ends a stream).
func (c *config) onStreamSend(ctx context.Context, key recordKey, ri rpcinfo.RPCInfo, err error) {
	rec := recordFrom(ctx, key)
	if rec == nil || rec.span == nil || err != nil {
		return
	}
	n := rec.sent.Add(1)
	size := int64(ri.Stats().LastSendSize())
	rec.sentBytes.Add(size)
	if c.messageEvents {
		rec.span.AddEvent(messageEventName, trace.WithAttributes(sentAttr, messageIDKey.Int64(n), messageSizeKey.Int64(size)))
	}
}

func (c *config) onStreamRecv(ctx context.Context, key recordKey, ri rpcinfo.RPCInfo, err error) {
	rec := recordFrom(ctx, key)
	if rec == nil || rec.span == nil || err != nil {
		return
	}
	n := rec.recv.Add(1)
	size := int64(ri.Stats().LastRecvSize())
	rec.recvBytes.Add(size)
	if c.messageEvents {
		rec.span.AddEvent(messageEventName, trace.WithAttributes(recvAttr, messageIDKey.Int64(n), messageSizeKey.Int64(size)))
	}
}

func (c *config) clientStreamHandler() rpcinfo.ClientStreamEventHandler {
	return rpcinfo.ClientStreamEventHandler{
		HandleStreamSendEvent: func(ctx context.Context, ri rpcinfo.RPCInfo, evt rpcinfo.StreamSendEvent) {
			c.onStreamSend(ctx, clientKey, ri, evt.Err)
		},
		HandleStreamRecvEvent: func(ctx context.Context, ri rpcinfo.RPCInfo, evt rpcinfo.StreamRecvEvent) {
			c.onStreamRecv(ctx, clientKey, ri, evt.Err)
		},
	}
}

func (c *config) serverStreamHandler() rpcinfo.ServerStreamEventHandler {
	return rpcinfo.ServerStreamEventHandler{
		HandleStreamSendEvent: func(ctx context.Context, ri rpcinfo.RPCInfo, evt rpcinfo.StreamSendEvent) {
			c.onStreamSend(ctx, serverKey, ri, evt.Err)
		},
		HandleStreamRecvEvent: func(ctx context.Context, ri rpcinfo.RPCInfo, evt rpcinfo.StreamRecvEvent) {
			c.onStreamRecv(ctx, serverKey, ri, evt.Err)
		},
	}
}
