package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/cloudwego/kitex/server"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
)

// countedServer is a real Echo server that counts the calls it handled.
type countedServer struct {
	*testservice.Server
	calls atomic.Int64
}

// startRegistered runs an Echo server for service on a loopback port that
// registers itself through reg (Kitex registers one second after Run).
func startRegistered(t *testing.T, service string, reg registry.Registry, opts ...server.Option) *countedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRegisteredOn(t, ln, service, reg, opts...)
}

// startRegisteredOn is startRegistered on a listener of the test's choice
// (a test host's address, for Kubernetes).
func startRegisteredOn(t *testing.T, ln net.Listener, service string, reg registry.Registry, opts ...server.Option) *countedServer {
	t.Helper()
	cs := &countedServer{}
	count := func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			cs.calls.Add(1)
			return next(ctx, req, resp)
		}
	}
	opts = append([]server.Option{server.WithMiddleware(count)}, opts...)
	if reg != nil {
		opts = append(opts, server.WithRegistry(reg))
	}
	s, err := testservice.StartOn(ln, service, testservice.Thrift, &testservice.Handler{}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	cs.Server = s
	return cs
}

// resolvedClient is an Echo client finding service through r, with the
// fast balancer refresh.
func resolvedClient(t *testing.T, service string, r discovery.Resolver, opts ...client.Option) echoservice.Client {
	t.Helper()
	opts = append([]client.Option{
		client.WithResolver(r),
		discoverycore.WithFastRefresh(nil, 0),
		client.WithRPCTimeout(3 * time.Second),
		// Kitex's default is 50 ms; a first dial to a fresh test-host
		// address can wait on neighbour discovery on a loaded machine.
		client.WithConnectTimeout(time.Second),
	}, opts...)
	c, err := echoservice.NewClient(service, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func echoOnce(c echoservice.Client) error {
	_, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "hi"})
	return err
}

// addrs lists a result's addresses, sorted.
func addrs(res discovery.Result) []string {
	out := make([]string, len(res.Instances))
	for i, ins := range res.Instances {
		out[i] = ins.Address().String()
	}
	sort.Strings(out)
	return out
}

// awaitResolved polls r until its view of target satisfies ok. Discovery
// gives the test no event to wait on, so it polls with a deadline.
func awaitResolved(t testing.TB, r discovery.Resolver, target string, what string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []string
	for time.Now().Before(deadline) {
		res, err := r.Resolve(context.Background(), target)
		if err == nil {
			if last = addrs(res); ok(last) {
				return last
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("resolver never saw %s; last view of %q: %v", what, target, last)
	return nil
}

// hasExactly is an awaitResolved predicate.
func hasExactly(want ...string) func([]string) bool {
	sort.Strings(want)
	return func(got []string) bool { return slices.Equal(got, want) }
}

// load calls c from n goroutines until stopped, counting calls and
// failures (the first few failures are kept for the report).
type load struct {
	calls, failures atomic.Int64
	stop            chan struct{}
	wg              sync.WaitGroup
	mu              sync.Mutex
	errs            []error
}

func startLoad(c echoservice.Client, n int) *load {
	l := &load{stop: make(chan struct{})}
	for range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				err := echoOnce(c)
				l.calls.Add(1)
				if err != nil {
					l.failures.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err)
					}
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

// waitCalls blocks until the load has made at least n more calls, proving
// it is running.
func (l *load) waitCalls(t *testing.T, n int64) {
	t.Helper()
	target := l.calls.Load() + n
	deadline := time.Now().Add(10 * time.Second)
	for l.calls.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("load stalled at %d calls", l.calls.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// finish stops the load and fails the test if any call failed.
func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("load: %d calls, %d failed", l.calls.Load(), l.failures.Load())
	if l.failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed, first errors: %v", l.failures.Load(), l.calls.Load(), fmt.Sprint(l.errs))
	}
}

// rollingRestart replaces three servers of "echo" registered through reg
// one by one while a client resolving through r calls them: with drain on,
// no call may fail.
func rollingRestart(t *testing.T, reg registry.Registry, r discovery.Resolver) {
	t.Helper()
	servers := []*countedServer{startRegistered(t, "echo", reg), startRegistered(t, "echo", reg), startRegistered(t, "echo", reg)}
	view := func() []string {
		out := make([]string, len(servers))
		for i, s := range servers {
			out[i] = s.Addr
		}
		return out
	}
	awaitResolved(t, r, "echo", "three servers", hasExactly(view()...))
	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 100)
	for i, old := range servers {
		servers[i] = startRegistered(t, "echo", reg)
		awaitResolved(t, r, "echo", "the replacement", hasExactly(append(view(), old.Addr)...))
		if err := old.Stop(); err != nil { // Deregister, drain, close
			t.Fatal(err)
		}
		l.waitCalls(t, 100)
	}
	l.finish(t)
	for _, s := range servers {
		if s.calls.Load() == 0 {
			t.Errorf("replacement %s got no calls", s.Addr)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// callAll makes n calls through c, which must all succeed and reach every
// one of servers (the balancer spreads them).
func callAll(t *testing.T, c echoservice.Client, n int, servers ...*countedServer) {
	t.Helper()
	before := make([]int64, len(servers))
	for i, s := range servers {
		before[i] = s.calls.Load()
	}
	for range n {
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range servers {
		if s.calls.Load() == before[i] {
			t.Fatalf("%d calls never reached %s", n, s.Addr)
		}
	}
}
