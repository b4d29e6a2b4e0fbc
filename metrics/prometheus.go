package metrics

import (
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitexsuite/suite/rpcmodel"
)

// promBackend holds one side's Prometheus collectors.
type promBackend struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	reqSize  *prometheus.HistogramVec // nil unless WithSizeHistograms
	respSize *prometheus.HistogramVec
	messages *prometheus.CounterVec
	retries  *prometheus.CounterVec // client only

	compat        *monitorCompat // nil unless WithMonitorPrometheusCompat
	exemplarEvery time.Duration

	series     sync.Map // seriesKey -> *promSeries
	inFlightBy sync.Map // [2]string{system, method} -> prometheus.Gauge: resolved once, not hashed per call
}

// seriesKey names one combination of call labels; its series are resolved
// once and cached, so a call costs a map read, not a label hash.
type seriesKey struct {
	system, method, peer, outcome, errorType string
}

type promSeries struct {
	calls    prometheus.Counter
	duration prometheus.Observer
	// lastExemplar is when (unix ns) an observation of this series last
	// carried an exemplar: Prometheus keeps only the newest exemplar per
	// bucket, and building one costs a dozen allocations.
	lastExemplar atomic.Int64
}

// register registers c with r, or returns the collector already registered
// under the same description: many Suites may share one registry.
func register[T prometheus.Collector](r prometheus.Registerer, c T) (T, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func newPromBackend(cfg *config, side rpcmodel.Side) (*promBackend, error) {
	prefix := "kitex_" + side.String() + "_"
	peer := peerLabel(side)
	callLabels := []string{"rpc_system", "method", peer, "outcome", "error_type"}
	methodLabels := []string{"rpc_system", "method"}

	hopts := prometheus.HistogramOpts{
		Name:    prefix + "call_duration_seconds",
		Help:    "Duration of Kitex " + side.String() + " calls (one per stream for streaming methods), in seconds.",
		Buckets: cfg.buckets,
	}
	if cfg.native {
		hopts.NativeHistogramBucketFactor = 1.1
		hopts.NativeHistogramMaxBucketNumber = 160
		hopts.NativeHistogramMinResetDuration = time.Hour
	}
	b := &promBackend{
		exemplarEvery: cfg.exemplarEvery,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "calls_total",
			Help: "Kitex " + side.String() + " calls completed, by outcome and error type.",
		}, callLabels),
		duration: prometheus.NewHistogramVec(hopts, callLabels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: prefix + "calls_in_flight",
			Help: "Kitex " + side.String() + " calls started and not finished.",
		}, methodLabels),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "stream_messages_total",
			Help: "Messages sent and received on Kitex " + side.String() + " streams.",
		}, []string{"rpc_system", "method", "direction"}),
	}
	if cfg.sizes {
		b.reqSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "request_size_bytes", Help: "Size of Kitex " + side.String() + " requests on the wire, in bytes.",
			Buckets: DefaultSizeBuckets,
		}, methodLabels)
		b.respSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: prefix + "response_size_bytes", Help: "Size of Kitex " + side.String() + " responses on the wire, in bytes.",
			Buckets: DefaultSizeBuckets,
		}, methodLabels)
	}
	if side == rpcmodel.Client {
		b.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kitex_client_retry_attempts_total",
			Help: "Attempts a Kitex client made beyond the first, under a retry or backup policy.",
		}, []string{"rpc_system", "method", "callee"})
	}

	var errs []error
	reg := func(c **prometheus.CounterVec) {
		var err error
		if *c, err = register(cfg.registerer, *c); err != nil {
			errs = append(errs, err)
		}
	}
	regH := func(h **prometheus.HistogramVec) {
		var err error
		if *h, err = register(cfg.registerer, *h); err != nil {
			errs = append(errs, err)
		}
	}
	reg(&b.calls)
	regH(&b.duration)
	var err error
	if b.inFlight, err = register(cfg.registerer, b.inFlight); err != nil {
		errs = append(errs, err)
	}
	reg(&b.messages)
	if b.retries != nil {
		reg(&b.retries)
	}
	if b.reqSize != nil {
		regH(&b.reqSize)
		regH(&b.respSize)
	}
	if cfg.monitorCompat {
		b.compat = newMonitorCompat(cfg, side)
		reg(&b.compat.throughput)
		regH(&b.compat.latency)
	}
	return b, errors.Join(errs...)
}

func peerLabel(side rpcmodel.Side) string {
	if side == rpcmodel.Client {
		return "callee"
	}
	return "caller"
}

