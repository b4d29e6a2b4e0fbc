package chain

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	etcdreg "github.com/kitexsuite/suite/registry/etcd"
)

// TestGatewayReadiness runs the gateway on a real etcd with no orders
// registered: /readyz is 503 until an orders instance is registered, 200
// while one is, 503 again once none is, and 503 from the moment Stop
// starts the drain, while /healthz (liveness) stays 200 throughout and the
// gateway keeps serving for the drain.
func TestGatewayReadiness(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{startTestEtcd(t)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	resolver := etcdreg.NewResolver(cli)
	t.Cleanup(func() { _ = resolver.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const drain = 700 * time.Millisecond
	gw, err := StartGateway(Options{
		Listener: ln, TracerProvider: tracenoop.NewTracerProvider(), Propagator: propagation.TraceContext{},
		Metrics: prometheus.NewRegistry(), Resolver: resolver, ExitWait: time.Second, Drain: drain,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = gw.Stop()
		}
	})
	httpc := &http.Client{Timeout: 2 * time.Second}
	t.Cleanup(httpc.CloseIdleConnections)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := httpc.Get("http://" + gw.Addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	// await polls /readyz until it answers code with a body containing
	// want, checking /healthz on the way.
	await := func(code int, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, body := get("/readyz")
			if got == code && strings.Contains(body, want) {
				return
			}
			if hc, _ := get("/healthz"); hc != http.StatusOK {
				t.Fatalf("/healthz %d while /readyz is %d %q", hc, got, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still %d %q after 10 s, want %d with %q", got, body, code, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	await(http.StatusServiceUnavailable, `orders (orders): no instance`)

	reg := etcdreg.NewRegistry(cli, etcdreg.WithDrainDelay(0))
	orders := &registry.Info{ServiceName: Orders, Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18888}, Weight: 10}
	if err := reg.Register(orders); err != nil {
		t.Fatal(err)
	}
	await(http.StatusOK, "ok")
	if err := reg.Deregister(orders); err != nil {
		t.Fatal(err)
	}
	await(http.StatusServiceUnavailable, "no instance")
	if err := reg.Register(orders); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Deregister(orders) })
	await(http.StatusOK, "ok")

	// Stop: unready at once, still serving for the drain, then closed.
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- gw.Stop() }()
	stopped = true
	await(http.StatusServiceUnavailable, "draining")
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d during the drain, want 200", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Stop: %v", err)
	}
	if took := time.Since(start); took < drain {
		t.Errorf("Stop returned after %v, before the %v drain", took, drain)
	}
	httpc.CloseIdleConnections()
	if _, err := httpc.Get("http://" + gw.Addr + "/healthz"); err == nil {
		t.Error("the gateway still serves after Stop")
	}
}

func TestGatewayNeedsResolver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := StartGateway(Options{Listener: ln, TracerProvider: tracenoop.NewTracerProvider(), Propagator: propagation.TraceContext{}, Metrics: prometheus.NewRegistry()}); err == nil {
		t.Error("StartGateway without a Resolver: no error")
	}
}
