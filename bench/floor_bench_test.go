package bench

import (
	"context"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/server"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/stack"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
)

// sdkSpanTracer is the least a Kitex tracer can do with the OTel SDK: one
// span per call, started in Start and ended in Finish, with a name and a
// kind and nothing else (no attributes, no status, no parent from the wire).
type sdkSpanTracer struct {
	tracer trace.Tracer
	kind   trace.SpanKind
}

type sdkSpanKey struct{}

func (t sdkSpanTracer) Start(ctx context.Context) context.Context {
	ctx, sp := t.tracer.Start(ctx, "echo.EchoService/Echo", trace.WithSpanKind(t.kind))
	return context.WithValue(ctx, sdkSpanKey{}, sp)
}

func (t sdkSpanTracer) Finish(ctx context.Context) {
	if sp, ok := ctx.Value(sdkSpanKey{}).(trace.Span); ok {
		sp.End()
	}
}

// sdkFloorSetup is BenchmarkEcho's bare+propagation_header plus an
// sdkSpanTracer on each side, on the same SDK setup as the sampled cases
// (AlwaysSample, batch processor into a discarding exporter), with the
// stack reserve and stats level the Suites use: what two sampled SDK spans
// per call cost before any instrumentation logic.
func sdkFloorSetup(tb testing.TB) (setup, *sdktrace.TracerProvider, *discardExporter) {
	tp, exp := newProvider(tb, sdktrace.AlwaysSample(), false)
	tr := tp.Tracer("bench/floor")
	return setup{name: "sdk_two_spans", clientMeta: propagationHeader{}, metrics: func(testing.TB) metricsSetup {
		return metricsSetup{
			client: []client.Option{client.WithTracer(sdkSpanTracer{tr, trace.SpanKindClient}), client.WithStatsLevel(stats.LevelBase)},
			server: []server.Option{server.WithTracer(sdkSpanTracer{tr, trace.SpanKindServer}), server.WithStatsLevel(stats.LevelBase),
				server.WithBoundHandler(stack.Inbound{Owner: "bench"})},
		}
	}}, tp, exp
}

// BenchmarkSDKFloor measures bare Kitex and the SDK floor (sdkFloorSetup)
// in one run: the floor under any sampled tracing with the OTel SDK.
func BenchmarkSDKFloor(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		e := newEnv(b, setupNamed("bare"), &testservice.Handler{}, false)
		measureEcho(b, e.client, &echo.EchoRequest{Message: "hello"})
	})
	b.Run("sdk_two_spans", func(b *testing.B) {
		s, tp, exp := sdkFloorSetup(b)
		e := newEnv(b, s, &testservice.Handler{}, false)
		measureEcho(b, e.client, &echo.EchoRequest{Message: "hello"})
		if !b.Failed() {
			checkExported(b, exp, tp, int64(b.N)+1)
		}
	})
}

// TestSDKFloorRecordsTwoSpans checks the floor is what it claims: one call
// exports exactly one CLIENT and one SERVER span.
func TestSDKFloorRecordsTwoSpans(t *testing.T) {
	s, tp, exp := sdkFloorSetup(t)
	finished := testservice.NewFinishSignal(1)
	e := newEnv(t, s, &testservice.Handler{}, false, server.WithTracer(finished))
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{Message: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitFinished(t, finished, 1)
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, c := exp.count.Load(), exp.clients.Load(); n != 2 || c != 1 {
		t.Fatalf("exported %d spans, %d of them CLIENT; want one CLIENT and one SERVER", n, c)
	}
}
