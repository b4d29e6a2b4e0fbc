package discoverycore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/leakcheck"
)

// TestMain checks for leaked goroutines, ignoring those a real Kitex client
// and server leave for the life of the process (balancer_test.go runs some).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.KitexOptions()...)
}

// scriptedSource is a Source whose watches do what the test sends them:
// every Watch call registers a session the test drives.
type scriptedSource struct {
	name     string
	sessions chan *session
	calls    atomic.Int32
}

type session struct {
	target string
	sink   Sink
	ctx    context.Context
	end    chan error // the error Watch returns
}

func newScriptedSource() *scriptedSource {
	return &scriptedSource{name: "scripted", sessions: make(chan *session, 16)}
}

func (s *scriptedSource) Name() string { return s.name }

func (s *scriptedSource) Watch(ctx context.Context, target string, sink Sink) error {
	s.calls.Add(1)
	ss := &session{target: target, sink: sink, ctx: ctx, end: make(chan error, 1)}
	s.sessions <- ss
	select {
	case err := <-ss.end:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *scriptedSource) next(t *testing.T) *session {
	t.Helper()
	select {
	case ss := <-s.sessions:
		return ss
	case <-time.After(5 * time.Second):
		t.Fatal("no Watch call")
		return nil
	}
}

func instances(addrs ...string) []discovery.Instance {
	out := make([]discovery.Instance, len(addrs))
	for i, a := range addrs {
		out[i] = NewInstance("tcp", a, 10, nil, time.Time{}, 0)
	}
	return out
}

func addrsOf(res discovery.Result) []string {
	out := make([]string, len(res.Instances))
	for i, ins := range res.Instances {
		out[i] = ins.Address().String()
	}
	return out
}

func TestResolveWaitsForFirstListThenReadsSnapshot(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src)
	defer r.Close()
	got := make(chan discovery.Result)
	go func() {
		res, err := r.Resolve(context.Background(), "svc")
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	ss := src.next(t)
	ss.sink.Set(instances("127.0.0.1:1"))
	res := <-got
	if fmt.Sprint(addrsOf(res)) != "[127.0.0.1:1]" || !res.Cacheable || res.CacheKey != "svc" {
		t.Fatalf("first result %+v", res)
	}
	ss.sink.Set(instances("127.0.0.1:1", "127.0.0.1:2"))
	res, err := r.Resolve(context.Background(), "svc")
	if err != nil || len(res.Instances) != 2 {
		t.Fatalf("second result %v %v", addrsOf(res), err)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("Watch called %d times, want 1", n)
	}
}

// resolveFirst resolves target while answering its first Watch with set, and
// returns that watch session.
func resolveFirst(t *testing.T, r *Resolver, src *scriptedSource, target string, set []discovery.Instance) (*session, discovery.Result) {
	t.Helper()
	type out struct {
		res discovery.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := r.Resolve(context.Background(), target)
		done <- out{res, err}
	}()
	ss := src.next(t)
	ss.sink.Set(set)
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	return ss, o.res
}

func TestEmptyIsDeliveredAsEmpty(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src)
	defer r.Close()
	_, res := resolveFirst(t, r, src, "svc", instances())
	if len(res.Instances) != 0 || !res.Cacheable {
		t.Fatalf("empty backend: %+v", res)
	}
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func TestBrokenWatchKeepsLastKnownGoodAndCountsRestarts(t *testing.T) {
	src := newScriptedSource()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := NewResolver(src, WithSystem("test"), WithMeterProvider(mp), WithRetryBackoff(time.Millisecond, time.Millisecond))
	defer r.Close()
	ss, _ := resolveFirst(t, r, src, "svc", instances("127.0.0.1:1", "127.0.0.1:2"))

	ss.end <- errors.New("connection refused")
	retry := src.next(t) // the resolver restarted the watch after its backoff
	res, err := r.Resolve(context.Background(), "svc")
	if err != nil || len(res.Instances) != 2 {
		t.Fatalf("while broken: %v %v, want the last 2 instances", addrsOf(res), err)
	}
	m := collect(t, reader)
	restarts := m["kitexsuite.discovery.watch.restarts"].(metricdata.Sum[int64]).DataPoints
	want := attribute.NewSet(attribute.String("discovery.system", "test"), attribute.String("discovery.target", "svc"))
	if len(restarts) != 1 || restarts[0].Value != 1 || !restarts[0].Attributes.Equals(&want) {
		t.Fatalf("restarts = %+v", restarts)
	}
	if g := m["kitexsuite.discovery.instances"].(metricdata.Gauge[int64]).DataPoints; len(g) != 1 || g[0].Value != 2 {
		t.Fatalf("instances gauge = %+v", g)
	}
	if g := m["kitexsuite.discovery.sync.age"].(metricdata.Gauge[float64]).DataPoints; len(g) != 1 || g[0].Value < 0 {
		t.Fatalf("sync age = %+v", g)
	}

	retry.sink.Set(instances("127.0.0.1:3"))
	res, _ = r.Resolve(context.Background(), "svc")
	if fmt.Sprint(addrsOf(res)) != "[127.0.0.1:3]" {
		t.Fatalf("after recovery: %v", addrsOf(res))
	}
}

func TestFirstResolveFailsFastWhenTheBackendIsDown(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src, WithRetryBackoff(time.Hour, time.Hour))
	defer r.Close()
	go func() { src.next(t).end <- errors.New("connection refused") }()
	_, err := r.Resolve(context.Background(), "svc")
	var ns *NotSyncedError
	if !errors.As(err, &ns) || ns.Target != "svc" || ns.Err == nil {
		t.Fatalf("err = %v, want a NotSyncedError carrying the watch error", err)
	}
}

