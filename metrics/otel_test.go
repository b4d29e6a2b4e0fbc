package metrics_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/metrics"
)

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func histogramPoints(t *testing.T, m metricdata.Metrics) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, not a float64 histogram", m.Name, m.Data)
	}
	return h.DataPoints
}

// The OTel backend: rpc.{side}.call.duration in seconds with the current
// conventions' attributes, and the sampled caller span as an exemplar.
func TestOTelDurationAttributesAndExemplar(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	opts := []metrics.Option{metrics.WithMeterProvider(mp), metrics.WithSemconvOptIn("rpc")}
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(opts...))},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(opts...))})

	tp := sdktrace.NewTracerProvider() // AlwaysSample by default (parent-based)
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("test").Start(context.Background(), "caller")
	for i := 0; i < 3; i++ {
		if _, err := e.client.Echo(ctx, &echo.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	span.End()
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionBizError}); err == nil {
		t.Fatal("want a business error")
	}
	e.waitServer(4)

	got := collect(t, reader)
	for _, side := range []string{"client", "server"} {
		m, ok := got["rpc."+side+".call.duration"]
		if !ok {
			t.Fatalf("no rpc.%s.call.duration; have %v", side, keys(got))
		}
		if m.Unit != "s" {
			t.Errorf("unit %q, want s", m.Unit)
		}
		var success, biz uint64
		for _, dp := range histogramPoints(t, m) {
			if v, _ := dp.Attributes.Value("rpc.method"); v.AsString() != echoMethod {
				t.Errorf("rpc.method = %q", v.AsString())
			}
			if v, _ := dp.Attributes.Value("rpc.system.name"); v.AsString() != "kitex" {
				t.Errorf("rpc.system.name = %q", v.AsString())
			}
			switch v, _ := dp.Attributes.Value("kitex.outcome"); v.AsString() {
			case "success":
				success += dp.Count
				if side == "client" {
					if len(dp.Exemplars) == 0 {
						t.Errorf("client duration has no exemplar for calls made under a sampled span")
					} else if tid := span.SpanContext().TraceID(); string(dp.Exemplars[0].TraceID) != string(tid[:]) {
						t.Errorf("exemplar trace id %x, want %s", dp.Exemplars[0].TraceID, tid)
					}
				}
			case "biz_error":
				biz += dp.Count
			}
		}
		if success != 3 || biz != 1 {
			t.Errorf("%s: %d successes and %d business errors, want 3 and 1", side, success, biz)
		}
	}
	if _, ok := got["rpc.server.duration"]; ok {
		t.Error("rpc.server.duration (obs-opentelemetry's name) emitted without rpc/old or rpc/dup")
	}
}

func keys(m map[string]metricdata.Metrics) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// rpc/dup also emits obs-opentelemetry's rpc.server.duration, in ms.
func TestOTelSemconvDup(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithMeterProvider(mp), metrics.WithSemconvOptIn("rpc/dup")))}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	got := collect(t, reader)
	cur, old := histogramPoints(t, got["rpc.server.call.duration"]), histogramPoints(t, got["rpc.server.duration"])
	if len(cur) != 1 || len(old) != 1 {
		t.Fatalf("want one point each of the current and old durations, got %d and %d", len(cur), len(old))
	}
	if got["rpc.server.duration"].Unit != "ms" {
		t.Errorf("old unit %q, want ms", got["rpc.server.duration"].Unit)
	}
	if ratio := old[0].Sum / cur[0].Sum; ratio < 999 || ratio > 1001 {
		t.Errorf("old sum %v ms vs current %v s: ratio %v, want 1000", old[0].Sum, cur[0].Sum, ratio)
	}
	for k, want := range map[string]string{"rpc.system": "kitex", "rpc.service": "backend", "rpc.method": "Echo", "status.code": "Unset"} {
		if v, _ := old[0].Attributes.Value(attribute.Key(k)); v.AsString() != want {
			t.Errorf("old %s = %q, want %q", k, v.AsString(), want)
		}
	}
}

// In rpc/old, a series' attributes come from its key only: calls to c and d
// past the peer limit are one _OTHER series, never labelled with the first
// one's raw callee.
func TestOTelOldAttributesAreGuarded(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	cs := metrics.NewClientSuite(metrics.WithMeterProvider(mp), metrics.WithSemconvOptIn("rpc/old"), metrics.WithPeerLimit(1))
	e := newEnv(t, nil, nil)
	for _, callee := range []string{"b", "c", "d"} {
		c, err := echoservice.NewClient(callee, client.WithHostPorts(e.svr.Addr), client.WithTransportProtocol(transport.TTHeader),
			client.WithSuite(cs))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]uint64{}
	for _, dp := range histogramPoints(t, collect(t, reader)["rpc.client.duration"]) {
		v, _ := dp.Attributes.Value("rpc.service")
		got[v.AsString()] += dp.Count
		if m, _ := dp.Attributes.Value("rpc.method"); m.AsString() != "Echo" {
			t.Errorf("rpc.method = %q, want Echo", m.AsString())
		}
	}
	if want := map[string]uint64{"b": 1, "_OTHER": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rpc.client.duration by rpc.service = %v, want %v", got, want)
	}
}

