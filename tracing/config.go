package tracing

import (
	"context"
	"os"
	"reflect"
	"sync"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/rpcmodel"
)

// Option configures a tracing Suite.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Filter decides whether a call is traced (return false to skip it). It sees
// the RPCInfo once Kitex knows the method: at the start of a client call, and
// on the server after the request header is decoded. It must not keep ri.
type Filter func(ctx context.Context, ri rpcinfo.RPCInfo) bool

// AttributesFunc returns extra attributes for the span of a finished call.
type AttributesFunc func(ctx context.Context, call *rpcmodel.Call) []attribute.KeyValue

type config struct {
	tracerProvider trace.TracerProvider
	propagators    propagation.TextMapPropagator
	filter         Filter
	attributes     AttributesFunc
	detailedEvents bool
	messageEvents  bool
	bizErrorIsErr  bool
	keepTransport  bool
	wireAttributes bool
	semconv        semconvMode
	metainfoWrite  bool                                        // client: also write obs-opentelemetry's metainfo form
	publicEndpoint func(context.Context, rpcinfo.RPCInfo) bool // server: new root, linked to the caller
	dropBaggage    bool                                        // server: ignore incoming baggage
	methods        *rpcmodel.Methods
	knownMethods   []string
	spanName       func(context.Context, rpcinfo.RPCInfo) string // WithSpanNameFunc

	// Span start options, built once per kind, system and method: passing a
	// prebuilt slice to Tracer.Start allocates nothing, building options per
	// call does. Bounded by the method table (named methods and _OTHER).
	startOpts sync.Map // startKey -> []trace.SpanStartOption
}

type startKey struct {
	kind           trace.SpanKind
	system, method string
}

// startOptions are the options a span starts with: its kind, and the
// attributes a sampler needs (rpc.system.name, rpc.method), as otelgrpc
// gives them at start.
func (c *config) startOptions(kind trace.SpanKind, system, method string) []trace.SpanStartOption {
	k := startKey{kind, system, method}
	if v, ok := c.startOpts.Load(k); ok {
		return v.([]trace.SpanStartOption)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind)}
	if c.semconv&semconvCurrent != 0 {
		opts = append(opts, trace.WithAttributes(semconv.RPCSystemNameKey.String(system), semconv.RPCMethod(method)))
	}
	v, _ := c.startOpts.LoadOrStore(k, opts)
	return v.([]trace.SpanStartOption)
}

// newTracer is the Suite's tracer, with the schema URL of the conventions
// its attributes follow.
func (c *config) newTracer() trace.Tracer {
	return c.tracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(semconv.SchemaURL))
}