func TestResyncRelistsWithoutBackoff(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src, WithRetryBackoff(time.Hour, time.Hour))
	defer r.Close()
	ss, _ := resolveFirst(t, r, src, "svc", instances("127.0.0.1:1"))
	ss.end <- fmt.Errorf("compacted: %w", ErrResync)
	src.next(t).sink.Set(instances("127.0.0.1:2")) // an hour's backoff would time this out
	res, _ := r.Resolve(context.Background(), "svc")
	if fmt.Sprint(addrsOf(res)) != "[127.0.0.1:2]" {
		t.Fatalf("after re-list: %v", addrsOf(res))
	}
}

func TestOneWatchPerTargetSharedByConcurrentClients(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src)
	defer r.Close()
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := r.Resolve(context.Background(), "svc"); err != nil || len(res.Instances) != 1 {
				t.Errorf("resolve: %v %v", addrsOf(res), err)
			}
		}()
	}
	src.next(t).sink.Set(instances("127.0.0.1:1"))
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("Watch called %d times for one target, want 1", n)
	}
}

func TestIdleWatchStopsAndRestartsOnDemand(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src, WithIdleTimeout(20*time.Millisecond))
	defer r.Close()
	ss, _ := resolveFirst(t, r, src, "svc", instances("127.0.0.1:1"))
	select {
	case <-ss.ctx.Done(): // nobody resolved it for the idle timeout
	case <-time.After(5 * time.Second):
		t.Fatal("idle watch still running")
	}
	_, res := resolveFirst(t, r, src, "svc", instances("127.0.0.1:2"))
	if fmt.Sprint(addrsOf(res)) != "[127.0.0.1:2]" {
		t.Fatalf("restarted watch served %v", addrsOf(res))
	}
}

func TestSourceClosedStopsTheWatch(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src, WithRetryBackoff(time.Hour, time.Hour))
	defer r.Close()
	ss, _ := resolveFirst(t, r, src, "svc", instances("127.0.0.1:1"))
	ss.end <- fmt.Errorf("etcd client: %w", ErrSourceClosed)
	<-ss.ctx.Done() // the resolver dropped the watch instead of retrying
	// The next Resolve starts a new watch, which fails the same way.
	go func() { src.next(t).end <- ErrSourceClosed }()
	if _, err := r.Resolve(context.Background(), "svc"); !errors.Is(err, ErrSourceClosed) {
		t.Fatalf("err = %v, want ErrSourceClosed", err)
	}
}

