package tracing

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/pkg/remote/trans/ttstream"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/kitexmeta"
	"github.com/kitexsuite/suite/rpcmodel"
)

// ClientSuite traces the calls of a Kitex client; pass it to client.WithSuite.
type ClientSuite struct {
	cfg    *config
	tracer *clientTracer
}

var _ client.Suite = (*ClientSuite)(nil)

// NewClientSuite returns a Suite that starts a CLIENT span per call (one per
// stream for streaming methods) and propagates its context to the server.
func NewClientSuite(opts ...Option) *ClientSuite {
	cfg := newConfig(opts)
	return &ClientSuite{cfg: cfg, tracer: &clientTracer{cfg: cfg, tracer: cfg.newTracer()}}
}

// Options implements client.Suite.
func (s *ClientSuite) Options() []client.Option {
	opts := []client.Option{
		client.WithTracer(s.tracer),
		client.WithMiddleware(s.tracer.attemptMiddleware),
		client.WithMetaHandler(&clientMeta{cfg: s.cfg}),
		client.WithStreamOptions(client.WithStreamEventHandler(s.cfg.clientStreamHandler())),
		client.WithTTHeaderStreamingOptions(client.WithTTHeaderStreamingTransportOptions(
			ttstream.WithClientHeaderFrameHandler(&ttstreamClientHeader{cfg: s.cfg}))),
	}
	opts = append(opts, client.WithStatsLevel(s.cfg.statsLevel()))
	if !s.cfg.keepTransport {
		// Kitex's default Framed transport has no headers to carry context.
		// WithTransportProtocol ORs bits in, so this turns Framed into
		// TTHeaderFramed and leaves a gRPC or TTHeader choice as it is.
		opts = append(opts, client.WithTransportProtocol(transport.TTHeader))
	}
	return opts
}

type clientTracer struct {
	cfg    *config
	tracer trace.Tracer
}

var _ stats.Tracer = (*clientTracer)(nil)

// Start opens the CLIENT span. The span is in the returned context, so the
// meta handler injects it and nested calls made by callers see it.
func (t *clientTracer) Start(ctx context.Context) context.Context {
	ri := rpcinfo.GetRPCInfo(ctx)
	if ri == nil {
		return ctx
	}
	if t.cfg.filter != nil && !t.cfg.filter(ctx, ri) {
		// A record of its own even so: a call made in another call's
		// context (a fallback, a middleware) must never find and end that
		// call's span.
		ctx, rec := withRecord(ctx, clientKey)
		rec.skip = true
		return ctx
	}
	t.cfg.raiseStatsLevel(ri)
	// Kitex calls Start right after recording RPCStart: the span's own start
	// time is that instant, without a timestamp option to allocate.
	system, method := rpcmodel.SystemOf(ri), t.cfg.methods.FullMethod(ri)
	ctx, sp := t.tracer.Start(ctx, t.cfg.nameSpan(ctx, ri, system, method), t.cfg.startOptions(trace.SpanKindClient, system, method)...)
	if !sp.IsRecording() {
		// Sampled out: the span (with its not-sampled flag) still travels to
		// the server; there is nothing to record at Finish. It needs no
		// record: its span in ctx tells an outer call's record apart (see
		// ownRecord).
		return ctx
	}
	if srv := recordFrom(ctx, serverKey); srv != nil && srv.stack != nil {
		// A recorded client call inside a handler: its span ends at the
		// bottom of the handler's stack, so the server's requests should
		// start on a larger one (see internal/stack).
		srv.stack.SetDeep()
	}
	ctx, rec := withRecord(ctx, clientKey)
	rec.span = sp
	rec.startMethod = method
	rec.config = rpcmodel.SnapshotConfig(ri)
	if isStream(ri) {
		rec.stopAbandon = context.AfterFunc(ctx, func() { t.abandon(ctx, rec, system, method) })
	}
	return ctx
}

// abandon ends the span of a stream whose context ended before Kitex
// finished it (see callRecord.ended), with what is known without the
// RPCInfo: the method, and the context's error as the failure.
func (t *clientTracer) abandon(ctx context.Context, rec *callRecord, system, method string) {
	if !rec.ended.CompareAndSwap(false, true) {
		return
	}
	errType := rpcmodel.ClassifyError(ctx.Err())
	if system == rpcmodel.SystemGRPC {
		// As Finish reports it: the gRPC code name of the failure.
		c := rpcmodel.Call{Side: rpcmodel.Client, System: system, Outcome: rpcmodel.Failure, ErrorType: errType}
		errType = c.StatusCode()
	}
	rec.span.SetAttributes(semconv.RPCSystemNameKey.String(system), semconv.RPCMethod(method),
		semconv.ErrorTypeKey.String(errType),
		MessagesSentKey.Int64(rec.sent.Load()), MessagesRecvKey.Int64(rec.recv.Load()))
	rec.span.SetStatus(codes.Error, "stream abandoned: "+ctx.Err().Error())
	rec.span.End()
}

func isStream(ri rpcinfo.RPCInfo) bool {
	if inv := ri.Invocation(); inv != nil {
		if mi := inv.MethodInfo(); mi != nil {
			return mi.IsStreaming()
		}
	}
	return false
}

