package bench

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	obstracing "github.com/kitex-contrib/obs-opentelemetry/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

func TestMain(m *testing.M) {
	// Kitex logs every server start and stop at Info; keep the output to
	// the benchmark lines.
	klog.SetLevel(klog.LevelWarn)
	os.Exit(m.Run())
}

const serviceName = "echo"

// setup is one way of instrumenting the client and the server.
type setup struct {
	name string
	// sampler is the root sampler of the case's TracerProvider; nil means
	// no TracerProvider and no tracing (bare Kitex, metrics only).
	sampler sdktrace.Sampler
	sampled bool // whether spans are expected at the exporter
	// options returns the client and server options that install the
	// tracing, with spans from tp and context carried by prop. Set exactly
	// when sampler is.
	options func(tp *sdktrace.TracerProvider, prop propagation.TextMapPropagator) ([]client.Option, []server.Option)
	// metrics builds the case's metrics instrumentation, installed after
	// the tracing on both sides; nil means none.
	metrics func(tb testing.TB) metricsSetup
	// clientMeta is a client meta handler installed without any tracing;
	// nil means none.
	clientMeta remote.MetaHandler
}

var setups = []setup{
	{name: "bare"},
	{name: "bare+propagation_header", clientMeta: propagationHeader{}},
	{name: "kitexsuite_sampled", sampler: sdktrace.AlwaysSample(), sampled: true, options: kitexsuiteOptions},
	{name: "kitexsuite_unsampled", sampler: sdktrace.NeverSample(), options: kitexsuiteOptions},
	{name: "obs_opentelemetry", sampler: sdktrace.AlwaysSample(), sampled: true, options: obsOptions},
	{name: "metrics_prometheus", metrics: metricsPrometheus},
	{name: "metrics_otel", metrics: metricsOTel},
	{name: "kitexsuite_tracing_sampled+metrics", sampler: sdktrace.AlwaysSample(), sampled: true, options: kitexsuiteOptions, metrics: metricsPrometheus},
	{name: "monitor_prometheus", metrics: monitorPrometheus},
	{name: "obs_opentelemetry+monitor_prometheus", sampler: sdktrace.AlwaysSample(), sampled: true, options: obsOptions, metrics: monitorPrometheus},
}

func kitexsuiteOptions(tp *sdktrace.TracerProvider, prop propagation.TextMapPropagator) ([]client.Option, []server.Option) {
	opts := []tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagators(prop)}
	return []client.Option{client.WithSuite(tracing.NewClientSuite(opts...))},
		[]server.Option{server.WithSuite(tracing.NewServerSuite(opts...))}
}

// obsOptions installs kitex-contrib/obs-opentelemetry v0.3.0. It has an
// option for the propagator but none for the TracerProvider: its suites take
// the global provider (and the global MeterProvider) when they are built. So
// this sets the global TracerProvider to the case's provider right before
// building them; the kitexsuite cases pass theirs explicitly and never read
// the global. The global MeterProvider is left at OpenTelemetry's default
// no-op, so obs-opentelemetry's duration histograms cost their attribute
// extraction and a no-op Record, not a real metrics pipeline.
func obsOptions(tp *sdktrace.TracerProvider, prop propagation.TextMapPropagator) ([]client.Option, []server.Option) {
	otel.SetTracerProvider(tp)
	return []client.Option{client.WithSuite(obstracing.NewClientSuite(obstracing.WithTextMapPropagator(prop)))},
		[]server.Option{server.WithSuite(obstracing.NewServerSuite(obstracing.WithTextMapPropagator(prop)))}
}

// propagationHeader writes, on every call, the TTHeader header the
// tracing client Suite sends here (a W3C traceparent string header; the
// Suite would add the caller's service name, but these clients have none),
// constant and without any tracing: what carrying trace context costs Kitex
// itself, the floor under any tracing over TTHeader. Kitex decodes it on
// the server, and a string header makes its metainfo handler build a
// context node (four allocations) whatever the key.
type propagationHeader struct{}

func (propagationHeader) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	msg.TransInfo().TransStrInfo()["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	return ctx, nil
}

func (propagationHeader) ReadMeta(ctx context.Context, _ remote.Message) (context.Context, error) {
	return ctx, nil
}

// discardExporter drops the spans it is given, counting them. With keep set
// it also holds on to them, for the tests to inspect.
type discardExporter struct {
	count   atomic.Int64
	clients atomic.Int64 // CLIENT spans among them
	keep    bool
	mu      sync.Mutex
	spans   []sdktrace.ReadOnlySpan
}

