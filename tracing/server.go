package tracing

import (
	"context"

	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/pkg/remote/trans/ttstream"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/kitexmeta"
	"github.com/kitexsuite/suite/internal/stack"
	"github.com/kitexsuite/suite/rpcmodel"
)

// ServerSuite traces the calls a Kitex server handles; pass it to
// server.WithSuite.
type ServerSuite struct {
	cfg    *config
	tracer *serverTracer
}

var _ server.Suite = (*ServerSuite)(nil)

// NewServerSuite returns a Suite that starts a SERVER span per call (one per
// stream), continuing the trace the caller propagated.
func NewServerSuite(opts ...Option) *ServerSuite {
	cfg := newConfig(opts)
	return &ServerSuite{cfg: cfg, tracer: &serverTracer{cfg: cfg, tracer: cfg.newTracer(), stack: new(stack.Hint)}}
}

// Options implements server.Suite.
func (s *ServerSuite) Options() []server.Option {
	return []server.Option{
		server.WithTracer(s.tracer),
		server.WithMiddleware(s.tracer.middleware),
		// Grows the request goroutine's stack before Kitex decodes, where
		// that is cheap, not under the span's start (see internal/stack).
		server.WithBoundHandler(stack.Inbound{Owner: "tracing", Hint: s.tracer.stack}),
		// serverMeta also does the work of Kitex's ServerTTHeaderHandler
		// and ServerHTTP2Handler (internal/kitexmeta).
		server.WithMetaHandler(&serverMeta{cfg: s.cfg}),
		server.WithStreamOptions(server.WithStreamEventHandler(s.cfg.serverStreamHandler())),
		server.WithTTHeaderStreamingOptions(server.WithTTHeaderStreamingTransportOptions(
			ttstream.WithServerHeaderFrameHandler(&ttstreamServerHeader{cfg: s.cfg}))),
		server.WithStatsLevel(s.cfg.statsLevel()),
	}
}

type serverTracer struct {
	cfg    *config
	tracer trace.Tracer
	// stack is set deep by the client Suite when a handler of this server
	// makes a traced call (see callRecord.stack).
	stack *stack.Hint
}

var _ stats.Tracer = (*serverTracer)(nil)

// Start runs before Kitex has decoded a TTHeader request, so the parent is
// not known yet: the span starts in the middleware (or in Finish, if the
// call fails before reaching it). On gRPC and TTHeader streaming the headers
// are read first, so the span starts here and streams see it in their
// context.
func (t *serverTracer) Start(ctx context.Context) context.Context {
	ctx, rec := withRecord(ctx, serverKey)
	rec.stack = t.stack
	ri := rpcinfo.GetRPCInfo(ctx)
	t.cfg.raiseStatsLevel(ri)
	if headersFirst(ri) {
		rec.remote = trace.SpanContextFromContext(ctx)
		ctx = t.startSpan(ctx, rec, ri)
	}
	return ctx
}

// startSpan applies the filter, which therefore sees the method name (Kitex
// sets it before the span starts on both paths), and starts the span.
func (t *serverTracer) startSpan(ctx context.Context, rec *callRecord, ri rpcinfo.RPCInfo) context.Context {
	if ri == nil || (t.cfg.filter != nil && !t.cfg.filter(ctx, ri)) {
		rec.skip = true
		return ctx
	}
	// The extract step usually left the parent in ctx already; wrap only when
	// it did not (Finish's fallback), or to hide a local span the server's
	// base context might hold.
	parent := ctx
	// The record's own copy: the cached options are shared, and a call may
	// add its own (a new root, the start time) without allocating a slice.
	opts := append(rec.startOpts[:0], t.cfg.serverStartOptions(ri, rec)...)
	if t.cfg.publicEndpoint != nil && t.cfg.publicEndpoint(ctx, ri) {
		// Untrusted caller: a new trace, linked to the caller's span.
		parent = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
		opts = append(opts, trace.WithNewRoot())
		if rec.remote.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: rec.remote}))
		}
	} else if cur := trace.SpanContextFromContext(ctx); !cur.Equal(rec.remote) {
		if rec.remote.IsValid() {
			parent = trace.ContextWithRemoteSpanContext(ctx, rec.remote)
		} else {
			parent = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
		}
	}
	if st := startTime(ri); !st.IsZero() && !headersFirst(ri) {
		// A TTHeader span starts after decoding: date it from RPCStart.
		opts = append(opts, trace.WithTimestamp(st))
	}
	ctx, rec.span = t.tracer.Start(parent, t.cfg.nameSpan(ctx, ri, rpcmodel.SystemOf(ri), rec.startMethod), opts...)
	return ctx
}

