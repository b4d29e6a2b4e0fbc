package bench

import (
	"context"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
)

// chainSetups are the BenchmarkChain cases: bare Kitex and our tracing
// Suites, sampled and not.
var chainSetups = []setup{setupNamed("bare"), setupNamed("kitexsuite_sampled"), setupNamed("kitexsuite_unsampled")}

// chainEnv is a client calling a front server whose handler calls a back
// server: the middle hop is where a handler makes client calls.
type chainEnv struct {
	client echoservice.Client
	tp     *sdktrace.TracerProvider
	exp    *discardExporter
}

// newChainEnv starts the back and front servers, each with its own Suites
// as separate processes would have (after extra), and a client to the
// front.
func newChainEnv(tb testing.TB, s setup, extra ...server.Option) *chainEnv {
	tb.Helper()
	e := &chainEnv{}
	if s.sampler != nil {
		e.tp, e.exp = newProvider(tb, s.sampler, false)
	}
	// instrument returns a fresh set of the setup's client and server
	// options (new Suites each time), none without tracing.
	instrument := func() ([]client.Option, []server.Option) {
		if s.sampler == nil {
			return nil, nil
		}
		return s.options(e.tp, benchPropagator)
	}
	serverOpts := func() []server.Option {
		_, srv := instrument()
		return append(append([]server.Option(nil), extra...), srv...)
	}
	clientOpts := func(addr string) []client.Option {
		c, _ := instrument()
		return append([]client.Option{client.WithHostPorts(addr), client.WithTransportProtocol(transport.TTHeader)}, c...)
	}
	start := func(name string, h *testservice.Handler) string {
		srv, err := testservice.Start(name, testservice.Thrift, h, serverOpts()...)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = srv.Stop() })
		return srv.Addr
	}
	back := start("back", &testservice.Handler{})
	next, err := testservice.NewForward(testservice.Thrift, "back", "", clientOpts(back)...)
	if err != nil {
		tb.Fatal(err)
	}
	front := start("front", &testservice.Handler{Next: next})
	if e.client, err = echoservice.NewClient("front", clientOpts(front)...); err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchmarkChain measures one call through a two-hop chain per op (client →
// front → back, Thrift over TTHeader), from parallel goroutines: the front
// server's handler makes a client call, so its request goroutines go
// deeper than a leaf server's (see internal/stack).
func BenchmarkChain(b *testing.B) {
	for _, s := range chainSetups {
		b.Run(s.name, func(b *testing.B) {
			e := newChainEnv(b, s)
			measureEcho(b, e.client, &echo.EchoRequest{Message: "hello", Hops: 1})
			if s.sampled && !b.Failed() {
				// Two client spans per call: the caller's and the front's.
				checkExported(b, e.exp, e.tp, 2*(int64(b.N)+1))
			}
		})
	}
}

// TestChainBenchWorks makes one call through each BenchmarkChain setup: it
// reaches the back server, and a sampled chain exports its four spans.
func TestChainBenchWorks(t *testing.T) {
	for _, s := range chainSetups {
		t.Run(s.name, func(t *testing.T) {
			// Installed before the Suites, it finishes after them on each
			// server: both servers are done with the call once it fired twice.
			finished := testservice.NewFinishSignal(4)
			e := newChainEnv(t, s, server.WithTracer(finished))
			resp, err := e.client.Echo(context.Background(), &echo.EchoRequest{Message: "hello", Hops: 1})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Message != "hello" {
				t.Fatalf("Echo returned %q, want hello", resp.Message)
			}
			waitFinished(t, finished, 2)
			if !s.sampled {
				return
			}
			if err := e.tp.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := e.exp.count.Load(); n != 4 {
				t.Fatalf("exporter got %d spans, want 4 (a client and a server span per hop)", n)
			}
		})
	}
}