func TestCloseStopsEveryWatch(t *testing.T) {
	src := newScriptedSource()
	r := NewResolver(src)
	a, _ := resolveFirst(t, r, src, "a", instances("127.0.0.1:1"))
	b, _ := resolveFirst(t, r, src, "b", instances("127.0.0.1:2"))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if a.ctx.Err() == nil || b.ctx.Err() == nil {
		t.Fatal("Close left a watch running")
	}
	// Kitex's balancers keep polling: they get the frozen last snapshot.
	if res, err := r.Resolve(context.Background(), "a"); err != nil || fmt.Sprint(addrsOf(res)) != "[127.0.0.1:1]" {
		t.Fatalf("Resolve of a known target after Close: %v %v", addrsOf(res), err)
	}
	if _, err := r.Resolve(context.Background(), "c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Resolve of a new target after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDiff(t *testing.T) {
	tagged := func(addr string, w int, tags map[string]string) discovery.Instance {
		return NewInstance("tcp", addr, w, tags, time.Time{}, 0)
	}
	prev := discovery.Result{Instances: []discovery.Instance{
		tagged("a:1", 10, map[string]string{"zone": "x"}),
		tagged("b:1", 10, nil),
		tagged("c:1", 10, nil),
	}}
	next := discovery.Result{Cacheable: true, Instances: []discovery.Instance{
		tagged("a:1", 10, map[string]string{"zone": "y"}), // tag changed
		tagged("b:1", 20, nil),                            // weight changed
		tagged("d:1", 10, nil),                            // added; c removed
	}}
	ch, changed := Diff("key", prev, next)
	if !changed || len(ch.Added) != 1 || len(ch.Updated) != 2 || len(ch.Removed) != 1 {
		t.Fatalf("changed=%v added=%d updated=%d removed=%d", changed, len(ch.Added), len(ch.Updated), len(ch.Removed))
	}
	if ch.Result.CacheKey != "key" || !ch.Result.Cacheable {
		t.Fatalf("result %+v", ch.Result)
	}
	if _, kitexSees := discovery.DefaultDiff("key", discovery.Result{Instances: prev.Instances[:1]}, discovery.Result{Instances: next.Instances[:1]}); kitexSees {
		t.Fatal("Kitex's DefaultDiff now notices tags; Diff may no longer be needed")
	}
	if _, changed := Diff("key", next, next); changed {
		t.Fatal("identical snapshot reported as changed")
	}
}

func TestBackoffGrowsWithJitterAndResets(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	for i, hi := range []time.Duration{100, 200, 400, 400} {
		d := b.Next()
		if hi *= time.Millisecond; d < hi/2 || d > hi {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, hi/2, hi)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
}

func TestAdvertisedAddr(t *testing.T) {
	got, err := AdvertisedAddr(&net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 8888})
	if err != nil || got != "10.0.0.1:8888" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := AdvertisedAddr(&net.TCPAddr{IP: net.ParseIP("10.0.0.1")}); err == nil {
		t.Fatal("port 0 accepted")
	}
	if _, err := AdvertisedAddr(nil); err == nil {
		t.Fatal("a nil address accepted")
	}
}

// The choice for an unspecified listen host, on the interface lists of
// machines people run: the address other machines reach, not a bridge's,
// a link-local one or a tunnel's, whatever the interface order.
func TestAdvertisedAddrPicksReachableInterface(t *testing.T) {
	v4, v6 := func(s string) net.IP { return net.ParseIP(s).To4() }, net.ParseIP
	lo := ifaceAddr{"lo", true, v4("127.0.0.1")}
	docker := ifaceAddr{"docker0", true, v4("172.17.0.1")}
	for _, tc := range []struct {
		name  string
		addrs []ifaceAddr
		want  string
	}{
		{"docker0 listed first", []ifaceAddr{lo, docker, {"eth0", true, v4("10.1.2.3")}}, "10.1.2.3:8888"},
		{"link-local first", []ifaceAddr{{"eth1", true, v4("169.254.10.1")}, {"eth0", true, v4("10.1.2.3")}}, "10.1.2.3:8888"},
		{"VPN tunnel first", []ifaceAddr{{"wg0", true, v4("10.99.0.2")}, {"tun0", true, v4("10.98.0.2")}, {"ens5", true, v4("192.168.1.20")}}, "192.168.1.20:8888"},
		{"down interface", []ifaceAddr{{"eth0", false, v4("10.1.2.3")}, {"eth1", true, v4("10.4.5.6")}}, "10.4.5.6:8888"},
		{"IPv6 only, with a docker bridge", []ifaceAddr{lo, docker, {"eth0", true, v6("fe80::1")}, {"eth0", true, v6("2001:db8::7")}}, "[2001:db8::7]:8888"},
		{"dual stack prefers IPv4", []ifaceAddr{{"eth0", true, v6("2001:db8::7")}, {"eth0", true, v4("10.1.2.3")}}, "10.1.2.3:8888"},
		{"only a bridge", []ifaceAddr{lo, docker}, "172.17.0.1:8888"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, listen := range []net.Addr{&net.TCPAddr{Port: 8888}, &net.TCPAddr{IP: net.IPv4zero, Port: 8888}} {
				got, err := advertisedAddr(listen, "", "", func() ([]ifaceAddr, error) { return tc.addrs, nil })
				if err != nil || got != tc.want {
					t.Errorf("listening on %s: %q, %v; want %q", listen, got, err, tc.want)
				}
			}
		})
	}
	if _, err := advertisedAddr(&net.TCPAddr{Port: 8888}, "", "", func() ([]ifaceAddr, error) { return []ifaceAddr{lo}, nil }); err == nil ||
		!strings.Contains(err.Error(), EnvIPToRegistry) {
		t.Errorf("only loopback: %v, want an error naming %s", err, EnvIPToRegistry)
	}
}

