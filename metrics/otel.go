package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/rpcmodel"
)

// ScopeName is the instrumentation scope of the OTel instruments.
const ScopeName = "github.com/kitexsuite/suite/metrics"

// Version is this module's version, reported as the scope version.
const Version = "0.1.0"

// Attribute keys. PeerServiceKey is the conventions' service.peer.name;
// the others are Kitex's own (v1.43 of the conventions dropped
// rpc.message.type).
const (
	OutcomeKey     = attribute.Key("kitex.outcome")
	PeerServiceKey = semconv.ServicePeerNameKey
	DirectionKey   = attribute.Key("kitex.message.direction") // sent or received
)

// otelBackend holds one side's OTel instruments.
type otelBackend struct {
	cfg      *config
	side     rpcmodel.Side
	duration metric.Float64Histogram // rpc.{side}.call.duration, seconds
	old      metric.Float64Histogram // rpc.{side}.duration, ms (rpc/old, rpc/dup)
	active   metric.Int64UpDownCounter
	// sizes: kitex.rpc.{side}.request.size and .response.size; under
	// rpc/old or rpc/dup also the v1.37 names rpc.{side}.request.size and
	// .response.size, which v1.43 dropped.
	sizes    []metric.Int64Histogram // request, response[, request, response]
	messages metric.Int64Counter
	retries  metric.Int64Counter

	series sync.Map // seriesKey -> *otelSeries
	method sync.Map // [2]string{system, method} -> *methodOpts
}

// methodOpts are the cached options for instruments labelled by method only.
type methodOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// otelSeries caches the record options of one label combination: building
// an attribute.Set sorts and allocates, so it happens once per series.
type otelSeries struct {
	current []metric.RecordOption
	old     []metric.RecordOption
}

// newCallDuration builds the side's rpc.{side}.call.duration through
// rpcconv with the Suite's buckets. rpcconv's constructors append their
// own options after the caller's, so buckets given to NewServerCallDuration
// would be replaced by the conventions' defaults: the histogram is built
// with rpcconv's name, unit and description. Calls record through the
// histogram itself with the series' cached options: rpcconv's RecordSet
// builds an option per call, one allocation more.
func newCallDuration(m metric.Meter, side rpcmodel.Side, buckets []float64) (metric.Float64Histogram, error) {
	name, unit, desc := rpcconv.ClientCallDuration{}.Name(), rpcconv.ClientCallDuration{}.Unit(), rpcconv.ClientCallDuration{}.Description()
	if side == rpcmodel.Server {
		name, unit, desc = rpcconv.ServerCallDuration{}.Name(), rpcconv.ServerCallDuration{}.Unit(), rpcconv.ServerCallDuration{}.Description()
	}
	return m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
}

func newOTelBackend(cfg *config, side rpcmodel.Side) (*otelBackend, error) {
	m := cfg.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(semconv.SchemaURL))
	s := side.String()
	b := &otelBackend{cfg: cfg, side: side}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	if cfg.semconvCurrent {
		b.duration, err = newCallDuration(m, side, cfg.buckets)
		keep(err)
	}
	if cfg.semconvOld {
		ms := make([]float64, len(cfg.buckets))
		for i, v := range cfg.buckets {
			ms[i] = v * 1000
		}
		b.old, err = m.Float64Histogram("rpc."+s+".duration", metric.WithUnit("ms"),
			metric.WithDescription("Duration of RPCs measured by the "+s+" (obs-opentelemetry compatible)."),
			metric.WithExplicitBucketBoundaries(ms...))
		keep(err)
	}
	b.active, err = m.Int64UpDownCounter("kitex.rpc."+s+".active_calls", metric.WithUnit("{call}"),
		metric.WithDescription("Kitex "+s+" calls started and not finished."))
	keep(err)
	b.messages, err = m.Int64Counter("kitex.rpc."+s+".stream.messages", metric.WithUnit("{message}"),
		metric.WithDescription("Messages sent and received on Kitex "+s+" streams."))
	keep(err)
	if cfg.sizes {
		// Without boundaries the SDK would use its defaults, made for
		// milliseconds (0 .. 10 000): useless for bytes.
		var prefixes []string
		if cfg.semconvCurrent {
			prefixes = append(prefixes, "kitex.rpc.")
		}
		if cfg.semconvOld {
			prefixes = append(prefixes, "rpc.")
		}
		for _, p := range prefixes {
			for _, dir := range []string{"request", "response"} {
				h, err := m.Int64Histogram(p+s+"."+dir+".size", metric.WithUnit("By"),
					metric.WithDescription("Size of Kitex "+s+" "+dir+"s on the wire."),
					metric.WithExplicitBucketBoundaries(cfg.sizeBuckets...))
				keep(err)
				b.sizes = append(b.sizes, h)
			}
		}
	}
	if side == rpcmodel.Client {
		b.retries, err = m.Int64Counter("kitex.rpc.client.retry_attempts", metric.WithUnit("{attempt}"),
			metric.WithDescription("Attempts a Kitex client made beyond the first."))
		keep(err)
	}
	return b, errors.Join(errs...)
}

