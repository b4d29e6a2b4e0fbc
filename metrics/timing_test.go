package metrics_test

import (
	"context"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/metrics"
)

// With Kitex's stats disabled after the Suites, Kitex times nothing: the
// Suites time the call themselves, and no duration is recorded as 0.
func TestDurationWithStatsDisabled(t *testing.T) {
	reg := prometheus.NewRegistry()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	opts := []metrics.Option{metrics.WithRegisterer(reg), metrics.WithMeterProvider(mp), metrics.WithSemconvOptIn("rpc")}
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(opts...)), server.WithStatsLevel(stats.LevelDisabled)},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(opts...)), client.WithStatsLevel(stats.LevelDisabled)})
	const sleep = 0.03 // seconds the handler takes
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionSleep, SleepMs: 30}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	otel := collect(t, reader)
	for _, side := range []string{"client", "server"} {
		h := series(t, family(t, reg, "kitex_"+side+"_call_duration_seconds"), map[string]string{"outcome": "success"}).GetHistogram()
		if h.GetSampleCount() != 1 || h.GetSampleSum() < sleep {
			t.Errorf("Prometheus %s duration: %d observations summing to %v s, want 1 of at least %v s", side, h.GetSampleCount(), h.GetSampleSum(), sleep)
		}
		pts := histogramPoints(t, otel["rpc."+side+".call.duration"])
		if len(pts) != 1 || pts[0].Count != 1 || pts[0].Sum < sleep {
			t.Errorf("OTel %s duration: %+v, want 1 observation of at least %v s", side, pts, sleep)
		}
	}
}
