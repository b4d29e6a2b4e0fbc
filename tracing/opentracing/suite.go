package opentracing

import (
	"context"
	"fmt"
	"sync"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	ot "github.com/opentracing/opentracing-go"
	otlog "github.com/opentracing/opentracing-go/log"
	otbridge "go.opentelemetry.io/otel/bridge/opentracing"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/tracing"
)

// Option configures ClientSuite and ServerSuite.
type Option func(*suiteConfig)

type suiteConfig struct {
	tracer  ot.Tracer // nil: ot.GlobalTracer() at each call
	name    func(context.Context) string
	legacy  []LegacyOption
	tracing []tracing.Option
	warned  sync.Map // message -> struct{}: each warning once per Suite
}

// WithTracer sets the OpenTracing tracer the handlers' OpenTracing code
// uses (default: opentracing.GlobalTracer() as it is at each call). It
// decides how OpenTracing spans join the Kitex spans, not where Kitex's
// spans go: those are OpenTelemetry spans, from the global TracerProvider
// unless WithTracingOptions says otherwise.
func WithTracer(t ot.Tracer) Option { return func(c *suiteConfig) { c.tracer = t } }

// WithOperationName names the Kitex spans with f, called with the call's
// context (as tracer-opentracing's formOperationName was); an empty name
// keeps the OpenTelemetry conventions' name. CallerOperationName gives
// tracer-opentracing's own names.
func WithOperationName(f func(ctx context.Context) string) Option {
	return func(c *suiteConfig) { c.name = f }
}

// WithLegacyOptions configures the Suites' LegacyPropagator (which forms
// it writes).
func WithLegacyOptions(opts ...LegacyOption) Option {
	return func(c *suiteConfig) { c.legacy = append(c.legacy, opts...) }
}

// WithTracingOptions passes options to the tracing Suites underneath,
// after this package's own. A tracing.WithPropagators there replaces the
// Suites' propagator, legacy form included: compose LegacyPropagator into
// it to keep that.
func WithTracingOptions(opts ...tracing.Option) Option {
	return func(c *suiteConfig) { c.tracing = append(c.tracing, opts...) }
}

func newSuiteConfig(opts []Option) *suiteConfig {
	c := &suiteConfig{}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// tracingOptions are the options of the tracing Suites underneath: the
// legacy form beside the default propagation, the operation names, then
// the user's.
func (c *suiteConfig) tracingOptions() []tracing.Option {
	opts := []tracing.Option{tracing.WithPropagators(propagation.NewCompositeTextMapPropagator(
		LegacyPropagator(c.legacy...), tracing.GlobalPropagator()))}
	if c.name != nil {
		f := c.name
		opts = append(opts, tracing.WithSpanNameFunc(func(ctx context.Context, _ rpcinfo.RPCInfo) string { return f(ctx) }))
	}
	return append(opts, c.tracing...)
}

func (c *suiteConfig) currentTracer() ot.Tracer {
	if c.tracer != nil {
		return c.tracer
	}
	return ot.GlobalTracer()
}

func (c *suiteConfig) warnOnce(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if _, loaded := c.warned.LoadOrStore(msg, struct{}{}); !loaded {
		klog.Warnf("kitexsuite/tracing/opentracing: %s (logged once)", msg)
	}
}

// NewDefaultClientSuite is tracer-opentracing's constructor of the same
// name: ClientSuite with the defaults.
func NewDefaultClientSuite() client.Suite { return ClientSuite() }

// NewDefaultServerSuite is tracer-opentracing's constructor of the same
// name: ServerSuite with the defaults.
func NewDefaultServerSuite() server.Suite { return ServerSuite() }

// NewClientSuite is tracer-opentracing's constructor of the same name:
// ClientSuite(WithTracer(tracer), WithOperationName(formOperationName)). A
// nil tracer means opentracing.GlobalTracer() at each call, a nil
// formOperationName the OpenTelemetry conventions' span names.
func NewClientSuite(tracer ot.Tracer, formOperationName func(c context.Context) string) client.Suite {
	return ClientSuite(WithTracer(tracer), WithOperationName(formOperationName))
}

// NewServerSuite is tracer-opentracing's constructor of the same name; see
// NewClientSuite.
func NewServerSuite(tracer ot.Tracer, formOperationName func(c context.Context) string) server.Suite {
	return ServerSuite(WithTracer(tracer), WithOperationName(formOperationName))
}

// CallerOperationName is tracer-opentracing's span name:
// From().ServiceName()+"::"+From().Method(), the caller's identity on both
// sides of a call (on a client, the service making the call and the method
// of the handler it is made in, empty outside one). Pass it to
// NewClientSuite, NewServerSuite or WithOperationName to keep existing
// dashboards.
func CallerOperationName(ctx context.Context) string {
	ri := rpcinfo.GetRPCInfo(ctx)
	if ri == nil || ri.From() == nil {
		return ""
	}
	return ri.From().ServiceName() + "::" + ri.From().Method()
}

// ClientSuite traces Kitex client calls with OpenTelemetry (package
// tracing's client Suite), writing tracer-opentracing's span context
// beside the default propagation so legacy servers continue the trace. A
// call made in a handler's OpenTracing span (from the bridge NewBridge
// returns) is that span's child.
func ClientSuite(opts ...Option) client.Suite {
	c := newSuiteConfig(opts)
	return &clientSuite{cfg: c, inner: tracing.NewClientSuite(c.tracingOptions()...)}
}

type clientSuite struct {
	cfg   *suiteConfig
	inner client.Suite
}

func (s *clientSuite) Options() []client.Option {
	return append(s.inner.Options(), client.WithMiddleware(s.middleware))
}

// middleware only warns: the client span started before any middleware
// ran, as the child of the OpenTelemetry span in ctx.
func (s *clientSuite) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req, resp any) error {
		if sp := ot.SpanFromContext(ctx); sp != nil {
			if _, bridged := sp.Tracer().(*otbridge.BridgeTracer); !bridged {
				s.cfg.warnOnce("a Kitex call made in a %T span: its client span is the child of the OpenTelemetry span in the context, not of that span; use NewBridge's tracer as the OpenTracing tracer for one trace", sp.Tracer())
			}
		}
		return next(ctx, req, resp)
	}
}