func newConfig(opts []Option) *config {
	c := &config{semconv: semconvFromEnv(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"))}
	for _, o := range opts {
		o.apply(c)
	}
	// The global provider is taken here, but until otel.SetTracerProvider is
	// called it is OTel's delegate, whose tracers forward to the provider set
	// later: a Suite built before the provider traces with it once it is set.
	// The global propagator is looked up the same way, per call (see
	// propagator), so both follow the globals alike.
	if c.tracerProvider == nil {
		c.tracerProvider = otel.GetTracerProvider()
	}
	c.methods = rpcmodel.NewMethods(rpcmodel.DefaultGenericMethods, c.knownMethods...)
	return c
}

// raiseStatsLevel makes this call record detailed stats when
// WithDetailedEvents asks for them, even if another Suite (metrics) set the
// level to Base after this one: the Suites' options apply in order, the
// per-call level is ours to raise.
func (c *config) raiseStatsLevel(ri rpcinfo.RPCInfo) {
	if !c.detailedEvents || ri == nil {
		return
	}
	if st := rpcinfo.AsMutableRPCStats(ri.Stats()); st != nil && ri.Stats().Level() < stats.LevelDetailed {
		st.SetLevel(stats.LevelDetailed)
	}
}

func (c *config) statsLevel() stats.Level {
	if c.detailedEvents {
		return stats.LevelDetailed
	}
	return stats.LevelBase
}

var defaultPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// unsetPropagator is OTel's global propagator as it is before anybody sets
// one: a delegate that carries nothing (and forwards to the propagator set
// later). It is kept only when its type is comparable, as that delegate's
// (a pointer) is, so comparing it never panics.
var unsetPropagator = func() propagation.TextMapPropagator {
	p := otel.GetTextMapPropagator()
	if t := reflect.TypeOf(p); t != nil && t.Comparable() {
		return p
	}
	return nil
}()

// propagator is the propagator for this call: WithPropagators' if given,
// else the global one as it is now; until a global propagator is set, W3C
// tracecontext + baggage, so a client that only adds the Suite reaches a
// server that only adds the Suite. A global set to one that carries no
// fields (OTEL_PROPAGATORS=none) stays none.
func (c *config) propagator() propagation.TextMapPropagator {
	if c.propagators != nil {
		return c.propagators
	}
	return currentGlobal()
}

func currentGlobal() propagation.TextMapPropagator {
	p := otel.GetTextMapPropagator()
	if unsetPropagator != nil && reflect.TypeOf(p) == reflect.TypeOf(unsetPropagator) && p == unsetPropagator {
		return defaultPropagator
	}
	return p
}

// GlobalPropagator is the Suites' default propagator as a value: at each
// call, the global propagator as it is then, or W3C tracecontext and
// baggage while none has been set. Compose it with others (as
// tracing/opentracing does with its legacy form) without losing that:
//
//	tracing.WithPropagators(propagation.NewCompositeTextMapPropagator(
//		legacy, tracing.GlobalPropagator()))
func GlobalPropagator() propagation.TextMapPropagator { return globalPropagator{} }

type globalPropagator struct{}

func (globalPropagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	currentGlobal().Inject(ctx, c)
}

func (globalPropagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return currentGlobal().Extract(ctx, c)
}

func (globalPropagator) Fields() []string { return currentGlobal().Fields() }

// WithTracerProvider sets the TracerProvider spans come from. Default: the
// global provider; a Suite built before otel.SetTracerProvider uses the
// provider set later (OTel's global delegates to it).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// WithPropagators sets the propagator that carries context between hops.
// Default: the global propagator as it is at each call (so one set after
// the Suite was built applies), or W3C tracecontext + baggage while no
// global propagator has been set. A global propagator with no fields
// (OTEL_PROPAGATORS=none) is respected: nothing is propagated.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) { c.propagators = p })
}

// WithSpanNameFunc names spans with f instead of the conventions'
// fully-qualified method ("echo.EchoService/Echo"). f sees the call's
// RPCInfo when the span starts and, on the server, once more when it ends
// (on gRPC Kitex may name the method only then); an empty result keeps the
// conventions' name. Dashboards built on kitex-contrib/tracer-opentracing's
// names want tracing/opentracing's CallerOperationName. The name is all f
// changes: attributes follow the conventions whatever it returns.
func WithSpanNameFunc(f func(ctx context.Context, ri rpcinfo.RPCInfo) string) Option {
	return optionFunc(func(c *config) { c.spanName = f })
}

// nameSpan is the span's name: f's, or the conventions' for system and
// the full method.
func (c *config) nameSpan(ctx context.Context, ri rpcinfo.RPCInfo, system, method string) string {
	if c.spanName != nil {
		if n := c.spanName(ctx, ri); n != "" {
			return n
		}
	}
	return spanName(system, method)
}

// WithFilter skips tracing for calls the filter rejects (return false), such
// as health checks. A skipped call still propagates the incoming context.
func WithFilter(f Filter) Option {
	return optionFunc(func(c *config) { c.filter = f })
}

// WithAttributes adds the attributes f returns to every span when it ends.
func WithAttributes(f AttributesFunc) Option {
	return optionFunc(func(c *config) { c.attributes = f })
}

// WithDetailedEvents turns Kitex's detailed stats on (connection, read,
// write, wait-read timings) and records them as span events. It costs a
// clock read per event; off by default.
//
// Kitex records detailed stats whenever any tracer is installed; the Suites
// set the stats level to Base instead, which is all spans need. With this
// option each traced call is raised to Detailed whatever the configured
// level, so another Suite setting Base does not take the events away.
func WithDetailedEvents() Option {
	return optionFunc(func(c *config) { c.detailedEvents = true })
}

// WithMessageEvents records one `kitex.stream.message` span event per
// streamed message (kitex.message.direction "sent" or "received", .id, and
// .size as Kitex measured it; v1.43 of the conventions dropped the
// rpc.message event) and the total bytes each way as kitex.stream.bytes.*
// attributes. Message counts are always recorded; events and sizes are off
// by default.
func WithMessageEvents() Option {
	return optionFunc(func(c *config) { c.messageEvents = true })
}

// WithWireAttributes adds kitex.transport (the Kitex transport the call
// went over, e.g. "ttheader_framed") and kitex.request.size /
// kitex.response.size (payload bytes as Kitex measured them) to every span.
// Off by default: they are not part of the RPC conventions, and each
// attribute costs every sampled span (the three about 1.7 µs per traced
// call in the repository's BenchmarkEcho, most of it the SDK's
// de-duplication of a span's attributes, which is cheap up to eight). The
// metrics Suites have size histograms (metrics.WithSizeHistograms), and
// OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old keeps obs-opentelemetry's size
// and protocol attributes whatever this option says.
func WithWireAttributes() Option {
	return optionFunc(func(c *config) { c.wireAttributes = true })
}

// WithBizErrorAsError makes a business status error set the span status to
// Error. By default a business error is a successful RPC: the span status
// stays Unset and the code is reported in `kitex.biz_status.code`.
func WithBizErrorAsError(on bool) Option {
	return optionFunc(func(c *config) { c.bizErrorIsErr = on })
}

// WithKeepTransport stops the client Suite from adding TTHeader to a client
// still on Kitex's default Framed transport. Framed carries no headers, so
// with this option such a client does not propagate context.
func WithKeepTransport() Option {
	return optionFunc(func(c *config) { c.keepTransport = true })
}

// semconvMode says which RPC attribute names spans carry.
type semconvMode uint8

const (
	semconvCurrent semconvMode = 1 << iota // current OTel RPC conventions
	semconvOld                             // kitex-contrib obs-opentelemetry names
)

// semconvFromEnv reads OTEL_SEMCONV_STABILITY_OPT_IN (rpcmodel.SemconvOptIn).
func semconvFromEnv(v string) semconvMode {
	var mode semconvMode
	current, old := rpcmodel.SemconvOptIn(v)
	if current {
		mode |= semconvCurrent
	}
	if old {
		mode |= semconvOld
	}
	return mode
}

// WithSemconvOptIn overrides OTEL_SEMCONV_STABILITY_OPT_IN for this Suite;
// value has the same syntax ("rpc", "rpc/dup", "rpc/old").
func WithSemconvOptIn(value string) Option {
	return optionFunc(func(c *config) { c.semconv = semconvFromEnv(value) })
}

// WithContribMetainfoWrite makes the client Suite also write the trace
// context in the form kitex-contrib obs-opentelemetry reads: as Kitex
// metainfo (RPC_TRANSIT_<field> TTHeader headers, rpc-transit-<field> gRPC
// metadata) beside the bare headers. Turn it on while servers downstream
// still run obs-opentelemetry; turn it off once none does (it doubles the
// propagation headers). The server Suite always reads both forms.
func WithContribMetainfoWrite() Option {
	return optionFunc(func(c *config) { c.metainfoWrite = true })
}

// WithPublicEndpoint makes the server Suite treat every caller as
// untrusted: each server span starts a new trace, linked to the caller's
// span context instead of parented by it, as otelgrpc's option of that
// name does. Use it on services that face the internet.
func WithPublicEndpoint() Option {
	return WithPublicEndpointFn(func(context.Context, rpcinfo.RPCInfo) bool { return true })
}

// WithPublicEndpointFn is WithPublicEndpoint for the calls f returns true
// for (e.g. by caller service or method). f runs once per call, after the
// request headers are read; it must not keep ri.
func WithPublicEndpointFn(f func(ctx context.Context, ri rpcinfo.RPCInfo) bool) Option {
	return optionFunc(func(c *config) { c.publicEndpoint = f })
}

// WithDropIncomingBaggage makes the server Suite ignore the baggage callers
// send: handlers see none, and the calls they make carry only the baggage
// they add themselves. The trace context is still continued (combine with
// WithPublicEndpoint to cut that too).
func WithDropIncomingBaggage() Option {
	return optionFunc(func(c *config) { c.dropBaggage = true })
}

// WithKnownMethods names methods that span names and rpc.method report by
// name even on a generic service (one that answers any method name), beyond
// the rpcmodel.DefaultGenericMethods such names each generic service of this
// Suite reports before the rest become _OTHER. Methods a service's IDL
// declares are always reported by name.
func WithKnownMethods(names ...string) Option {
	return optionFunc(func(c *config) { c.knownMethods = append(c.knownMethods, names...) })
}