// serverStartOptions names the method for the span's start. On gRPC the
// tracer starts before Kitex has looked the method up: a method this
// Suite's table has already named is named from the request path; a first
// call (or an unknown method) starts provisional, named after the system,
// and Finish renames it.
func (c *config) serverStartOptions(ri rpcinfo.RPCInfo, rec *callRecord) []trace.SpanStartOption {
	system := rpcmodel.SystemOf(ri)
	method := c.methods.FullMethod(ri)
	if method == rpcmodel.OtherMethod {
		if inv := ri.Invocation(); inv != nil && inv.MethodInfo() == nil {
			if m, ok := c.methods.Named(inv.PackageName(), inv.ServiceName(), inv.MethodName()); ok {
				method = m
			} else {
				rec.provisional = true
			}
		}
	}
	rec.startMethod = method
	return c.startOptions(trace.SpanKindServer, system, method)
}

// middleware starts the span once the request (and its headers) is decoded
// and hands the handler a context holding it.
func (t *serverTracer) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req, resp interface{}) error {
		rec := recordFrom(ctx, serverKey)
		switch {
		case rec == nil || rec.skip:
		case rec.span == nil:
			ctx = t.startSpan(ctx, rec, rpcinfo.GetRPCInfo(ctx))
		case trace.SpanFromContext(ctx) != rec.span:
			ctx = trace.ContextWithSpan(ctx, rec.span)
		}
		err := next(ctx, req, resp)
		if err == nil {
			rpcmodel.MarkException(rpcinfo.GetRPCInfo(ctx), resp)
		}
		return err
	}
}

// Finish ends the span. Calls rejected before the handler (unknown method,
// ACL, limits, decode errors) still get one.
func (t *serverTracer) Finish(ctx context.Context) {
	rec := recordFrom(ctx, serverKey)
	if rec == nil || rec.skip {
		return
	}
	ri := rpcinfo.GetRPCInfo(ctx)
	if rec.span == nil {
		if t.startSpan(ctx, rec, ri); rec.skip {
			return
		}
	}
	if !rec.span.IsRecording() {
		rec.span.End()
		return
	}
	var call rpcmodel.Call
	t.cfg.methods.Derive(&call, rpcmodel.Server, ri, nil)
	var name string
	if t.cfg.spanName != nil {
		name = t.cfg.spanName(ctx, ri) // Kitex may know more by now
	}
	if name == "" && rec.provisional && call.FullMethod != rpcmodel.OtherMethod {
		name = call.FullMethod
	}
	if name != "" {
		rec.span.SetName(name)
	}
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

// serverMeta extracts the caller's context: from TTHeader string headers in
// ReadMeta, and from HTTP/2 metadata in OnReadStream on the gRPC transport.
type serverMeta struct{ cfg *config }

var (
	_ remote.MetaHandler          = (*serverMeta)(nil)
	_ remote.StreamingMetaHandler = (*serverMeta)(nil)
)

func (m *serverMeta) ReadMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ti := msg.TransInfo()
	if ti == nil {
		return ctx, nil
	}
	if ri := msg.RPCInfo(); kitexmeta.IsTTHeader(ri) {
		kitexmeta.ReadServerTTHeader(ri, ti.TransIntInfo())
	}
	strInfo := ti.TransStrInfo()
	if len(strInfo) == 0 {
		return ctx, nil
	}
	// Bare headers, or obs-opentelemetry's metainfo form.
	ctx = m.cfg.extract(ctx, ttheaderIncoming(strInfo))
	if rec := recordFrom(ctx, serverKey); rec != nil {
		rec.remote = trace.SpanContextFromContext(ctx)
	}
	return ctx, nil
}

// WriteMeta does Kitex's ServerTTHeaderHandler's work for a Kitex client
// (kitexmeta.WriteServerTTHeader).
func (m *serverMeta) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	if ri, ti := msg.RPCInfo(), msg.TransInfo(); ti != nil && kitexmeta.IsTTHeader(ri) {
		kitexmeta.WriteServerTTHeader(ri, ti.TransStrInfo())
	}
	return ctx, nil
}

func (m *serverMeta) OnConnectStream(ctx context.Context) (context.Context, error) {
	return ctx, nil
}

func (m *serverMeta) OnReadStream(ctx context.Context) (context.Context, error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx, nil
	}
	if ri := rpcinfo.GetRPCInfo(ctx); kitexmeta.IsGRPC(ri) {
		kitexmeta.ReadGRPCIdentity(ri, md) // as Kitex's ServerHTTP2Handler
	}
	return m.cfg.extract(ctx, grpcIncoming(md)), nil
}

// extract reads the caller's context from carrier; with
// WithDropIncomingBaggage the baggage is left out.
func (c *config) extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	ctx = c.propagator().Extract(ctx, carrier)
	if c.dropBaggage {
		ctx = baggage.ContextWithoutBaggage(ctx)
	}
	return ctx
}