// KITEX_IP_TO_REGISTRY and KITEX_PORT_TO_REGISTRY replace what the listen
// address says, as in kitex-contrib's registries; malformed values are
// errors that name the variable.
func TestAdvertisedAddrEnvironment(t *testing.T) {
	none := func() ([]ifaceAddr, error) { return nil, errors.New("interfaces not read") }
	listen := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 8888}
	for _, tc := range []struct{ host, port, want, errHas string }{
		{"203.0.113.9", "", "203.0.113.9:8888", ""},
		{"", "30080", "10.0.0.1:30080", ""},
		{"orders.example.com", "443", "orders.example.com:443", ""},
		{"2001:db8::9", "", "[2001:db8::9]:8888", ""},
		{"", "0", "", EnvPortToRegistry},
		{"", "http", "", EnvPortToRegistry},
		{"10.0.0.1:80", "", "", EnvIPToRegistry},
		{"a b", "", "", EnvIPToRegistry},
	} {
		got, err := advertisedAddr(listen, tc.host, tc.port, none)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("host %q port %q: %q, %v; want an error naming %s", tc.host, tc.port, got, err, tc.errHas)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("host %q port %q: %q, %v; want %q", tc.host, tc.port, got, err, tc.want)
		}
	}
	// An unspecified listen host with the host variable set reads no
	// interface.
	if got, err := advertisedAddr(&net.TCPAddr{Port: 8888}, "203.0.113.9", "", none); err != nil || got != "203.0.113.9:8888" {
		t.Errorf("%q %v", got, err)
	}
}

// A resolver rebuilt on the same backend (same Source name) after the
// first was closed serves its own watch: a Kitex client built with it
// reaches the instance the new watch lists, not the closed resolver's
// frozen set, which Kitex's process-wide balancer cache would hand it if
// the two shared a name.
func TestRebuiltResolverIsNotShadowedByClosedOne(t *testing.T) {
	var served [2]atomic.Int64
	var addrs [2]string
	for i := range served {
		h := &testservice.Handler{TraceID: func(context.Context) string { served[i].Add(1); return "" }}
		svr, err := testservice.Start("svc", testservice.Thrift, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svr.Stop() })
		addrs[i] = svr.Addr
	}
	src := newScriptedSource()
	call := func(r *Resolver, set []discovery.Instance) {
		t.Helper()
		answered := make(chan struct{})
		go func() { // answers the resolver's first watch
			defer close(answered)
			select {
			case ss := <-src.sessions:
				ss.sink.Set(set)
			case <-time.After(5 * time.Second):
				t.Error("the resolver never watched")
			}
		}()
		fwd, err := testservice.NewForward(testservice.Thrift, "svc", "", client.WithResolver(r), WithFastRefresh(nil, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fwd(context.Background(), &testservice.Request{}); err != nil {
			t.Fatal(err)
		}
		<-answered
	}
	first := NewResolver(src)
	call(first, instances(addrs[0]))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := NewResolver(src)
	defer second.Close()
	call(second, instances(addrs[1]))
	if a, b := served[0].Load(), served[1].Load(); a != 1 || b != 1 {
		t.Errorf("the first server served %d calls and the second %d, want 1 and 1", a, b)
	}
	if first.Name() == second.Name() {
		t.Errorf("two resolvers named %q", first.Name())
	}
}

// A source that lists and then fails at once (the backend answers the list
// but refuses the watch) is retried with growing delays: a list is
// progress, but only a watch that then held for a backoff ceiling resets
// the backoff. Before, every list reset it, and such a source was
// re-listed every 50-100 ms forever.
func TestListThenFailBacksOff(t *testing.T) {
	const base = time.Millisecond
	src := newScriptedSource()
	r := NewResolver(src, WithRetryBackoff(base, time.Hour))
	defer r.Close()
	ss, _ := resolveFirst(t, r, src, "svc", instances("127.0.0.1:1"))
	const failures = 6
	for i := 0; i < failures; i++ {
		ss.end <- errors.New("permission denied on watch")
		ss = src.next(t)
		ss.sink.Set(instances("127.0.0.1:1"))
	}
	r.mu.RLock()
	w := r.watches["svc"]
	r.mu.RUnlock()
	// After n failures the delay is drawn from [d/2, d], d = base·2^(n-1).
	if got, least := time.Duration(w.retryDelay.Load()), base<<(failures-1)/2; got < least {
		t.Errorf("delay after %d list-then-fail watches %v, want at least %v (growing, not reset by each list)", failures, got, least)
	}
}
