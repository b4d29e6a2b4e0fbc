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
// once and cached, so a call costs a map read, not a label hash. Every
// label and attribute of a series comes from its key, never from the call
// that first created it.
type seriesKey struct {
	system, method, peer, outcome, errorType, statusCode string
	// local is the server's own service name, for the rpc/old attributes
	// (rpc.service); empty on clients and without rpc/old. It comes from
	// the server's configuration, not the wire.
	local string
	// For the OTel attributes only (Prometheus labels ignore them):
	// notFailed marks a gRPC failure a server does not count as failed
	// (rpcmodel.Call.ServerFault), which the conventions record without
	// error.type; serverHost and serverPort are a client's server.address
	// and server.port, as otelgrpc records them.
	notFailed  bool
	serverHost string
	serverPort int
}

type promSeries struct {
	calls    prometheus.Counter
	duration prometheus.Observer
	// lastExemplar is when (unix ns) an observation of this series last
	// carried an exemplar: Prometheus keeps only the newest exemplar per
	// bucket, and building one costs a dozen allocations.
	lastExemplar atomic.Int64
}

func newPromBackend(cfg *config, side rpcmodel.Side) (*promBackend, error) {
	prefix := "kitex_" + side.String() + "_"
	peer := peerLabel(side)
	callLabels := []string{"rpc_system", "method", peer, "outcome", "error_type", "status_code"}
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
	reg := &promRegistrar{r: cfg.registerer}
	b := &promBackend{exemplarEvery: cfg.exemplarEvery}
	b.calls = reg.counter(prefix+"calls_total", "Kitex "+side.String()+" calls completed, by outcome, error type and status code.", callLabels)
	b.duration = reg.histogram(hopts, callLabels)
	b.inFlight = reg.gauge(prefix+"calls_in_flight", "Kitex "+side.String()+" calls started and not finished.", methodLabels)
	b.messages = reg.counter(prefix+"stream_messages_total", "Messages sent and received on Kitex "+side.String()+" streams.",
		[]string{"rpc_system", "method", "direction"})
	if side == rpcmodel.Client {
		b.retries = reg.counter("kitex_client_retry_attempts_total",
			"Attempts a Kitex client made beyond the first, under a retry or backup policy.", []string{"rpc_system", "method", "callee"})
	}
	if cfg.sizes {
		b.reqSize = reg.histogram(prometheus.HistogramOpts{
			Name: prefix + "request_size_bytes", Help: "Size of Kitex " + side.String() + " requests on the wire, in bytes.",
			Buckets: cfg.sizeBuckets,
		}, methodLabels)
		b.respSize = reg.histogram(prometheus.HistogramOpts{
			Name: prefix + "response_size_bytes", Help: "Size of Kitex " + side.String() + " responses on the wire, in bytes.",
			Buckets: cfg.sizeBuckets,
		}, methodLabels)
	}
	if cfg.monitorCompat {
		b.compat = newMonitorCompat(cfg, side, reg)
	}
	return b, errors.Join(reg.errs...)
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
	labels := []string{k.system, k.method, k.peer, k.outcome, k.errorType, k.statusCode}
	s := &promSeries{calls: b.calls.WithLabelValues(labels...), duration: b.duration.WithLabelValues(labels...)}
	actual, _ := b.series.LoadOrStore(k, s)
	return actual.(*promSeries)
}

// finished records one finished call.
func (b *promBackend) finished(call *rpcmodel.Call, k seriesKey, link rpcmodel.TraceLink, linked bool) {
	s := b.seriesFor(k)
	s.calls.Inc()
	if b.compat != nil {
		b.compat.finished(call, k)
	}
	if b.reqSize != nil {
		b.reqSize.WithLabelValues(k.system, k.method).Observe(float64(call.RequestSize))
		b.respSize.WithLabelValues(k.system, k.method).Observe(float64(call.ResponseSize))
	}
	d, timed := callDuration(call)
	if !timed {
		return
	}
	secs := d.Seconds()
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
	b.seriesFor(seriesKey{system: system, method: method, outcome: rpcmodel.Success.String(), statusCode: statusOK})
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

func newMonitorCompat(cfg *config, side rpcmodel.Side, reg *promRegistrar) *monitorCompat {
	labels := []string{"caller", "callee", "method", "status", "retry"}
	s := side.String()
	help := map[rpcmodel.Side][2]string{
		rpcmodel.Client: {"Total number of RPCs completed by the client, regardless of success or failure.",
			"Latency (microseconds) of the RPC until it is finished."},
		rpcmodel.Server: {"Total number of RPCs completed by the server, regardless of success or failure.",
			"Latency (microseconds) of RPC that had been application-level handled by the server."},
	}[side]
	return &monitorCompat{
		throughput: reg.counter("kitex_"+s+"_throughput", help[0], labels),
		latency: reg.histogram(prometheus.HistogramOpts{Name: "kitex_" + s + "_latency_us", Help: help[1],
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
	if d, timed := callDuration(call); timed {
		m.latency.WithLabelValues(labels...).Observe(float64(d.Microseconds()))
	}
}

// orUnknown is monitor-prometheus's label value for an empty name.
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
