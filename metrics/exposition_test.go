package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/metrics"
)

// scrape fetches h like a Prometheus server asking for accept.
func scrape(t *testing.T, h http.Handler, accept string) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// fullRegistry is a registry with the series the Suites produce for unary
// calls on both sides, with sizes, after two successes and a business error.
func fullRegistry(t *testing.T, extra ...metrics.Option) (*prometheus.Registry, *sdktrace.TracerProvider, context.Context, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := append([]metrics.Option{metrics.WithRegisterer(reg), metrics.WithSizeHistograms()}, extra...)
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(opts...))},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(opts...))})
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	for _, action := range []string{"", "", testservice.ActionBizError} {
		_, _ = e.client.Echo(ctx, &echo.EchoRequest{Message: "hi", Action: action})
	}
	e.waitServer(3)
	return reg, tp, ctx, func() { span.End(); _ = tp.Shutdown(context.Background()) }
}

// promtool (from Debian's prometheus package, which make test installs)
// lints the exposition: names, units, help, counters ending in _total.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: `make test` installs it (apt-get install prometheus)")
	}
	reg, _, _, done := fullRegistry(t)
	defer done()
	text := scrape(t, metrics.Handler(reg), "text/plain; version=0.0.4")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, text)
	}
}

// The duration of a call made under a sampled span carries the trace as an
// exemplar, which the Handler serves in the OpenMetrics format.
func TestPrometheusExemplarInOpenMetrics(t *testing.T) {
	reg, _, ctx, done := fullRegistry(t)
	defer done()
	text := scrape(t, metrics.Handler(reg), "application/openmetrics-text; version=1.0.0")
	tid := traceIDOf(ctx)
	found := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "kitex_client_call_duration_seconds_bucket{") && strings.Contains(line, " # {") &&
			strings.Contains(line, `trace_id="`+tid+`"`) && strings.Contains(line, `span_id="`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no exemplar with trace_id %s in the OpenMetrics exposition:\n%s", tid, text)
	}
	// It also parses as the text format Prometheus scrapes by default.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(scrape(t, metrics.Handler(reg), "text/plain; version=0.0.4"))); err != nil {
		t.Fatalf("text exposition does not parse: %v", err)
	}
}

// WithMonitorPrometheusCompat emits monitor-prometheus v0.2.0's series,
// with its names (which predate the naming conventions promtool checks).
func TestMonitorPrometheusCompat(t *testing.T) {
	reg, _, _, done := fullRegistry(t, metrics.WithMonitorPrometheusCompat())
	defer done()
	for _, name := range []string{"kitex_server_throughput", "kitex_client_throughput"} {
		m := series(t, family(t, reg, name), map[string]string{"method": "Echo", "status": "succeed", "retry": "0"})
		if got := counterValue(m); got != 3 { // a business error is not an RPC error to monitor-prometheus
			t.Errorf("%s = %v, want 3", name, got)
		}
		for _, l := range []string{"caller", "callee"} {
			if labelValue(m, l) == "" {
				t.Errorf("%s has an empty %s label", name, l)
			}
		}
	}
	lat := family(t, reg, "kitex_server_latency_us")
	if n := lat.GetMetric()[0].GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("kitex_server_latency_us count = %d, want 3", n)
	}
}

// A series takes at most one exemplar per interval: the second of two quick
// sampled calls leaves the first one's exemplar in place, unless the
// interval is 0.
func TestExemplarInterval(t *testing.T) {
	for _, every := range []time.Duration{metrics.DefaultExemplarInterval, 0} {
		reg := prometheus.NewRegistry()
		e := newEnv(t, nil, []client.Option{client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg), metrics.WithExemplarInterval(every)))})
		tp := sdktrace.NewTracerProvider()
		var traces []string
		for i := 0; i < 2; i++ {
			ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
			if _, err := e.client.Echo(ctx, &echo.EchoRequest{}); err != nil {
				t.Fatal(err)
			}
			span.End()
			traces = append(traces, span.SpanContext().TraceID().String())
		}
		_ = tp.Shutdown(context.Background())
		var newest string
		var newestTS time.Time
		for _, m := range family(t, reg, "kitex_client_call_duration_seconds").GetMetric() {
			for _, b := range m.GetHistogram().GetBucket() {
				if ex := b.GetExemplar(); ex != nil && ex.GetTimestamp().AsTime().After(newestTS) {
					newestTS = ex.GetTimestamp().AsTime()
					for _, lp := range ex.GetLabel() {
						if lp.GetName() == "trace_id" {
							newest = lp.GetValue()
						}
					}
				}
			}
		}
		want := traces[1]
		if every > 0 {
			want = traces[0]
		}
		if newest != want {
			t.Errorf("interval %v: newest exemplar is trace %s, want %s (calls: %v)", every, newest, want, traces)
		}
	}
}
