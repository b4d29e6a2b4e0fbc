package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/metrics"
)

// klogCapture collects what klog prints while a test runs.
type klogCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *klogCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// count is how many logged lines contain s.
func (c *klogCapture) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Count(c.buf.String(), s)
}

func captureKlog(t *testing.T) *klogCapture {
	t.Helper()
	c := &klogCapture{}
	klog.SetOutput(c)
	t.Cleanup(func() { klog.SetOutput(os.Stderr) })
	return c
}

// callsTotal sums a side's calls counter over all its series.
func callsTotal(t *testing.T, reg prometheus.Gatherer, side string) float64 {
	t.Helper()
	var n float64
	for _, m := range family(t, reg, "kitex_"+side+"_calls_total").GetMetric() {
		n += counterValue(m)
	}
	return n
}

// One Suite given to server.WithSuite twice, or two Suites on one
// registry, on one server: each call is counted once, and the second
// installation is reported, once, by Err and klog.
func TestServerSuiteInstalledTwice(t *testing.T) {
	for name, second := range map[string]func(first *metrics.ServerSuite, reg prometheus.Registerer) *metrics.ServerSuite{
		"same Suite": func(first *metrics.ServerSuite, _ prometheus.Registerer) *metrics.ServerSuite { return first },
		"same Registerer": func(_ *metrics.ServerSuite, reg prometheus.Registerer) *metrics.ServerSuite {
			return metrics.NewServerSuite(metrics.WithRegisterer(reg))
		},
		"wrapped Registerer": func(_ *metrics.ServerSuite, reg prometheus.Registerer) *metrics.ServerSuite {
			return metrics.NewServerSuite(metrics.WithRegisterer(prometheus.WrapRegistererWith(nil, reg)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			logs := captureKlog(t)
			reg := prometheus.NewRegistry()
			first := metrics.NewServerSuite(metrics.WithRegisterer(reg))
			dup := second(first, reg)
			e := newEnv(t, []server.Option{server.WithSuite(first), server.WithSuite(dup)}, nil)
			for i := 0; i < 3; i++ {
				if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
					t.Fatal(err)
				}
			}
			e.waitServer(3)
			if got := callsTotal(t, reg, "server"); got != 3 {
				t.Errorf("3 calls counted %v times", got)
			}
			if err := dup.Err(); !errors.Is(err, metrics.ErrInstalledTwice) {
				t.Errorf("second installation: Err() = %v, want ErrInstalledTwice", err)
			}
			if dup != first {
				if err := first.Err(); err != nil {
					t.Errorf("first installation: Err() = %v, want nil", err)
				}
			}
			if n := logs.count(metrics.ErrInstalledTwice.Error()); n != 1 {
				t.Errorf("logged %d times, want once:\n%s", n, logs.buf.String())
			}
		})
	}
}

// The same for a client, with the OTel backend: two Suites on one
// MeterProvider on one client count each call once.
func TestClientSuiteInstalledTwice(t *testing.T) {
	logs := captureKlog(t)
	reg := prometheus.NewRegistry()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	prom := metrics.NewClientSuite(metrics.WithRegisterer(reg))
	otelA, otelB := metrics.NewClientSuite(metrics.WithMeterProvider(mp)), metrics.NewClientSuite(metrics.WithMeterProvider(mp))
	e := newEnv(t, nil, []client.Option{client.WithSuite(prom), client.WithSuite(prom), client.WithSuite(otelA), client.WithSuite(otelB)})
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := callsTotal(t, reg, "client"); got != 1 {
		t.Errorf("one call counted %v times by the Prometheus Suite", got)
	}
	var n uint64
	for _, dp := range histogramPoints(t, collect(t, reader)["rpc.client.call.duration"]) {
		n += dp.Count
	}
	if n != 1 {
		t.Errorf("one call recorded %d times by the OTel Suites", n)
	}
	for name, s := range map[string]*metrics.ClientSuite{"Prometheus Suite": prom, "second OTel Suite": otelB} {
		if err := s.Err(); !errors.Is(err, metrics.ErrInstalledTwice) {
			t.Errorf("%s: Err() = %v, want ErrInstalledTwice", name, err)
		}
	}
	if err := otelA.Err(); err != nil {
		t.Errorf("first OTel Suite: Err() = %v, want nil", err)
	}
	if n := logs.count(metrics.ErrInstalledTwice.Error()); n != 2 {
		t.Errorf("two refused installations logged %d times, want 2:\n%s", n, logs.buf.String())
	}
}

// What is not installing twice: one Suite on two clients, and two Suites
// with their own registries on one server. Both record every call, once.
func TestSuiteOnManyInstancesIsNotTwice(t *testing.T) {
	reg, reg2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	cs := metrics.NewClientSuite(metrics.WithRegisterer(reg))
	a, b := metrics.NewServerSuite(metrics.WithRegisterer(reg)), metrics.NewServerSuite(metrics.WithRegisterer(reg2))
	e := newEnv(t, []server.Option{server.WithSuite(a), server.WithSuite(b)}, []client.Option{client.WithSuite(cs)})
	other, err := echoservice.NewClient("backend", client.WithHostPorts(e.svr.Addr), client.WithTransportProtocol(transport.TTHeader),
		client.WithSuite(cs))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []echoservice.Client{e.client, other} {
		if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitServer(2)
	for _, err := range []error{cs.Err(), a.Err(), b.Err()} {
		if err != nil {
			t.Errorf("Err() = %v, want nil", err)
		}
	}
	if got := callsTotal(t, reg, "client"); got != 2 {
		t.Errorf("client calls = %v, want 2", got)
	}
	for _, r := range []*prometheus.Registry{reg, reg2} {
		if got := callsTotal(t, r, "server"); got != 2 {
			t.Errorf("server calls = %v, want 2 in each registry", got)
		}
	}
}

// The metrics Suites alone, with none of Kitex's header handlers and no
// tracing Suite: the server still labels the caller, and the client still
// counts the handler's business error as one, on TTHeader and on gRPC.
func TestLabelsNeedNoOtherSuite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec testservice.Codec
		proto transport.Protocol
	}{{"ttheader", testservice.Thrift, transport.TTHeader}, {"grpc", testservice.Protobuf, transport.GRPC}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			finished := testservice.NewFinishSignal(10)
			svr, err := testservice.Start("backend", tc.codec, &testservice.Handler{}, server.WithTracer(finished),
				server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg))))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = svr.Stop() }()
			call, err := testservice.NewForward(tc.codec, "backend", svr.Addr,
				client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "frontend"}),
				client.WithTransportProtocol(tc.proto),
				client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg))))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call(context.Background(), &testservice.Request{Action: testservice.ActionBizError}); err == nil {
				t.Fatal("want the handler's business error")
			}
			if err := finished.Wait(1, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := counterValue(series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"caller": "frontend", "outcome": "biz_error"})); got != 1 {
				t.Errorf("server calls from caller frontend with a business error = %v, want 1", got)
			}
			if got := counterValue(series(t, family(t, reg, "kitex_client_calls_total"), map[string]string{"callee": "backend", "outcome": "biz_error"})); got != 1 {
				t.Errorf("client calls to backend with a business error = %v, want 1", got)
			}
		})
	}
}