func (b *promBackend) seriesFor(k seriesKey) *promSeries {
	if s, ok := b.series.Load(k); ok {
		return s.(*promSeries)
	}
	labels := []string{k.system, k.method, k.peer, k.outcome, k.errorType}
	s := &promSeries{calls: b.calls.WithLabelValues(labels...), duration: b.duration.WithLabelValues(labels...)}
	actual, _ := b.series.LoadOrStore(k, s)
	return actual.(*promSeries)
}

// finished records one finished call.
func (b *promBackend) finished(call *rpcmodel.Call, k seriesKey, link rpcmodel.TraceLink, linked bool) {
	s := b.seriesFor(k)
	s.calls.Inc()
	secs := call.Duration().Seconds()
	if linked && link.Sampled && b.exemplarDue(s, call.End) {
		if eo, ok := s.duration.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(secs, prometheus.Labels{
				"trace_id": hex.EncodeToString(link.TraceID[:]),
				"span_id":  hex.EncodeToString(link.SpanID[:]),
			})
		} else {
			s.duration.Observe(secs)
		}
	} else {
		s.duration.Observe(secs)
	}
	if b.reqSize != nil {
		b.reqSize.WithLabelValues(k.system, k.method).Observe(float64(call.RequestSize))
		b.respSize.WithLabelValues(k.system, k.method).Observe(float64(call.ResponseSize))
	}
	if b.compat != nil {
		b.compat.finished(call, k)
	}
}

// exemplarDue reports whether this observation should carry an exemplar:
// at most one per series per exemplar interval.
func (b *promBackend) exemplarDue(s *promSeries, at time.Time) bool {
	if b.exemplarEvery <= 0 {
		return true
	}
	now := at.UnixNano()
	if at.IsZero() {
		now = time.Now().UnixNano()
	}
	last := s.lastExemplar.Load()
	return now-last >= int64(b.exemplarEvery) && s.lastExemplar.CompareAndSwap(last, now)
}

// precreate makes the zero-valued success series of a method exist.
func (b *promBackend) precreate(system, method string) {
	b.seriesFor(seriesKey{system: system, method: method, outcome: rpcmodel.Success.String()})
	b.inFlight.WithLabelValues(system, method)
}

func (b *promBackend) inFlightAdd(system, method string, d float64) {
	k := [2]string{system, method}
	g, ok := b.inFlightBy.Load(k)
	if !ok {
		g, _ = b.inFlightBy.LoadOrStore(k, b.inFlight.WithLabelValues(system, method))
	}
	g.(prometheus.Gauge).Add(d)
}

func (b *promBackend) message(system, method string, sent bool) {
	dir := "received"
	if sent {
		dir = "sent"
	}
	b.messages.WithLabelValues(system, method, dir).Inc()
}

func (b *promBackend) retry(system, method, peer string) {
	if b.retries != nil {
		b.retries.WithLabelValues(system, method, peer).Inc()
	}
}

// monitorCompat emits the series of kitex-contrib monitor-prometheus v0.2.0.
type monitorCompat struct {
	throughput *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

// monitorPrometheusBuckets are monitor-prometheus's default latency buckets
// (microseconds).
var monitorPrometheusBuckets = []float64{5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000}

func newMonitorCompat(cfg *config, side rpcmodel.Side) *monitorCompat {
	labels := []string{"caller", "callee", "method", "status", "retry"}
	s := side.String()
	help := map[rpcmodel.Side][2]string{
		rpcmodel.Client: {"Total number of RPCs completed by the client, regardless of success or failure.",
			"Latency (microseconds) of the RPC until it is finished."},
		rpcmodel.Server: {"Total number of RPCs completed by the server, regardless of success or failure.",
			"Latency (microseconds) of RPC that had been application-level handled by the server."},
	}[side]
	return &monitorCompat{
		throughput: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kitex_" + s + "_throughput", Help: help[0]}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kitex_" + s + "_latency_us", Help: help[1],
			Buckets: cfg.compatBuckets}, labels),
	}
}

func (m *monitorCompat) finished(call *rpcmodel.Call, k seriesKey) {
	caller, callee := call.Caller, call.Callee
	if call.Side == rpcmodel.Server {
		caller = k.peer
	} else {
		callee = k.peer
	}
	status := "succeed"
	if call.Outcome == rpcmodel.Failure {
		status = "error"
	}
	method := call.Method
	labels := []string{orUnknown(caller), orUnknown(callee), orUnknown(method), status, strconv.Itoa(int(call.Retries))}
	m.throughput.WithLabelValues(labels...).Inc()
	m.latency.WithLabelValues(labels...).Observe(float64(call.Duration().Microseconds()))
}

// orUnknown is monitor-prometheus's label value for an empty name.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