// seriesFor returns the record options of k's series, built from k alone:
// the first call of a series must not leak its own (unguarded) values into
// the attributes every later call of the series is recorded with.
func (b *otelBackend) seriesFor(k seriesKey) *otelSeries {
	if s, ok := b.series.Load(k); ok {
		return s.(*otelSeries)
	}
	s := &otelSeries{}
	if b.cfg.semconvCurrent {
		attrs := []attribute.KeyValue{
			semconv.RPCSystemNameKey.String(k.system), semconv.RPCMethod(k.method),
			OutcomeKey.String(k.outcome), semconv.RPCResponseStatusCode(k.statusCode),
		}
		if k.errorType != "" && !k.notFailed {
			attrs = append(attrs, semconv.ErrorTypeKey.String(k.errorType))
		}
		if k.peer != "" {
			attrs = append(attrs, PeerServiceKey.String(k.peer))
		}
		if k.serverHost != "" {
			attrs = append(attrs, semconv.ServerAddress(k.serverHost))
			if k.serverPort > 0 {
				attrs = append(attrs, semconv.ServerPort(k.serverPort))
			}
		}
		s.current = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	}
	if b.cfg.semconvOld {
		s.old = []metric.RecordOption{metric.WithAttributeSet(oldAttributes(b.side, k))}
	}
	actual, _ := b.series.LoadOrStore(k, s)
	return actual.(*otelSeries)
}

// oldAttributes is obs-opentelemetry's attribute set for k: rpc.system,
// rpc.service (the callee: the guarded peer on a client, the server's own
// name on a server), rpc.method (short) and the span status it would have
// had.
func oldAttributes(side rpcmodel.Side, k seriesKey) attribute.Set {
	status := "Unset"
	if k.outcome == rpcmodel.Failure.String() {
		status = "Error"
	}
	service := k.peer
	if side == rpcmodel.Server {
		service = k.local
	}
	method := k.method // "pkg.Service/Method", or _OTHER
	if i := strings.LastIndexByte(method, '/'); i >= 0 {
		method = method[i+1:]
	}
	return attribute.NewSet(attribute.String("rpc.system", rpcmodel.SystemKitex), attribute.String("rpc.service", service),
		attribute.String("rpc.method", method), attribute.String("status.code", status))
}

func (b *otelBackend) methodOpts(system, method string) *methodOpts {
	k := [2]string{system, method}
	if o, ok := b.method.Load(k); ok {
		return o.(*methodOpts)
	}
	set := attribute.NewSet(semconv.RPCSystemNameKey.String(system), semconv.RPCMethod(method))
	o := &methodOpts{add: []metric.AddOption{metric.WithAttributeSet(set)}, record: []metric.RecordOption{metric.WithAttributeSet(set)}}
	actual, _ := b.method.LoadOrStore(k, o)
	return actual.(*methodOpts)
}

// finished records one finished call. ctx carries the span, if any, so the
// SDK's exemplar filter can sample it.
func (b *otelBackend) finished(ctx context.Context, call *rpcmodel.Call, k seriesKey, link rpcmodel.TraceLink, linked bool) {
	s := b.seriesFor(k)
	if cur := trace.SpanContextFromContext(ctx); linked && (cur.SpanID() != link.SpanID || cur.TraceID() != link.TraceID) {
		// Kitex's server tracer does not see the handler's context: give the
		// SDK's exemplar filter the call's own span instead.
		flags := trace.TraceFlags(0)
		if link.Sampled {
			flags = trace.FlagsSampled
		}
		ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: link.TraceID, SpanID: link.SpanID, TraceFlags: flags}))
	}
	if len(b.sizes) > 0 {
		opts := b.methodOpts(k.system, k.method).record
		for i := 0; i+1 < len(b.sizes); i += 2 {
			b.sizes[i].Record(ctx, int64(call.RequestSize), opts...)
			b.sizes[i+1].Record(ctx, int64(call.ResponseSize), opts...)
		}
	}
	d, timed := callDuration(call)
	if !timed {
		return
	}
	if b.duration != nil {
		b.duration.Record(ctx, d.Seconds(), s.current...)
	}
	if b.old != nil {
		b.old.Record(ctx, float64(d)/1e6, s.old...)
	}
}

func (b *otelBackend) precreate(system, method string) {
	b.methodOpts(system, method)
}

func (b *otelBackend) inFlightAdd(ctx context.Context, system, method string, d int64) {
	b.active.Add(ctx, d, b.methodOpts(system, method).add...)
}

var (
	sentAttr = DirectionKey.String("sent")
	recvAttr = DirectionKey.String("received")
)

func (b *otelBackend) message(ctx context.Context, system, method string, sent bool) {
	dir := recvAttr
	if sent {
		dir = sentAttr
	}
	b.messages.Add(ctx, 1, metric.WithAttributes(semconv.RPCSystemNameKey.String(system), semconv.RPCMethod(method), dir))
}

func (b *otelBackend) retry(ctx context.Context, system, method, peer string) {
	if b.retries != nil {
		b.retries.Add(ctx, 1, metric.WithAttributes(semconv.RPCSystemNameKey.String(system),
			semconv.RPCMethod(method), PeerServiceKey.String(peer)))
	}
}
