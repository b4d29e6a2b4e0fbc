package tracing

import (
	"context"
	"os"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
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

	// Span start options built once per Suite: passing a prebuilt slice to
	// Tracer.Start allocates nothing, building options per call does.
	clientStart []trace.SpanStartOption
	serverStart []trace.SpanStartOption
}

func newConfig(opts []Option) *config {
	c := &config{semconv: semconvFromEnv(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"))}
	for _, o := range opts {
		o.apply(c)
	}
	// Globals are read at construction time, never in init, so a provider set
	// after this Suite was built does not change it (as in otelgrpc).
	if c.tracerProvider == nil {
		c.tracerProvider = otel.GetTracerProvider()
	}
	if c.propagators == nil {
		c.propagators = otel.GetTextMapPropagator()
		if len(c.propagators.Fields()) == 0 {
			// Nobody set a global propagator (OTel's default carries no
			// fields): a client that only adds the Suite must still reach a
			// server that only adds the Suite, so use W3C.
			c.propagators = defaultPropagator
		}
	}
	// The RPC system goes on at Finish with the other attributes: giving it
	// at start (for samplers) costs an allocation per span, since the SDK
	// copies start attributes into a fresh slice.
	c.clientStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	c.serverStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
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

// WithTracerProvider sets the TracerProvider spans come from. Default: the
// global provider at the time the Suite is built.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// WithPropagators sets the propagator that carries context between hops.
// Default: the global propagator at the time the Suite is built, or W3C
// tracecontext + baggage when no global propagator has been set.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) { c.propagators = p })
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

// WithMessageEvents records one `rpc.message` span event per streamed
// message (type, id, size as Kitex measured it) and the total bytes each way
// as kitex.stream.bytes.* attributes. Message counts are always recorded;
// events and sizes are off by default.
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