func (e *discardExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.count.Add(int64(len(spans)))
	for _, sp := range spans {
		if sp.SpanKind() == trace.SpanKindClient {
			e.clients.Add(1)
		}
	}
	if e.keep {
		e.mu.Lock()
		e.spans = append(e.spans, spans...)
		e.mu.Unlock()
	}
	return nil
}

func (e *discardExporter) Shutdown(context.Context) error { return nil }

func (e *discardExporter) kept() []sdktrace.ReadOnlySpan {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sdktrace.ReadOnlySpan(nil), e.spans...)
}

// env is a running server and a client to it, instrumented as a setup says.
type env struct {
	client echoservice.Client
	tp     *sdktrace.TracerProvider // nil without tracing
	exp    *discardExporter
	// checkMetrics checks the setup's metrics recorded the call; nil
	// without metrics.
	checkMetrics func(tb testing.TB, traceID string)
}

// benchPropagator is the propagator of every traced setup: W3C trace
// context and baggage.
var benchPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// newProvider returns the SDK setup every sampled case shares: a
// TracerProvider with sampler and a batch span processor into a fresh
// discarding exporter (keeping the spans when keep is set), shut down at
// cleanup.
func newProvider(tb testing.TB, sampler sdktrace.Sampler, keep bool) (*sdktrace.TracerProvider, *discardExporter) {
	exp := &discardExporter{keep: keep}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(exp))
	tb.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			tb.Errorf("shutting the TracerProvider down: %v", err)
		}
	})
	return tp, exp
}

// setupNamed returns the setup of setups called name.
func setupNamed(name string) setup {
	for _, s := range setups {
		if s.name == name {
			return s
		}
	}
	panic("bench: no setup " + name)
}

// newEnv starts a Thrift Echo server on loopback and builds a client to it.
// Every client uses TTHeader (the tracing suites would switch it on anyway),
// so all setups run over the same transport. The extra server options go
// before the setup's, so a tracer among them finishes after the setup's
// tracers (Kitex finishes tracers in reverse order). Cleanup stops the
// server and then shuts the TracerProvider (and any MeterProvider) down.
func newEnv(tb testing.TB, s setup, h *testservice.Handler, keepSpans bool, extra ...server.Option) *env {
	tb.Helper()
	e := &env{}
	var copts []client.Option
	sopts := append([]server.Option(nil), extra...)
	if s.sampler != nil {
		e.tp, e.exp = newProvider(tb, s.sampler, keepSpans)
		c, srv := s.options(e.tp, benchPropagator)
		copts, sopts = append(copts, c...), append(sopts, srv...)
	}
	if s.clientMeta != nil {
		copts = append(copts, client.WithMetaHandler(s.clientMeta))
	}
	if s.metrics != nil {
		m := s.metrics(tb)
		copts, sopts = append(copts, m.client...), append(sopts, m.server...)
		e.checkMetrics = m.check
	}

	srv, err := testservice.Start(serviceName, testservice.Thrift, h, sopts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			tb.Errorf("stopping the server: %v", err)
		}
	})

	copts = append([]client.Option{
		client.WithHostPorts(srv.Addr),
		client.WithTransportProtocol(transport.TTHeader),
	}, copts...)
	e.client, err = echoservice.NewClient(serviceName, copts...)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchmarkEcho measures one unary Thrift Echo call over loopback per op,
// from parallel goroutines sharing one client.
func BenchmarkEcho(b *testing.B) {
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			e := newEnv(b, s, &testservice.Handler{}, false)
			measureEcho(b, e.client, &echo.EchoRequest{Message: "hello"})
			if s.sampled && !b.Failed() {
				checkExported(b, e.exp, e.tp, int64(b.N)+1)
			}
		})
	}
}

