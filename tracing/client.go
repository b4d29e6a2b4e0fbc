package tracing

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/pkg/remote/trans/ttstream"
	"github.com/cloudwego/kitex/pkg/remote/transmeta"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	ktransmeta "github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

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
	return &ClientSuite{cfg: cfg, tracer: &clientTracer{cfg: cfg, tracer: cfg.tracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))}}
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
	if ri == nil || (t.cfg.filter != nil && !t.cfg.filter(ctx, ri)) {
		return ctx
	}
	t.cfg.raiseStatsLevel(ri)
	// Kitex calls Start right after recording RPCStart: the span's own start
	// time is that instant, without a timestamp option to allocate.
	ctx, sp := t.tracer.Start(ctx, spanName(ri), t.cfg.clientStart...)
	if !sp.IsRecording() {
		// Sampled out: the span (with its not-sampled flag) still travels to
		// the server; there is nothing to record at Finish.
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
	rec.config = rpcmodel.SnapshotConfig(ri)
	if isStream(ri) {
		system, method := rpcmodel.SystemOf(ri), rpcmodel.FullMethodOf(ri)
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
	rec := recordFrom(ctx, clientKey)
	if rec == nil || rec.span == nil {
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
	rpcmodel.DeriveWith(&call, rpcmodel.Client, ri, nil, &rec.config)
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
		rec := recordFrom(ctx, clientKey)
		if rec == nil {
			return next(ctx, req, resp)
		}
		n := rec.attempts.Add(1)
		if n == 1 {
			return next(ctx, req, resp)
		}
		// Recorded when the attempt starts: the call's span may already have
		// ended when a late attempt returns.
		rec.span.AddEvent("kitex.retry", trace.WithAttributes(attribute.Int("kitex.retry.attempt", int(n))))
		return next(ctx, req, resp)
	}
}

// clientMeta injects the span context: into TTHeader string headers for
// unary calls (WriteMeta) and into HTTP/2 metadata on the gRPC transport
// (OnConnectStream, which Kitex calls for gRPC unary calls and streams).
type clientMeta struct{ cfg *config }

var (
	_ remote.MetaHandler          = (*clientMeta)(nil)
	_ remote.StreamingMetaHandler = (*clientMeta)(nil)
)

func (m *clientMeta) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ri := msg.RPCInfo()
	if ti := msg.TransInfo(); ti != nil && isTTHeader(ri) {
		m.cfg.propagators.Inject(ctx, propagation.MapCarrier(ti.TransStrInfo()))
		// The caller's service name, so the server's record (and its span's
		// kitex.peer.service) names who called. Kitex's full
		// ClientTTHeaderHandler writes six such headers; this is the one the
		// RPC model needs.
		if from := ri.From(); from != nil && from.ServiceName() != "" {
			ti.TransIntInfo()[transmeta.FromService] = from.ServiceName()
		}
	}
	return ctx, nil
}

// ReadMeta picks up a business status error from the reply's TTHeader, as
// Kitex's ClientTTHeaderHandler does, so the client (its caller and its
// span) sees the handler's business error.
func (m *clientMeta) ReadMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ri := msg.RPCInfo()
	ti := msg.TransInfo()
	if ti == nil || !isTTHeader(ri) {
		return ctx, nil
	}
	strInfo := ti.TransStrInfo()
	if strInfo[bizStatusHeader] == "" { // parsing "" would allocate an error
		return ctx, nil
	}
	bizErr, err := ktransmeta.ParseBizStatusErr(strInfo)
	if err != nil {
		return ctx, err
	}
	if setter, ok := ri.Invocation().(rpcinfo.InvocationSetter); ok && bizErr != nil {
		setter.SetBizStatusErr(bizErr)
	}
	return ctx, nil
}

// The TTHeader keys a business status error travels under, as Kitex's
// TTHeader handlers write and read them.
const (
	bizStatusHeader  = "biz-status"
	bizMessageHeader = "biz-message"
	bizExtraHeader   = "biz-extra"
)

func (m *clientMeta) OnConnectStream(ctx context.Context) (context.Context, error) {
	if !isGRPC(rpcinfo.GetRPCInfo(ctx)) {
		return ctx, nil
	}
	var kv kvCarrier
	m.cfg.propagators.Inject(ctx, &kv)
	if len(kv) == 0 {
		return ctx, nil
	}
	return metadata.AppendToOutgoingContext(ctx, kv...), nil
}

func (m *clientMeta) OnReadStream(ctx context.Context) (context.Context, error) {
	return ctx, nil
}

func spanName(ri rpcinfo.RPCInfo) string {
	if m := rpcmodel.FullMethodOf(ri); m != rpcmodel.OtherMethod {
		return m
	}
	// The conventions name a span for an unrecognised method after the
	// RPC system, keeping attacker-chosen names out of span names.
	return rpcmodel.SystemOf(ri)
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

func isGRPC(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config() != nil && ri.Config().TransportProtocol()&transport.GRPC != 0
}

func isTTHeader(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config() != nil && ri.Config().TransportProtocol()&transport.TTHeader != 0
}
