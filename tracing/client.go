package tracing

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
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
		// Kitex's own TTHeader handler carries business status errors back.
		client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithStreamOptions(client.WithStreamEventHandler(s.cfg.clientStreamHandler())),
	}
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
	ctx, sp := t.tracer.Start(ctx, spanName(ri),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(startTime(ri)),
		trace.WithAttributes(t.cfg.systemAttr(ri)),
	)
	if !sp.IsRecording() {
		// Sampled out: the span (with its not-sampled flag) still travels to
		// the server; there is nothing to record at Finish.
		return ctx
	}
	rec := &callRecord{span: sp}
	return context.WithValue(ctx, recordKey{}, rec)
}

// Finish ends the span with the attributes derived from the finished call.
func (t *clientTracer) Finish(ctx context.Context) {
	rec := recordFrom(ctx)
	if rec == nil || rec.span == nil {
		return
	}
	ri := rpcinfo.GetRPCInfo(ctx)
	var call rpcmodel.Call
	rpcmodel.Derive(&call, rpcmodel.Client, ri, nil)
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
		rec := recordFrom(ctx)
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
	if ti := msg.TransInfo(); ti != nil && isTTHeader(msg.RPCInfo()) {
		m.cfg.propagators.Inject(ctx, propagation.MapCarrier(ti.TransStrInfo()))
	}
	return ctx, nil
}

func (m *clientMeta) ReadMeta(ctx context.Context, _ remote.Message) (context.Context, error) {
	return ctx, nil
}

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

func startTime(ri rpcinfo.RPCInfo) time.Time {
	if st := ri.Stats(); st != nil {
		if ev := st.GetEvent(stats.RPCStart); ev != nil && !ev.IsNil() {
			return ev.Time()
		}
	}
	return time.Now()
}

func isGRPC(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config().TransportProtocol()&transport.GRPC != 0
}

func isTTHeader(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config().TransportProtocol()&transport.TTHeader != 0
}