// ServerSuite traces Kitex server calls with OpenTelemetry (package
// tracing's server Suite), reading tracer-opentracing's span context
// beside the default propagation, and makes the server span the
// OpenTracing parent of the handler's OpenTracing code:
//
//   - with NewBridge's tracer (the one OpenTelemetry recommends), the
//     handler's opentracing.StartSpanFromContext(ctx, "db") is the server
//     span's child, Kitex calls made in it are its children, ext.Error
//     marks it, and SetBaggageItem reaches the next hop as W3C baggage;
//   - with another tracer (jaeger-client kept as the global tracer), the
//     handler's spans join the same trace (the server span is handed to
//     that tracer through its TextMap format), reported by that tracer,
//     and a warning says once that Kitex calls made in them are siblings;
//   - with the no-op tracer (none set), nothing is done.
func ServerSuite(opts ...Option) server.Suite {
	c := newSuiteConfig(opts)
	return &serverSuite{cfg: c, inner: tracing.NewServerSuite(c.tracingOptions()...)}
}

type serverSuite struct {
	cfg   *suiteConfig
	inner server.Suite
}

func (s *serverSuite) Options() []server.Option {
	return append(s.inner.Options(), server.WithMiddleware(s.middleware))
}

func (s *serverSuite) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req, resp any) error {
		return next(s.cfg.withOpenTracingParent(ctx), req, resp)
	}
}

// withOpenTracingParent puts the server span in ctx as an OpenTracing span
// of the configured tracer.
func (c *suiteConfig) withOpenTracingParent(ctx context.Context) context.Context {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		return ctx
	}
	switch t := c.currentTracer().(type) {
	case ot.NoopTracer:
		return ctx
	case *otbridge.BridgeTracer:
		ctx = t.ContextWithBridgeSpan(ctx, span)
		ctx = t.NewHookedContext(ctx)
		// Incoming baggage becomes the bridge span's, so that
		// span.BaggageItem sees it and it flows on through OpenTracing too.
		return baggageContextWithSelf(ctx)
	default:
		return c.foreignParent(ctx, t, span.SpanContext())
	}
}

// foreignParent hands sc to a tracer that is not the bridge through the
// fields it reads (uber-trace-id, B3, W3C: whichever it speaks), so its
// spans join the trace. The span in ctx stands for the server span: it
// records nothing, Finish does nothing.
func (c *suiteConfig) foreignParent(ctx context.Context, t ot.Tracer, sc trace.SpanContext) (out context.Context) {
	defer func() {
		if r := recover(); r != nil { // a foreign tracer must never take the call down
			c.warnOnce("%T panicked reading the server span (%v): its spans start new traces", t, r)
			out = ctx
		}
	}()
	carrier := ot.TextMapCarrier{}
	foreignFields.Inject(trace.ContextWithSpanContext(context.Background(), sc), propagation.MapCarrier(carrier))
	parent, err := t.Extract(ot.TextMap, carrier)
	if err != nil {
		c.warnOnce("%T cannot read the server span from uber-trace-id, B3 or W3C fields (%v): its spans start new traces; use NewBridge's tracer", t, err)
		return ctx
	}
	return ot.ContextWithSpan(ctx, &parentSpan{tracer: t, ctx: parent})
}

// parentSpan is an OpenTracing span that only carries a span context: the
// parent of spans a foreign tracer starts from ctx.
type parentSpan struct {
	tracer ot.Tracer
	ctx    ot.SpanContext
}

func (p *parentSpan) Context() ot.SpanContext               { return p.ctx }
func (p *parentSpan) Tracer() ot.Tracer                     { return p.tracer }
func (p *parentSpan) Finish()                               {}
func (p *parentSpan) FinishWithOptions(ot.FinishOptions)    {}
func (p *parentSpan) SetOperationName(string) ot.Span       { return p }
func (p *parentSpan) SetTag(string, any) ot.Span            { return p }
func (p *parentSpan) SetBaggageItem(string, string) ot.Span { return p }
func (p *parentSpan) BaggageItem(string) string             { return "" }
func (p *parentSpan) LogFields(...otlog.Field)              {}
func (p *parentSpan) LogKV(...any)                          {}
func (p *parentSpan) LogEvent(string)                       {}
func (p *parentSpan) LogEventWithPayload(string, any)       {}
func (p *parentSpan) Log(ot.LogData)                        {}
