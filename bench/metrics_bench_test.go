package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	monitorprom "github.com/kitex-contrib/monitor-prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/metrics"
)

// metricsSetup is the metrics half of a setup: the options that install it
// and a check that it recorded the test's one call.
type metricsSetup struct {
	client []client.Option
	server []server.Option
	// check runs once the client has returned from one call and the server
	// has finished it. traceID is the call's trace id, empty when the setup
	// does not trace.
	check func(tb testing.TB, traceID string)
}

// metricsPrometheus installs this repository's metrics suites on both
// sides, recording into a fresh Prometheus registry only.
func metricsPrometheus(tb testing.TB) metricsSetup {
	reg := prometheus.NewRegistry()
	cs := metrics.NewClientSuite(metrics.WithRegisterer(reg))
	ss := metrics.NewServerSuite(metrics.WithRegisterer(reg))
	if err := errors.Join(cs.Err(), ss.Err()); err != nil {
		tb.Fatal(err)
	}
	return metricsSetup{
		client: []client.Option{client.WithSuite(cs)},
		server: []server.Option{server.WithSuite(ss)},
		check: func(tb testing.TB, traceID string) {
			tb.Helper()
			mfs := gather(tb, reg)
			for _, side := range []string{"client", "server"} {
				if n := sampleCount(tb, mfs, "kitex_"+side+"_calls_total"); n != 1 {
					tb.Errorf("kitex_%s_calls_total is %v, want 1", side, n)
				}
				duration := "kitex_" + side + "_call_duration_seconds"
				if n := sampleCount(tb, mfs, duration); n != 1 {
					tb.Errorf("%s counts %v observations, want 1", duration, n)
				}
				// With a sampled span on the call, the observation must
				// carry it as an exemplar: the point of tracing + metrics.
				if traceID != "" && !hasExemplar(mfs[duration], traceID) {
					tb.Errorf("%s has no exemplar with trace_id %s", duration, traceID)
				}
			}
		},
	}
}

// metricsOTel installs this repository's metrics suites on both sides,
// recording into an OpenTelemetry SDK MeterProvider with a ManualReader
// only (nothing collects during a benchmark).
func metricsOTel(tb testing.TB) metricsSetup {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tb.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			tb.Errorf("shutting the MeterProvider down: %v", err)
		}
	})
	cs := metrics.NewClientSuite(metrics.WithMeterProvider(mp))
	ss := metrics.NewServerSuite(metrics.WithMeterProvider(mp))
	if err := errors.Join(cs.Err(), ss.Err()); err != nil {
		tb.Fatal(err)
	}
	return metricsSetup{
		client: []client.Option{client.WithSuite(cs)},
		server: []server.Option{server.WithSuite(ss)},
		check: func(tb testing.TB, _ string) {
			tb.Helper()
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				tb.Fatal(err)
			}
			for _, side := range []string{"client", "server"} {
				name := "rpc." + side + ".call.duration"
				if n := otelHistogramCount(tb, &rm, name); n != 1 {
					tb.Errorf("%s counts %d observations, want 1", name, n)
				}
			}
		},
	}
}

// monitorPrometheus installs kitex-contrib/monitor-prometheus v0.2.0's
// client and server tracers, with their HTTP server disabled and a fresh
// registry (its tracers MustRegister, so a shared one would panic).
func monitorPrometheus(tb testing.TB) metricsSetup {
	reg := prometheus.NewRegistry()
	opts := []monitorprom.Option{monitorprom.WithDisableServer(true), monitorprom.WithRegistry(reg)}
	return metricsSetup{
		client: []client.Option{client.WithTracer(monitorprom.NewClientTracer("", "", opts...))},
		server: []server.Option{server.WithTracer(monitorprom.NewServerTracer("", "", opts...))},
		check: func(tb testing.TB, _ string) {
			tb.Helper()
			mfs := gather(tb, reg)
			for _, side := range []string{"client", "server"} {
				if n := sampleCount(tb, mfs, "kitex_"+side+"_throughput"); n != 1 {
					tb.Errorf("kitex_%s_throughput is %v, want 1", side, n)
				}
			}
		},
	}
}

// waitFinished waits until the server has finished (and the
// instrumentation recorded) n calls.
func waitFinished(tb testing.TB, f testservice.FinishSignal, n int) {
	tb.Helper()
	if err := f.Wait(n, 10*time.Second); err != nil {
		tb.Fatal(err)
	}
}