// Finish ends the span with the attributes derived from the finished call.
func (t *clientTracer) Finish(ctx context.Context) {
	rec := ownRecord(ctx)
	if rec == nil {
		return
	}
	if rec.stopAbandon != nil {
		rec.stopAbandon()
	}
	if !rec.ended.CompareAndSwap(false, true) {
		return // the stream was abandoned and its span already ended
	}
	ri := rpcinfo.GetRPCInfo(ctx)
	var call rpcmodel.Call
	t.cfg.methods.DeriveWith(&call, rpcmodel.Client, ri, nil, &rec.config)
	var extra []attribute.KeyValue
	if t.cfg.attributes != nil {
		c := call
		extra = t.cfg.attributes(ctx, &c)
	}
	var st rpcinfo.RPCStats
	if ri != nil {
		st = ri.Stats()
	}
	t.cfg.finishSpan(rec.span, &call, rec, extra, st)
}

// attemptMiddleware runs once per attempt (Kitex calls the tracer once per
// logical call, the middleware chain once per retry or backup attempt), so
// each attempt after the first becomes a span event on the call's span.
func (t *clientTracer) attemptMiddleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req, resp interface{}) error {
		if rec := ownRecord(ctx); rec != nil {
			if n := rec.attempts.Add(1); n > 1 {
				// Recorded when the attempt starts: the call's span may
				// already have ended when a late attempt returns.
				rec.span.AddEvent("kitex.retry", trace.WithAttributes(attribute.Int("kitex.retry.attempt", int(n))))
			}
		}
		err := next(ctx, req, resp)
		if err == nil {
			rpcmodel.MarkException(rpcinfo.GetRPCInfo(ctx), resp)
		}
		return err
	}
}

// ownRecord returns the record of the client call whose context ctx is, or
// nil when that call has no span to record: it was filtered (its record says
// skip) or sampled out (the record found, if any, is an outer call's, whose
// span is not the one in ctx).
func ownRecord(ctx context.Context) *callRecord {
	rec := recordFrom(ctx, clientKey)
	if rec == nil || rec.skip || rec.span == nil {
		return nil
	}
	if trace.SpanContextFromContext(ctx).SpanID() != rec.span.SpanContext().SpanID() {
		return nil
	}
	return rec
}

// clientMeta injects the span context: into TTHeader string headers for
// unary calls (WriteMeta) and into HTTP/2 metadata on the gRPC transport
// (OnConnectStream, which Kitex calls for gRPC unary calls and streams).
// It also does all the work of Kitex's ClientTTHeaderHandler and
// ClientHTTP2Handler (see internal/kitexmeta): caller identity on both
// transports, the RPC timeout, the reply's business status and the
// graceful shutdown's connection-reset mark.
type clientMeta struct{ cfg *config }

var (
	_ remote.MetaHandler          = (*clientMeta)(nil)
	_ remote.StreamingMetaHandler = (*clientMeta)(nil)
)

func (m *clientMeta) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ri := msg.RPCInfo()
	if ti := msg.TransInfo(); ti != nil && kitexmeta.IsTTHeader(ri) {
		m.cfg.propagator().Inject(ctx, ttheaderOutgoing{m: ti.TransStrInfo(), metainfo: m.cfg.metainfoWrite})
		kitexmeta.WriteTTHeader(ri, ti.TransIntInfo())
	}
	return ctx, nil
}

func (m *clientMeta) ReadMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ri := msg.RPCInfo()
	if ti := msg.TransInfo(); ti != nil && kitexmeta.IsTTHeader(ri) {
		return ctx, kitexmeta.ReadTTHeader(ri, ti.TransStrInfo())
	}
	return ctx, nil
}

func (m *clientMeta) OnConnectStream(ctx context.Context) (context.Context, error) {
	ri := rpcinfo.GetRPCInfo(ctx)
	if !kitexmeta.IsGRPC(ri) {
		return ctx, nil
	}
	// A copy: the caller's metadata is never written to.
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		md = make(metadata.MD, 8)
	}
	dropStaleTransit(md)
	m.cfg.propagator().Inject(ctx, grpcOutgoing{md: md, metainfo: m.cfg.metainfoWrite})
	kitexmeta.SetGRPCIdentity(ri, md)
	return metadata.NewOutgoingContext(ctx, md), nil
}

func (m *clientMeta) OnReadStream(ctx context.Context) (context.Context, error) {
	return ctx, nil
}

// spanName is the span's name for a call's system and full method.
func spanName(system, method string) string {
	if method != rpcmodel.OtherMethod {
		return method
	}
	// The conventions name a span for an unrecognised method after the
	// RPC system, keeping attacker-chosen names out of span names.
	return system
}

// startTime is the call's RPCStart, or zero when stats are disabled.
func startTime(ri rpcinfo.RPCInfo) time.Time {
	if st := ri.Stats(); st != nil {
		if ev := st.GetEvent(stats.RPCStart); ev != nil && !ev.IsNil() {
			return ev.Time()
		}
	}
	return time.Time{}
}
