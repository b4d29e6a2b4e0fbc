package metrics

import (
	"context"
	"os"
	"slices"
	"time"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/serviceinfo"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/kitexsuite/suite/rpcmodel"
)

// Option configures a metrics Suite.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Filter decides whether a call is recorded (return false to skip it, e.g.
// health checks). It runs with the method known: when the call finishes,
// and around the handler (server) or each attempt (client) for the
// in-flight gauge.
type Filter func(ctx context.Context, ri rpcinfo.RPCInfo) bool

// DefaultBuckets are the duration histogram boundaries in seconds: from
// 100 µs (a loopback call) to 10 s.
var DefaultBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// DefaultSizeBuckets are the size histogram boundaries in bytes.
var DefaultSizeBuckets = prometheus.ExponentialBuckets(64, 4, 8) // 64 B .. 1 MiB

// DefaultPeerLimit is how many distinct caller (or callee) names a Suite
// reports before the rest become _OTHER.
const DefaultPeerLimit = 100

// DefaultBizStatusCodeLimit is how many distinct business status codes a
// Suite reports as status_code (rpc.response.status_code) before the rest
// become _OTHER.
const DefaultBizStatusCodeLimit = 50

type config struct {
	registerer     prometheus.Registerer
	meterProvider  metric.MeterProvider
	buckets        []float64
	native         bool
	sizes          bool
	sizeBuckets    []float64
	filter         Filter
	peerAllow      []string // nil: no allow-list; empty: admit none
	peerLimit      int
	bizCodeLimit   int
	services       []*serviceinfo.ServiceInfo
	knownMethods   []string
	methods        *rpcmodel.Methods // this Suite's own method table
	monitorCompat  bool
	compatBuckets  []float64
	semconvCurrent bool
	semconvOld     bool
	exemplarEvery  time.Duration
}

func newConfig(opts []Option) *config {
	// Copies: the defaults are exported slices a caller could change.
	c := &config{buckets: slices.Clone(DefaultBuckets), sizeBuckets: slices.Clone(DefaultSizeBuckets),
		peerLimit: DefaultPeerLimit, bizCodeLimit: DefaultBizStatusCodeLimit,
		compatBuckets: slices.Clone(monitorPrometheusBuckets), exemplarEvery: DefaultExemplarInterval}
	c.setSemconv(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"))
	for _, o := range opts {
		o.apply(c)
	}
	c.methods = rpcmodel.NewMethods(rpcmodel.DefaultGenericMethods, c.knownMethods...)
	if c.registerer == nil && c.meterProvider == nil {
		// Globals are read once, at construction, never in init.
		c.meterProvider = otel.GetMeterProvider()
	}
	return c
}

// setSemconv reads OTEL_SEMCONV_STABILITY_OPT_IN the way every kitexsuite
// signal does (rpcmodel.SemconvOptIn).
func (c *config) setSemconv(v string) {
	c.semconvCurrent, c.semconvOld = rpcmodel.SemconvOptIn(v)
}

// WithRegisterer records into Prometheus collectors registered with r.
// Suites sharing r share collectors. Without it (and without
// WithMeterProvider) only the global OTel MeterProvider is used.
func WithRegisterer(r prometheus.Registerer) Option {
	return optionFunc(func(c *config) { c.registerer = r })
}

// WithMeterProvider records into OTel instruments from mp.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithKnownMethods names methods the method label (rpc.method) reports by
// name even on a generic service (one that answers any method name), beyond
// the rpcmodel.DefaultGenericMethods such names each generic service of this
// Suite reports before the rest become _OTHER. Methods a service's IDL
// declares are always reported by name. Each Suite has its own table, so
// the callers of one service cannot change another's labels.
func WithKnownMethods(names ...string) Option {
	return optionFunc(func(c *config) { c.knownMethods = append(c.knownMethods, names...) })
}

// WithBuckets sets the duration histogram boundaries, in seconds (both
// backends).
func WithBuckets(b []float64) Option {
	return optionFunc(func(c *config) {
		if len(b) > 0 {
			c.buckets = b
		}
	})
}

// WithNativeHistograms makes the Prometheus duration histogram a native
// (sparse) histogram as well as a classic one. The server must scrape with
// native histograms enabled to see it.
func WithNativeHistograms() Option {
	return optionFunc(func(c *config) { c.native = true })
}

// WithSizeHistograms records request and response sizes (bytes on the wire
// as Kitex counted them).
func WithSizeHistograms() Option {
	return optionFunc(func(c *config) { c.sizes = true })
}

// WithFilter skips the calls f rejects.
func WithFilter(f Filter) Option {
	return optionFunc(func(c *config) { c.filter = f })
}

// WithPeerAllowList reports only these caller (server) or callee (client)
// names; any other becomes _OTHER. It replaces WithPeerLimit. An empty list
// admits no name: every named peer is _OTHER.
func WithPeerAllowList(names ...string) Option {
	// Never nil, so that an empty list still switches the allow-list on.
	allow := append(make([]string, 0, len(names)), names...)
	return optionFunc(func(c *config) { c.peerAllow = allow })
}

// WithPeerLimit reports the first n distinct peer names and _OTHER for the
// rest (default DefaultPeerLimit). 0 reports none: every peer is _OTHER.
func WithPeerLimit(n int) Option {
	return optionFunc(func(c *config) { c.peerLimit = n })
}

// WithBizStatusCodeLimit reports the first n distinct business status
// codes as the status_code label (rpc.response.status_code attribute) and
// _OTHER for the rest (default DefaultBizStatusCodeLimit): a business code
// is whatever number the handler chose. 0 reports none. "OK", gRPC code
// names and error types are fixed sets and always reported.
func WithBizStatusCodeLimit(n int) Option {
	return optionFunc(func(c *config) { c.bizCodeLimit = n })
}

// WithServiceInfo pre-creates zero-valued Prometheus series for every
// method of the given services (e.g. echoservice.NewServiceInfo()), labelled
// rpc_system "kitex", so dashboards and rate() see them from the first
// scrape.
func WithServiceInfo(svcs ...*serviceinfo.ServiceInfo) Option {
	return optionFunc(func(c *config) { c.services = append(c.services, svcs...) })
}

// WithMonitorPrometheusCompat also emits the series kitex-contrib
// monitor-prometheus v0.2.0 exposes, with its names, labels and default
// microsecond buckets (or buckets, if given), for dashboards written for it.
func WithMonitorPrometheusCompat(buckets ...float64) Option {
	return optionFunc(func(c *config) {
		c.monitorCompat = true
		if len(buckets) > 0 {
			c.compatBuckets = buckets
		}
	})
}

// DefaultExemplarInterval is how often, at most, a Prometheus series'
// duration observation carries an exemplar.
const DefaultExemplarInterval = time.Second

// WithExemplarInterval sets how often, at most, each Prometheus duration
// series takes an exemplar from a sampled call (default
// DefaultExemplarInterval; 0: every sampled call). Prometheus keeps only the
// newest exemplar per bucket, so more are mostly overwritten, and each costs
// allocations on the call's path.
func WithExemplarInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.exemplarEvery = d })
}

// WithSemconvOptIn overrides OTEL_SEMCONV_STABILITY_OPT_IN for this Suite
// ("rpc", "rpc/dup", "rpc/old").
func WithSemconvOptIn(value string) Option {
	return optionFunc(func(c *config) { c.setSemconv(value) })
}