// measureEcho warms c up with one call of req (dialling the connection and
// every lazy initialisation of Kitex, the SDK and the suites outside the
// timer), then times b.N calls of a copy of req from parallel goroutines
// sharing c, and stops the timer.
func measureEcho(b *testing.B, c echoservice.Client, req *echo.EchoRequest) {
	b.Helper()
	if _, err := c.Echo(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		r := &echo.EchoRequest{Message: req.Message, Hops: req.Hops}
		for pb.Next() {
			if _, err := c.Echo(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
}

// checkExported fails the benchmark unless, once the batch processor is
// flushed, the exporter got exactly want CLIENT spans: a processor that
// dropped spans under the benchmark's load would have skipped their export
// cost. Only client spans are exact here: a client span ends before its
// call returns, a server span after the server replied, so the last calls'
// server spans may still be open when the benchmark stops.
func checkExported(b *testing.B, exp *discardExporter, tp *sdktrace.TracerProvider, want int64) {
	b.Helper()
	if err := tp.ForceFlush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if got := exp.clients.Load(); got != want {
		b.Fatalf("exporter got %d client spans, want %d: the batch processor dropped some", got, want)
	}
}

// TestBenchSetupsWork makes one call through every setup BenchmarkEcho
// measures and checks it is what it claims to be: the call succeeds, the
// trace context reaches the server exactly when the setup traces, spans
// reach the exporter exactly when the setup samples, and the setup's
// metrics recorded the call on both sides.
func TestBenchSetupsWork(t *testing.T) {
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			h := &testservice.Handler{TraceID: func(ctx context.Context) string {
				return trace.SpanContextFromContext(ctx).TraceID().String()
			}}
			// Record the transport the server decoded, to check every setup
			// runs over TTHeader.
			var proto atomic.Value
			seeProto := server.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
				return func(ctx context.Context, req, resp interface{}) error {
					if ri := rpcinfo.GetRPCInfo(ctx); ri != nil {
						proto.Store(ri.Config().TransportProtocol())
					}
					return next(ctx, req, resp)
				}
			})
			// The server finishes its tracers after it has replied; this
			// one, installed first, finishes last and says when the
			// server's instrumentation is done with the call.
			finished := testservice.NewFinishSignal(16)
			e := newEnv(t, s, h, true, server.WithTracer(finished), seeProto)

			ctx := context.Background()
			var root trace.Span
			if e.tp != nil {
				// A local parent gives the client span a trace id the test
				// knows, to find at the server.
				ctx, root = e.tp.Tracer("bench-test").Start(ctx, "root")
			}
			resp, err := e.client.Echo(ctx, &echo.EchoRequest{Message: "hello"})
			if root != nil {
				root.End()
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Message != "hello" {
				t.Fatalf("Echo returned %q, want %q", resp.Message, "hello")
			}
			if p, _ := proto.Load().(transport.Protocol); p&transport.TTHeader == 0 {
				t.Fatalf("server decoded transport %v, want TTHeader", p)
			}
			waitFinished(t, finished, 1)

			var want string // the trace id of the call, empty without tracing
			if root != nil {
				want = root.SpanContext().TraceID().String()
			}
			if e.checkMetrics != nil {
				e.checkMetrics(t, want)
			}
			if e.tp == nil {
				if len(resp.TraceIds) != 1 || resp.TraceIds[0] != (trace.TraceID{}).String() {
					t.Fatalf("untraced server saw trace ids %v, want none", resp.TraceIds)
				}
				return
			}

			if len(resp.TraceIds) != 1 || resp.TraceIds[0] != want {
				t.Fatalf("server saw trace ids %v, want [%s]", resp.TraceIds, want)
			}

			if !s.sampled {
				// Both sides have finished the call: anything they were
				// going to export is in the batcher now.
				if err := e.tp.ForceFlush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if n := e.exp.count.Load(); n != 0 {
					t.Fatalf("exporter got %d spans from an unsampled setup, want 0", n)
				}
				return
			}

			var clientSpan, serverSpan sdktrace.ReadOnlySpan
			deadline := time.Now().Add(5 * time.Second)
			for clientSpan == nil || serverSpan == nil {
				if time.Now().After(deadline) {
					t.Fatalf("exporter got %d spans, want a client and a server span", e.exp.count.Load())
				}
				if err := e.tp.ForceFlush(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, sp := range e.exp.kept() {
					switch sp.SpanKind() {
					case trace.SpanKindClient:
						clientSpan = sp
					case trace.SpanKindServer:
						serverSpan = sp
					}
				}
				if clientSpan == nil || serverSpan == nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if n := e.exp.count.Load(); n <= 0 {
				t.Fatalf("exporter count is %d, want > 0", n)
			}
			if got := clientSpan.Parent().SpanID(); got != root.SpanContext().SpanID() {
				t.Errorf("client span parent is %s, want the root span %s", got, root.SpanContext().SpanID())
			}
			if p := serverSpan.Parent(); !p.IsRemote() || p.SpanID() != clientSpan.SpanContext().SpanID() || p.TraceID().String() != want {
				t.Errorf("server span parent is %s/%s (remote %v), want the client span %s/%s",
					p.TraceID(), p.SpanID(), p.IsRemote(), want, clientSpan.SpanContext().SpanID())
			}
		})
	}
}
