package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/callopt"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/metrics"
)

const echoMethod = "echo.EchoService/Echo"

// One registry shared by a server and two clients: no panic, one set of
// collectors, and counts by outcome and error type on both sides.
func TestPrometheusOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg)))},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg)))})
	second, err := echoservice.NewClient("backend", client.WithHostPorts(e.svr.Addr), client.WithTransportProtocol(transport.TTHeader),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := e.client.Echo(ctx, &echo.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := second.Echo(ctx, &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	callBizErrorAndTimeout(t, ctx, e)
	e.waitServer(6)

	calls := family(t, reg, "kitex_client_calls_total")
	if got := counterValue(series(t, calls, map[string]string{"method": echoMethod, "callee": "backend", "outcome": "success", "error_type": ""})); got != 4 {
		t.Errorf("client successes = %v, want 4 (two clients, one collector)", got)
	}
	if got := counterValue(series(t, calls, map[string]string{"outcome": "biz_error"})); got != 1 {
		t.Errorf("client biz errors = %v, want 1", got)
	}
	if got := counterValue(series(t, calls, map[string]string{"outcome": "failure", "error_type": "timeout"})); got != 1 {
		t.Errorf("client timeouts = %v, want 1", got)
	}
	sv := family(t, reg, "kitex_server_calls_total")
	// The server finished the call the client gave up on: a success there.
	if got := counterValue(series(t, sv, map[string]string{"method": echoMethod, "caller": "frontend", "outcome": "success", "rpc_system": "kitex"})); got != 4 {
		t.Errorf("server successes from frontend = %v, want 4", got)
	}
	// The second client has no ClientTTHeaderHandler, so it never said who it is.
	if got := counterValue(series(t, sv, map[string]string{"caller": "", "outcome": "success"})); got != 1 {
		t.Errorf("server successes from an unnamed caller = %v, want 1", got)
	}
	var total float64
	for _, m := range sv.GetMetric() {
		total += counterValue(m)
	}
	if total != 6 {
		t.Errorf("server recorded %v calls, want 6", total)
	}
	dur := family(t, reg, "kitex_server_call_duration_seconds")
	var count uint64
	for _, m := range dur.GetMetric() {
		count += m.GetHistogram().GetSampleCount()
	}
	if count != 6 {
		t.Errorf("server duration histogram has %d observations, want 6", count)
	}
	if n := testutil.CollectAndCount(reg, "kitex_server_calls_in_flight"); n != 1 {
		t.Errorf("in-flight gauge has %d series, want 1", n)
	}
	if got := counterValue(series(t, family(t, reg, "kitex_server_calls_in_flight"), map[string]string{"method": echoMethod})); got != 0 {
		t.Errorf("in-flight = %v after all calls finished, want 0", got)
	}
}

// counterValue reads a counter or gauge sample.
func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// A registry that already holds a collector of the same name with other
// labels: the Suite reports the error, logs it once, and keeps serving.
func TestRegistrationConflictIsAnErrorNotAPanic(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kitex_server_calls_total", Help: "someone else's"}, []string{"x"}))
	s := metrics.NewServerSuite(metrics.WithRegisterer(reg))
	var are prometheus.AlreadyRegisteredError
	if err := s.Err(); err == nil || errors.As(err, &are) {
		t.Fatalf("want a registration error that is not AlreadyRegistered, got %v", err)
	}
	e := newEnv(t, []server.Option{server.WithSuite(s)}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatalf("server with a half-registered Suite must keep serving: %v", err)
	}
}

// WithNativeHistograms adds a native (sparse) histogram to the classic one.
func TestNativeHistograms(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithNativeHistograms()))}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	h := series(t, family(t, reg, "kitex_server_call_duration_seconds"), map[string]string{"outcome": "success"}).GetHistogram()
	if h.Schema == nil || len(h.GetPositiveSpan()) == 0 {
		t.Errorf("no native histogram: schema %v, positive spans %v", h.Schema, h.GetPositiveSpan())
	}
	if len(h.GetBucket()) == 0 {
		t.Error("the classic buckets must stay")
	}
}