// Size histograms have byte boundaries, and their names follow the opt-in:
// v1.43 dropped rpc.{side}.request.size and .response.size, so the current
// conventions get kitex.rpc.* names and only rpc/old and rpc/dup the v1.37
// ones.
func TestOTelSizeHistograms(t *testing.T) {
	current := []string{"kitex.rpc.server.request.size", "kitex.rpc.server.response.size"}
	v137 := []string{"rpc.server.request.size", "rpc.server.response.size"}
	for optIn, want := range map[string][]string{"rpc": current, "rpc/dup": append(current, v137...), "rpc/old": v137} {
		t.Run(optIn, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			defer func() { _ = mp.Shutdown(context.Background()) }()
			e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithMeterProvider(mp),
				metrics.WithSizeHistograms(), metrics.WithSemconvOptIn(optIn)))}, nil)
			if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{Message: "hello"}); err != nil {
				t.Fatal(err)
			}
			e.waitServer(1)
			got := collect(t, reader)
			var sizes []string
			for name := range got {
				if strings.HasSuffix(name, ".size") {
					sizes = append(sizes, name)
				}
			}
			if slices.Sort(sizes); !slices.Equal(sizes, slices.Sorted(slices.Values(want))) {
				t.Errorf("size instruments %v, want %v", sizes, slices.Sorted(slices.Values(want)))
			}
			for _, name := range want {
				h, ok := got[name].Data.(metricdata.Histogram[int64])
				if !ok || len(h.DataPoints) != 1 {
					t.Fatalf("%s: %T with %v, want one int64 histogram point", name, got[name].Data, got[name].Data)
				}
				if b := h.DataPoints[0].Bounds; !slices.Equal(b, metrics.DefaultSizeBuckets) {
					t.Errorf("%s bounds %v, want DefaultSizeBuckets %v", name, b, metrics.DefaultSizeBuckets)
				}
				if got[name].Unit != "By" {
					t.Errorf("%s unit %q, want By", name, got[name].Unit)
				}
			}
		})
	}
}

// rpc.response.status_code is on the OTel durations too, bounded like the
// Prometheus label.
func TestOTelStatusCodeAttribute(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	e := newEnvWith(t, bizCodeHandler, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithMeterProvider(mp),
		metrics.WithSemconvOptIn("rpc"), metrics.WithBizStatusCodeLimit(1)))}, nil)
	for _, req := range []*echo.EchoRequest{{}, {Message: "7", Hops: 1}, {Message: "8", Hops: 1}} {
		_, _ = e.client.Echo(context.Background(), req)
		e.waitServer(1)
	}
	got := map[string]uint64{}
	for _, dp := range histogramPoints(t, collect(t, reader)["rpc.server.call.duration"]) {
		v, _ := dp.Attributes.Value("rpc.response.status_code")
		got[v.AsString()] += dp.Count
	}
	if want := map[string]uint64{"OK": 1, "7": 1, "_OTHER": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rpc.server.call.duration by rpc.response.status_code = %v, want %v", got, want)
	}
}

// Conventions v1.43 as otelgrpc v0.72.0 applies them: the meter carries the
// schema URL; a client's duration carries server.address and server.port of
// the server it called, a server's none; the peer is service.peer.name.
func TestOTelSemconvV143Attributes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	opts := []metrics.Option{metrics.WithMeterProvider(mp), metrics.WithSemconvOptIn("rpc")}
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(opts...))},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(opts...))})
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 || rm.ScopeMetrics[0].Scope.SchemaURL != semconv.SchemaURL {
		t.Fatalf("scopes %+v, want one with schema URL %s", rm.ScopeMetrics, semconv.SchemaURL)
	}
	host, port, err := net.SplitHostPort(e.svr.Addr)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, reader)
	want := map[string]string{
		"rpc.client.call.duration": fmt.Sprintf("server.address=%s,server.port=%s,service.peer.name=backend", host, port),
		"rpc.server.call.duration": "server.address=absent,server.port=absent,service.peer.name=frontend",
	}
	for name, w := range want {
		pts := histogramPoints(t, got[name])
		if len(pts) != 1 {
			t.Fatalf("%s: %d points, want 1", name, len(pts))
		}
		var have []string
		for _, k := range []attribute.Key{"server.address", "server.port", "service.peer.name"} {
			v, ok := pts[0].Attributes.Value(k)
			if !ok {
				have = append(have, string(k)+"=absent")
				continue
			}
			have = append(have, string(k)+"="+v.Emit())
		}
		if g := strings.Join(have, ","); g != w {
			t.Errorf("%s: %s, want %s", name, g, w)
		}
		if _, ok := pts[0].Attributes.Value("kitex.peer.service"); ok {
			t.Errorf("%s still has kitex.peer.service", name)
		}
	}
}
