package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/internal/testservice/leakcheck"
	"github.com/kitexsuite/suite/metrics"
	"github.com/kitexsuite/suite/tracing"
)

func TestMain(m *testing.M) {
	klog.SetLevel(klog.LevelWarn)
	installKitexLogger()
	opts := leakcheck.KitexOptions()
	for _, fn := range harness.EtcdBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	// Goroutines client-go (through the harness's Kubernetes control
	// plane) leaves process-wide; none today, listed in one place.
	for _, fn := range harness.KubeBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

// wait waits until the server has finished (and the Suites recorded) n calls.
func wait(t *testing.T, f testservice.FinishSignal, n int) {
	t.Helper()
	if err := f.Wait(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// chain is a traced and measured server and client over loopback.
type chain struct {
	reg      *prometheus.Registry
	spans    *tracetest.SpanRecorder
	client   echoservice.Client
	finished testservice.FinishSignal
	tp       *sdktrace.TracerProvider
}

func newChain(t *testing.T, sampler sdktrace.Sampler) *chain {
	t.Helper()
	c := &chain{reg: prometheus.NewRegistry(), spans: tracetest.NewSpanRecorder(), finished: testservice.NewFinishSignal(10000)}
	c.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(c.spans))
	t.Cleanup(func() { _ = c.tp.Shutdown(context.Background()) })
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	topts := []tracing.Option{tracing.WithTracerProvider(c.tp), tracing.WithPropagators(prop)}
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{},
		server.WithTracer(c.finished),
		server.WithSuite(tracing.NewServerSuite(topts...)),
		server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(c.reg))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svr.Stop() })
	c.client, err = echoservice.NewClient("backend", client.WithHostPorts(svr.Addr),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "frontend"}),
		client.WithSuite(tracing.NewClientSuite(topts...)),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(c.reg))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) (uint64, []*dto.Metric) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n, mf.GetMetric()
		}
	}
	t.Fatalf("no %s", name)
	return 0, nil
}

// Metrics never depend on trace sampling: with an AlwaysOff sampler, N
// calls are exactly N observations on both sides, and no span is recorded.
func TestMetricsExactWithSamplingOff(t *testing.T) {
	c := newChain(t, sdktrace.NeverSample())
	const n = 200
	for i := 0; i < n; i++ {
		if _, err := c.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, c.finished, n)
	for _, name := range []string{"kitex_client_call_duration_seconds", "kitex_server_call_duration_seconds"} {
		if got, _ := histogramCount(t, c.reg, name); got != n {
			t.Errorf("%s counted %d calls, want exactly %d", name, got, n)
		}
	}
	if got := len(c.spans.Ended()); got != 0 {
		t.Errorf("%d spans recorded with sampling off, want 0", got)
	}
}

// The server's duration exemplar points at the server span the tracing
// Suite made, even though Kitex's server tracer never sees that span in
// its context (it is published through rpcmodel.TraceLink).
func TestServerExemplarIsTheServerSpan(t *testing.T) {
	c := newChain(t, sdktrace.AlwaysSample())
	ctx, root := c.tp.Tracer("test").Start(context.Background(), "root")
	if _, err := c.client.Echo(ctx, &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	root.End()
	wait(t, c.finished, 1)
	var serverSpan sdktrace.ReadOnlySpan
	for _, s := range c.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			serverSpan = s
		}
	}
	if serverSpan == nil {
		t.Fatal("no server span")
	}
	_, ms := histogramCount(t, c.reg, "kitex_server_call_duration_seconds")
	var found []string
	for _, m := range ms {
		for _, b := range m.GetHistogram().GetBucket() {
			if ex := b.GetExemplar(); ex != nil {
				var labels []string
				for _, lp := range ex.GetLabel() {
					labels = append(labels, lp.GetName()+"="+lp.GetValue())
				}
				found = append(found, strings.Join(labels, ","))
			}
		}
	}
	want := "trace_id=" + serverSpan.SpanContext().TraceID().String()
	wantSpan := "span_id=" + serverSpan.SpanContext().SpanID().String()
	if len(found) != 1 || !strings.Contains(found[0], want) || !strings.Contains(found[0], wantSpan) {
		t.Fatalf("server exemplars %v, want one with %s and %s", found, want, wantSpan)
	}
}

// The metrics Suite sets Kitex's stats level to Base; a tracing Suite with
// WithDetailedEvents still gets its detailed events, whichever comes first.
func TestDetailedEventsSurviveTheMetricsSuite(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	finished := testservice.NewFinishSignal(1)
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{}, server.WithTracer(finished),
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(tp), tracing.WithDetailedEvents())),
		server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(prometheus.NewRegistry()))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svr.Stop() }()
	c, err := echoservice.NewClient("backend", client.WithHostPorts(svr.Addr),
		client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(tp), tracing.WithDetailedEvents())),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(prometheus.NewRegistry()))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	wait(t, finished, 1)
	for _, s := range spans.Ended() {
		names := map[string]bool{}
		for _, ev := range s.Events() {
			names[ev.Name] = true
		}
		want := "kitex.handle.finish"
		if s.SpanKind() == trace.SpanKindClient {
			want = "kitex.read.finish"
		}
		if !names[want] {
			t.Errorf("%s span lacks %s: %v", s.SpanKind(), want, s.Events())
		}
	}
}