// gather gathers g by family name.
func gather(tb testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

// sampleCount sums a counter family's values, or a histogram family's
// observation counts, over all its series.
func sampleCount(tb testing.TB, mfs map[string]*dto.MetricFamily, name string) float64 {
	tb.Helper()
	mf, ok := mfs[name]
	if !ok {
		tb.Fatalf("no metric family %q", name)
	}
	var n float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			n += m.GetCounter().GetValue()
		case m.Histogram != nil:
			n += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return n
}

// hasExemplar reports whether a histogram family holds an exemplar with
// the given trace_id.
func hasExemplar(mf *dto.MetricFamily, traceID string) bool {
	for _, m := range mf.GetMetric() {
		exemplars := m.GetHistogram().GetExemplars()
		for _, b := range m.GetHistogram().GetBucket() {
			exemplars = append(exemplars, b.GetExemplar())
		}
		for _, ex := range exemplars {
			for _, lp := range ex.GetLabel() {
				if lp.GetName() == "trace_id" && lp.GetValue() == traceID {
					return true
				}
			}
		}
	}
	return false
}

// otelHistogramCount sums the counts of a float64 histogram's data points.
func otelHistogramCount(tb testing.TB, rm *metricdata.ResourceMetrics, name string) uint64 {
	tb.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				tb.Fatalf("%s is a %T, want a float64 histogram", name, m.Data)
			}
			var n uint64
			for _, dp := range h.DataPoints {
				n += dp.Count
			}
			return n
		}
	}
	tb.Fatalf("no OTel metric %q", name)
	return 0
}

// Scrape sizes, in Prometheus time series (sample lines of the exposition):
// each caller has one calls_total counter and one duration histogram (16
// buckets, +Inf, _sum, _count), 20 time series, plus one in-flight gauge.
const (
	scrapeSmallCallers = 50   // 1 001 time series
	scrapeLargeCallers = 1000 // 20 001 time series
)

// scrapeFixture is a registry holding a server metrics suite's series for
// many callers, and what it took to build it.
type scrapeFixture struct {
	reg     *prometheus.Registry
	callers int
	series  int // metrics (label sets) Gather returns, as testutil.CollectAndCount counts
	samples int // sample lines of the text exposition (Prometheus time series)
	bytes   int // size of the text exposition
	took    time.Duration
	// leftover is how many more goroutines run once every client is closed
	// and the server stopped than before the fixture was built.
	leftover int
}

// buildScrapeFixture starts an Echo server with the metrics server suite
// (peer limit callers), makes one call from each of callers Kitex clients,
// each with its own caller name sent over TTHeader, waits for the server to
// record them all, then closes the clients and stops the server. The
// registry keeps the series.
func buildScrapeFixture(callers int) (*scrapeFixture, error) {
	start := time.Now()
	before := runtime.NumGoroutine()

	reg := prometheus.NewRegistry()
	ss := metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithPeerLimit(callers))
	if err := ss.Err(); err != nil {
		return nil, err
	}
	finished := testservice.NewFinishSignal(callers)
	srv, err := testservice.Start(serviceName, testservice.Thrift, &testservice.Handler{},
		server.WithTracer(finished), server.WithMetaHandler(transmeta.ServerTTHeaderHandler), server.WithSuite(ss))
	if err != nil {
		return nil, err
	}
	var clients []client.Client
	cleanup := func() error {
		var errs []error
		for _, c := range clients {
			if cl, ok := c.(io.Closer); ok {
				errs = append(errs, cl.Close())
			}
		}
		clients = nil
		if srv != nil {
			errs = append(errs, srv.Stop())
			srv = nil
		}
		return errors.Join(errs...)
	}
	defer func() { _ = cleanup() }() // a no-op unless an error cut the build short

	svc := echoservice.NewServiceInfoForClient()
	for i := 0; i < callers; i++ {
		c, err := client.NewClient(svc,
			client.WithDestService(serviceName),
			client.WithHostPorts(srv.Addr),
			client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: fmt.Sprintf("caller-%04d", i)}),
			client.WithTransportProtocol(transport.TTHeader),
			client.WithMetaHandler(transmeta.ClientTTHeaderHandler))
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
		args := &echo.EchoServiceEchoArgs{Req: &echo.EchoRequest{Message: "hello"}}
		if err := c.Call(context.Background(), "Echo", args, &echo.EchoServiceEchoResult{}); err != nil {
			return nil, fmt.Errorf("call from caller %d: %w", i, err)
		}
	}
	if err := finished.Wait(callers, 30*time.Second); err != nil {
		return nil, err
	}
	if err := cleanup(); err != nil {
		return nil, err
	}
	f := &scrapeFixture{reg: reg, callers: callers, took: time.Since(start)}

	// Closed connections and stopped pollers wind down asynchronously; what
	// is still there after a while is left over. Kitex keeps a few
	// process-wide goroutines and one per server it ever ran
	// (testservice.KitexBackgroundGoroutines); a per-client leak would show
	// as callers or more.
	deadline := time.Now().Add(2 * time.Second)
	for f.leftover = runtime.NumGoroutine() - before; f.leftover > 10 && time.Now().Before(deadline); f.leftover = runtime.NumGoroutine() - before {
		time.Sleep(10 * time.Millisecond)
	}

	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		f.series += len(mf.GetMetric())
	}
	body, err := scrape(metrics.Handler(reg))
	if err != nil {
		return nil, err
	}
	f.bytes = len(body)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			f.samples++
		}
	}
	return f, sc.Err()
}