// Suites sharing a registry share collectors when they agree; a Suite whose
// histogram settings differ from the registered ones gets a *ConflictError
// from Err (logged once), and keeps recording into the registered one.
func TestConflictingHistogramsOnOneRegistry(t *testing.T) {
	logs := captureKlog(t)
	reg := prometheus.NewRegistry()
	first := metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithSizeHistograms(), metrics.WithMonitorPrometheusCompat())
	if err := first.Err(); err != nil {
		t.Fatal(err)
	}
	same := metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithSizeHistograms(), metrics.WithMonitorPrometheusCompat())
	if err := same.Err(); err != nil {
		t.Errorf("a Suite with the same settings: Err() = %v, want nil", err)
	}
	for name, c := range map[string]struct {
		opt    metrics.Option
		metric string
	}{
		"buckets":           {metrics.WithBuckets([]float64{0.1, 1}), "kitex_server_call_duration_seconds"},
		"native histograms": {metrics.WithNativeHistograms(), "kitex_server_call_duration_seconds"},
		"compat buckets":    {metrics.WithMonitorPrometheusCompat(10, 100), "kitex_server_latency_us"},
	} {
		t.Run(name, func(t *testing.T) {
			before := logs.count(c.metric + " is already registered")
			s := metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithMonitorPrometheusCompat(), c.opt)
			var conflict *metrics.ConflictError
			if err := s.Err(); !errors.As(err, &conflict) || conflict.Metric != c.metric {
				t.Fatalf("Err() = %v, want a *ConflictError for %s", err, c.metric)
			}
			if n := logs.count(c.metric+" is already registered") - before; n != 1 {
				t.Errorf("conflict logged %d times, want once", n)
			}
		})
	}
	// The conflicting Suite still counts, into the registered histogram.
	s := metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithBuckets([]float64{0.1, 1}))
	e := newEnv(t, []server.Option{server.WithSuite(s)}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	h := series(t, family(t, reg, "kitex_server_call_duration_seconds"), map[string]string{"outcome": "success"}).GetHistogram()
	if h.GetSampleCount() != 1 || len(h.GetBucket()) != len(metrics.DefaultBuckets) {
		t.Errorf("duration: %d observations in %d buckets, want 1 in the registered %d", h.GetSampleCount(), len(h.GetBucket()), len(metrics.DefaultBuckets))
	}
}

// status_code is on the calls counter and the duration histogram: OK, the
// business code, or the error type (on a non-gRPC transport).
func TestStatusCodeLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg)))},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg)))})
	ctx := context.Background()
	if _, err := e.client.Echo(ctx, &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	callBizErrorAndTimeout(t, ctx, e)
	e.waitServer(3)
	for _, c := range []struct {
		side, outcome, status string
	}{
		{"client", "success", "OK"}, {"client", "biz_error", "404"}, {"client", "failure", "timeout"},
		{"server", "success", "OK"}, {"server", "biz_error", "404"},
	} {
		want := map[string]string{"outcome": c.outcome, "status_code": c.status}
		if got := counterValue(series(t, family(t, reg, "kitex_"+c.side+"_calls_total"), want)); got < 1 {
			t.Errorf("%s calls %v = %v", c.side, want, got)
		}
		if got := series(t, family(t, reg, "kitex_"+c.side+"_call_duration_seconds"), want).GetHistogram().GetSampleCount(); got < 1 {
			t.Errorf("%s durations %v = %v", c.side, want, got)
		}
	}
}

// callBizErrorAndTimeout makes one call that ends in a business error and
// one that times out on the client (the server still finishes it).
func callBizErrorAndTimeout(t *testing.T, ctx context.Context, e *env) {
	t.Helper()
	if _, err := e.client.Echo(ctx, &echo.EchoRequest{Action: testservice.ActionBizError}); err == nil {
		t.Fatal("want a business error")
	}
	if _, err := e.client.Echo(ctx, &echo.EchoRequest{Action: testservice.ActionSleep, SleepMs: 200},
		callopt.WithRPCTimeout(20*time.Millisecond)); err == nil {
		t.Fatal("want a timeout")
	}
}
