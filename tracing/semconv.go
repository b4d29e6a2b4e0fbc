package tracing

import (
	"sync"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/serviceinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/rpcmodel"
)

// Kitex-specific attribute keys. The OTel RPC conventions have no place for
// Kitex's business status, so it goes under the `kitex.` namespace.
const (
	BizStatusCodeKey    = attribute.Key("kitex.biz_status.code")
	BizStatusMessageKey = attribute.Key("kitex.biz_status.message")
	PeerServiceKey      = semconv.ServicePeerNameKey          // service.peer.name: callee on client spans, caller on server spans
	TransportKey        = attribute.Key("kitex.transport")    // rpcmodel.ProtocolName; with WithWireAttributes
	RequestSizeKey      = attribute.Key("kitex.request.size") // with WithWireAttributes
	ResponseSizeKey     = attribute.Key("kitex.response.size")
	MessagesSentKey     = attribute.Key("kitex.stream.messages.sent")
	MessagesRecvKey     = attribute.Key("kitex.stream.messages.received")
	BytesSentKey        = attribute.Key("kitex.stream.bytes.sent") // with WithMessageEvents
	BytesRecvKey        = attribute.Key("kitex.stream.bytes.received")
	RetryAttemptsKey    = attribute.Key("kitex.retry.attempts")
)

// Names kitex-contrib obs-opentelemetry puts on spans (semconv v1.12 era),
// emitted under OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old or rpc/dup.
const (
	oldRPCSystemKey       = attribute.Key("rpc.system")
	oldRPCServiceKey      = attribute.Key("rpc.service")
	oldRPCMethodKey       = attribute.Key("rpc.method")
	oldRecvSizeKey        = attribute.Key("kitex.recv_size")
	oldSendSizeKey        = attribute.Key("kitex.send_size")
	oldRequestProtocolKey = attribute.Key("request.protocol")
)

// attrPool recycles the scratch slice span attributes are built in: the SDK
// copies attributes on SetAttributes, so the slice is free again after it.
var attrPool = sync.Pool{New: func() any { s := make([]attribute.KeyValue, 0, 24); return &s }}

// finishSpan sets the attributes and status the conventions ask for on a
// finished call and ends the span at the call's end time.
func (c *config) finishSpan(sp trace.Span, call *rpcmodel.Call, rec *callRecord, extra []attribute.KeyValue, st rpcinfo.RPCStats) {
	bufp := attrPool.Get().(*[]attribute.KeyValue)
	a := (*bufp)[:0]

	if c.semconv&semconvCurrent != 0 {
		if rec == nil || rec.startMethod != call.FullMethod {
			// Not given at start (see startOptions), or renamed since.
			a = append(a, semconv.RPCSystemNameKey.String(call.System), semconv.RPCMethod(call.FullMethod))
		}
		if call.Method == rpcmodel.OtherMethod && call.OriginalMethod != "" {
			a = append(a, semconv.RPCMethodOriginal(call.OriginalMethod))
		}
		a = append(a, semconv.RPCResponseStatusCode(call.StatusCode()))
		if host, port := rpcmodel.HostPort(call.ServerAddr); host != "" {
			a = append(a, semconv.ServerAddress(host))
			if port > 0 {
				a = append(a, semconv.ServerPort(port))
			}
		}
		if call.Side == rpcmodel.Server {
			if host, port := rpcmodel.HostPort(call.PeerAddr); host != "" {
				a = append(a, semconv.NetworkPeerAddress(host), semconv.NetworkPeerPort(port))
			}
		}
		if tr := rpcmodel.Transport(call.PeerAddr); tr != "" {
			a = append(a, semconv.NetworkTransportKey.String(tr))
		}
	}
	if c.semconv&semconvOld != 0 {
		a = append(a, oldRPCSystemKey.String(rpcmodel.SystemKitex), oldRPCServiceKey.String(call.Callee))
		if c.semconv&semconvCurrent == 0 {
			// Both generations call it rpc.method; under rpc/dup the current
			// (fully-qualified) value wins.
			a = append(a, oldRPCMethodKey.String(oldMethod(call)))
		}
		a = append(a,
			oldRecvSizeKey.Int64(int64(recvSize(call))),
			oldSendSizeKey.Int64(int64(sendSize(call))),
			oldRequestProtocolKey.String(call.TransportProtocol.String()),
		)
	}
	if peer := peerService(call); peer != "" {
		a = append(a, PeerServiceKey.String(peer))
	}
	if c.wireAttributes {
		a = append(a, TransportKey.String(call.Protocol))
		if call.RequestSize > 0 || call.ResponseSize > 0 {
			a = append(a, RequestSizeKey.Int64(int64(call.RequestSize)), ResponseSizeKey.Int64(int64(call.ResponseSize)))
		}
	}
	if rec != nil {
		if n := rec.attempts.Load(); n > 1 {
			a = append(a, RetryAttemptsKey.Int64(int64(n)))
		}
		if call.Streaming&serviceinfo.StreamingBidirectional != 0 {
			a = append(a, MessagesSentKey.Int64(rec.sent.Load()), MessagesRecvKey.Int64(rec.recv.Load()))
			if c.messageEvents {
				a = append(a, BytesSentKey.Int64(rec.sentBytes.Load()), BytesRecvKey.Int64(rec.recvBytes.Load()))
			}
		}
	}

	switch call.Outcome {
	case rpcmodel.BizError:
		a = append(a, BizStatusCodeKey.Int64(int64(call.BizCode)), BizStatusMessageKey.String(call.BizMessage))
		if c.bizErrorIsErr {
			a = append(a, semconv.ErrorTypeKey.String(rpcmodel.ErrorTypeBizError))
			sp.SetStatus(codes.Error, call.BizMessage)
		}
	case rpcmodel.Failure:
		a = append(a, semconv.ErrorTypeKey.String(call.ErrorType))
		if call.Side == rpcmodel.Client || call.ServerFault() {
			sp.SetStatus(codes.Error, errMessage(call))
		}
		if call.Err != nil {
			sp.RecordError(call.Err)
		}
	}
	a = append(a, extra...)
	sp.SetAttributes(a...)
	*bufp = a[:0]
	attrPool.Put(bufp)

	if c.detailedEvents && st != nil && st.Level() >= stats.LevelDetailed {
		addStatsEvents(sp, st)
	}
	// Kitex records RPCFinish just before calling Finish, so ending now is
	// the same instant without the cost of an End option.
	sp.End()
}

func errMessage(call *rpcmodel.Call) string {
	if call.Err != nil {
		return call.Err.Error()
	}
	return call.ErrorType
}

func peerService(call *rpcmodel.Call) string {
	if call.Side == rpcmodel.Client {
		return call.Callee
	}
	return call.Caller
}

func oldMethod(call *rpcmodel.Call) string {
	if call.Method == rpcmodel.OtherMethod && call.OriginalMethod != "" {
		return call.OriginalMethod
	}
	return call.Method
}

// recvSize and sendSize are from this side's point of view, as
// obs-opentelemetry reported them.
func recvSize(call *rpcmodel.Call) uint64 {
	if call.Side == rpcmodel.Client {
		return call.ResponseSize
	}
	return call.RequestSize
}

func sendSize(call *rpcmodel.Call) uint64 {
	if call.Side == rpcmodel.Client {
		return call.RequestSize
	}
	return call.ResponseSize
}