// scrapeRequest is a Prometheus scrape asking for the text format.
func scrapeRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	return req
}

func scrape(h http.Handler) ([]byte, error) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, scrapeRequest())
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("scrape returned %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("scrape returned Content-Type %q, want text/plain", ct)
	}
	return rec.Body.Bytes(), nil
}

// Fixtures are built once per process: the benchmark runs once per -count,
// and the registry does not change while it is scraped.
var fixtures = map[int]*fixtureOnce{scrapeSmallCallers: {}, scrapeLargeCallers: {}}

type fixtureOnce struct {
	once sync.Once
	f    *scrapeFixture
	err  error
}

// BenchmarkScrape measures one scrape, in the text format, of a registry
// holding the server metrics suite's series: "series" reports label sets as
// client_golang counts them, "samples" the Prometheus time series (lines of
// the exposition). The target is 1 000 time series in under 10 ms; the large
// case shows how it scales.
func BenchmarkScrape(b *testing.B) {
	for _, callers := range []int{scrapeSmallCallers, scrapeLargeCallers} {
		fo := fixtures[callers]
		fo.once.Do(func() {
			fo.f, fo.err = buildScrapeFixture(callers)
			if fo.err == nil {
				f := fo.f
				b.Logf("fixture: %d callers, one client and one call each, recorded in %v; %d series, %d samples, %d bytes; %d goroutines left over",
					f.callers, f.took.Round(time.Millisecond), f.series, f.samples, f.bytes, f.leftover)
			}
		})
		if fo.err != nil {
			b.Fatal(fo.err)
		}
		f := fo.f
		b.Run(fmt.Sprintf("time_series=%d", f.samples), func(b *testing.B) {
			h := metrics.Handler(f.reg)
			req := scrapeRequest()
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("scrape returned %d", rec.Code)
				}
			}
			b.ReportMetric(float64(f.series), "series")
			b.ReportMetric(float64(f.samples), "samples")
		})
	}
}

// TestScrapeFixture builds a small version of BenchmarkScrape's
// registry and checks every caller name reached the server and got its own
// series, and that closing the clients leaves no goroutine per client.
func TestScrapeFixture(t *testing.T) {
	const callers = 40
	f, err := buildScrapeFixture(callers)
	if err != nil {
		t.Fatal(err)
	}
	mfs := gather(t, f.reg)
	calls := mfs["kitex_server_calls_total"]
	if calls == nil || len(calls.GetMetric()) != callers {
		t.Fatalf("kitex_server_calls_total has %d series, want %d", len(calls.GetMetric()), callers)
	}
	seen := map[string]bool{}
	for _, m := range calls.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "caller" {
				seen[lp.GetValue()] = true
			}
		}
		if v := m.GetCounter().GetValue(); v != 1 {
			t.Errorf("a caller's kitex_server_calls_total is %v, want 1", v)
		}
	}
	for i := 0; i < callers; i++ {
		if name := fmt.Sprintf("caller-%04d", i); !seen[name] {
			t.Errorf("no series for caller %q; have %v", name, seen)
		}
	}
	// calls_total and call_duration_seconds per caller, one in-flight gauge.
	if want := 2*callers + 1; f.series != want {
		t.Errorf("registry gathers %d series, want %d", f.series, want)
	}
	// A counter line per caller; per histogram 16 buckets, +Inf, sum, count.
	if want := callers*(1+len(metrics.DefaultBuckets)+3) + 1; f.samples != want {
		t.Errorf("exposition has %d samples, want %d", f.samples, want)
	}
	if f.leftover >= callers/2 {
		t.Errorf("%d goroutines left over after closing %d clients", f.leftover, callers)
	}
}
