package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/loadbalance"
	"github.com/cloudwego/kitex/pkg/loadbalance/lbcache"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/cloudwego/kitex/pkg/utils"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/registry/etcd"
)

// kitexDefaultRefresh is how often Kitex's balancer cache resolves when the
// client sets no interval (lbcache's unexported defaultRefreshInterval).
const kitexDefaultRefresh = 5 * time.Second

// BenchmarkEtcdPropagation measures how long a registration change takes
// to reach a Kitex client's balancer: from Register returning, or
// Deregister being called, until Kitex's balancer cache hands the change to
// the balancer. Ours is an etcd watch plus discoverycore.WithFastRefresh
// (100 ms); registry-etcd v0.2.4 re-reads etcd on Kitex's default 5 s
// refresh. Both run in one `go test -bench` on the same machine.
//
// The metrics are p50-ms and p99-ms. ns/op is an iteration's wall time,
// which also holds a random wait and the unmeasured half of the iteration.
// registry-etcd's iterations take about 5 s: run with -benchtime=20x.
func BenchmarkEtcdPropagation(b *testing.B) {
	for _, side := range []struct {
		name  string
		setup func(b *testing.B, e *harness.Etcd, service string, lb *balancerSpy) propagationSide
	}{
		{"kitexsuite", ourPropagationSide},
		{"registry-etcd-v0.2.4", contribPropagationSide},
	} {
		b.Run(side.name, func(b *testing.B) {
			f := newPropagationFixture(b, side.setup)
			b.Run("register", func(b *testing.B) { f.run(b, true) })
			b.Run("deregister", func(b *testing.B) { f.run(b, false) })
		})
	}
}

// propagationSide is one registry implementation under measurement.
type propagationSide struct {
	refresh  time.Duration // how often the client's balancer cache resolves
	resolver discovery.Resolver
	client   echoservice.Client
	register func(*registry.Info) (deregister func() error, err error)
}

// ourPropagationSide registers with our registry and resolves with our
// resolver and the fast refresh, as our documentation tells users to.
func ourPropagationSide(b *testing.B, e *harness.Etcd, service string, lb *balancerSpy) propagationSide {
	cli := e.Client(b)
	reg := etcd.NewRegistry(cli, etcd.WithDrainDelay(0))
	r := etcd.NewResolver(cli)
	b.Cleanup(func() { _ = r.Close() })
	c, err := echoservice.NewClient(service, client.WithResolver(r),
		discoverycore.WithFastRefresh(lb, 0), client.WithRPCTimeout(3*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return propagationSide{refresh: discoverycore.DefaultRefreshInterval, resolver: r, client: c,
		register: func(info *registry.Info) (func() error, error) {
			if err := reg.Register(info); err != nil {
				return nil, err
			}
			return func() error { return reg.Deregister(info) }, nil
		}}
}

// contribPropagationSide registers and resolves with registry-etcd v0.2.4
// and Kitex's default balancer cache intervals, as its users do.
func contribPropagationSide(b *testing.B, e *harness.Etcd, service string, lb *balancerSpy) propagationSide {
	r := newContribResolver(b, e.Endpoints())
	c, err := echoservice.NewClient(service, client.WithResolver(r),
		client.WithLoadBalancer(lb, &lbcache.Options{Cacheable: true}), // default intervals
		client.WithRPCTimeout(3*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	return propagationSide{refresh: kitexDefaultRefresh, resolver: r, client: c,
		register: func(info *registry.Info) (func() error, error) {
			reg, cli := newContribRegistry(b, e.Endpoints()) // one per registration
			if err := reg.Register(info); err != nil {
				_ = cli.Close()
				return nil, err
			}
			return func() error {
				defer cli.Close()
				return reg.Deregister(info)
			}, nil
		}}
}

// propagationFixture is a client of three real Echo servers on loopback:
// an anchor registered throughout, so the service is never empty, and a
// standing and a spare server whose registrations each iteration swaps.
// Only the balancer's view is measured, but real servers let every
// iteration start with a call that must succeed: it keeps the balancer in
// use, as a serving client's calls do (Kitex drops a balancer nobody picked
// from for 15 to 30 s, which registry-etcd's iterations would exceed).
type propagationFixture struct {
	side            propagationSide
	lb              *balancerSpy
	standing, spare *registry.Info
	live            map[*registry.Info]func() error // deregister functions
}

// newPropagationFixture is a propagationFixture on a fresh etcd.
func newPropagationFixture(b *testing.B, setup func(*testing.B, *harness.Etcd, string, *balancerSpy) propagationSide) *propagationFixture {
	e := harness.StartEtcd(b)
	return startPropagationFixture(b, func(service string, lb *balancerSpy) propagationSide { return setup(b, e, service, lb) })
}

// startPropagationFixture starts the three servers, sets up the side
// (registry, resolver and client of a store the caller started first, so
// that the store stops last) and registers the anchor and the standing
// server.
func startPropagationFixture(b *testing.B, setup func(service string, lb *balancerSpy) propagationSide) *propagationFixture {
	const service = "propagation"
	var infos [3]*registry.Info
	for i := range infos {
		s, err := testservice.Start(service, testservice.Thrift, &testservice.Handler{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Stop() })
		infos[i] = &registry.Info{ServiceName: service, Addr: utils.NewNetAddr("tcp", s.Addr), Weight: discovery.DefaultWeight}
	}
	lb := newBalancerSpy()
	f := &propagationFixture{side: setup(service, lb), lb: lb, standing: infos[1], spare: infos[2], live: map[*registry.Info]func() error{}}
	b.Cleanup(func() { // first of the cleanups: a registration needs its client
		for _, deregister := range f.live {
			_ = deregister()
		}
	})
	f.register(b, infos[0])
	// A registration may take a while to become visible (with Consul, the
	// agent syncs it to the catalog, and an agent-run check passes only
	// after its first run); the first call needs the anchor resolved.
	awaitResolved(b, f.side.resolver, service, "the anchor", hasExactly(infos[0].Addr.String()))
	// The first call creates the balancer, holding the anchor; from then on
	// the balancer learns of changes only through Rebalance.
	if err := echoOnce(f.side.client); err != nil {
		b.Fatal(err)
	}
	f.register(b, f.standing)
	f.lb.await(b, f.standing, true, f.timeout())
	return f
}

// run measures the propagation of registrations (or deregistrations): each
// iteration deregisters the standing server and registers the spare one,
// measuring one of the two, then waits for the balancer to see both.
func (f *propagationFixture) run(b *testing.B, measureRegister bool) {
	var lat []time.Duration
	for b.Loop() {
		if err := echoOnce(f.side.client); err != nil {
			b.Fatal(err)
		}
		in, out := f.spare, f.standing
		var start time.Time
		if measureRegister {
			f.deregister(b, out)
			f.randomPhase()
			f.register(b, in)
			start = time.Now()
			lat = append(lat, f.lb.await(b, in, true, f.timeout()).Sub(start))
		} else {
			f.register(b, in)
			f.randomPhase()
			start = time.Now()
			f.deregister(b, out)
			lat = append(lat, f.lb.await(b, out, false, f.timeout()).Sub(start))
		}
		// The next iteration reuses both addresses the other way round.
		f.lb.await(b, in, true, f.timeout())
		f.lb.await(b, out, false, f.timeout())
		f.standing, f.spare = in, out
	}
	reportPercentiles(b, lat)
}

// randomPhase waits a random fraction of the refresh interval. An
// iteration starts just after the balancer cache refreshed (it saw the
// previous change), so without this every measured change would wait a
// whole interval; with it, changes land at a uniformly random point of the
// refresh cycle, as real ones do. It is sampling, not synchronisation.
func (f *propagationFixture) randomPhase() {
	time.Sleep(rand.N(f.side.refresh))
}

// timeout bounds a wait for the balancer: two refreshes and ample slack.
func (f *propagationFixture) timeout() time.Duration { return 2*f.side.refresh + 10*time.Second }

func (f *propagationFixture) register(b *testing.B, info *registry.Info) {
	deregister, err := f.side.register(info)
	if err != nil {
		b.Fatal(err)
	}
	f.live[info] = deregister
}

func (f *propagationFixture) deregister(b *testing.B, info *registry.Info) {
	deregister := f.live[info]
	delete(f.live, info)
	if err := deregister(); err != nil {
		b.Fatal(err)
	}
}

// reportPercentiles reports the nearest-rank p50 and p99 of lat.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	rank := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(lat))))-1, 0)
		return float64(lat[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(rank(0.50), "p50-ms")
	b.ReportMetric(rank(0.99), "p99-ms")
}

// balancerSpy is a client's load balancer: Kitex's weighted round robin,
// to which the balancer cache hands every change a refresh finds
// (loadbalance.Rebalancer), wrapped to note when each address came or went.
type balancerSpy struct {
	loadbalance.Loadbalancer
	name    string
	changed chan struct{} // capacity 1: something changed since await looked

	mu      sync.Mutex
	seen    map[string]sighting // by address, the latest change
	dropped bool                // the cache dropped the balancer as unused
}

// sighting is when the balancer was told an address came or went.
type sighting struct {
	present bool
	at      time.Time
}

var balancerSpies atomic.Int64

func newBalancerSpy() *balancerSpy {
	return &balancerSpy{
		Loadbalancer: loadbalance.NewWeightedBalancer(),
		// Kitex shares a balancer cache among clients whose resolver and
		// balancer names match; a unique name keeps this client's apart.
		name:    fmt.Sprintf("spied-%d", balancerSpies.Add(1)),
		changed: make(chan struct{}, 1),
		seen:    map[string]sighting{},
	}
}

// Name implements loadbalance.Loadbalancer.
func (s *balancerSpy) Name() string { return s.name }

// Rebalance implements loadbalance.Rebalancer: the balancer cache found a
// change on a refresh. It is noted once the balancer has it.
func (s *balancerSpy) Rebalance(ch discovery.Change) {
	s.Loadbalancer.(loadbalance.Rebalancer).Rebalance(ch)
	now := time.Now()
	s.mu.Lock()
	for _, ins := range ch.Added {
		s.seen[ins.Address().String()] = sighting{present: true, at: now}
	}
	for _, ins := range ch.Removed {
		s.seen[ins.Address().String()] = sighting{present: false, at: now}
	}
	s.mu.Unlock()
	s.notify()
}

// Delete implements loadbalance.Rebalancer: the cache dropped the balancer.
func (s *balancerSpy) Delete(ch discovery.Change) {
	s.Loadbalancer.(loadbalance.Rebalancer).Delete(ch)
	s.mu.Lock()
	s.dropped = true
	s.mu.Unlock()
	s.notify()
}

func (s *balancerSpy) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// await waits until the balancer was told that info's address is present
// (or gone) and returns when it was told.
func (s *balancerSpy) await(tb testing.TB, info *registry.Info, present bool, within time.Duration) time.Time {
	tb.Helper()
	return s.awaitAddr(tb, info.Addr.String(), present, within)
}

// awaitAddr is await for an address.
func (s *balancerSpy) awaitAddr(tb testing.TB, addr string, present bool, within time.Duration) time.Time {
	tb.Helper()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		got, dropped := s.seen[addr], s.dropped
		s.mu.Unlock()
		if dropped {
			tb.Fatal("Kitex dropped the client's balancer as unused")
		}
		if got.present == present && !got.at.IsZero() {
			return got.at
		}
		select {
		case <-s.changed:
		case <-timeout.C:
			tb.Fatalf("the balancer was not told %s is present=%v within %v", addr, present, within)
		}
	}
}

// BenchmarkEtcdResolve measures our Resolve of a warm target with 100
// instances: what Kitex's balancer cache calls on every refresh.
func BenchmarkEtcdResolve(b *testing.B) {
	cli := harness.StartEtcd(b).Client(b)
	putInstances(b, cli, "warm", 0, 100)
	r := etcd.NewResolver(cli)
	b.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	if res, err := r.Resolve(ctx, "warm"); err != nil || len(res.Instances) != 100 {
		b.Fatalf("warm-up resolved %d instances (%v), want 100", len(res.Instances), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "warm"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEtcdMemory10kInstances reports the heap a resolver holds for a
// service of 10 000 instances: the growth of the live heap across a fresh
// resolver's first Resolve, each side measured after garbage collection.
// ns/op is that first Resolve: starting the watch, listing 10 000 keys and
// decoding them.
func BenchmarkEtcdMemory10kInstances(b *testing.B) {
	const n = 10000
	e := harness.StartEtcd(b)
	putInstances(b, e.Client(b), "big", 0, n)
	var held, resolvers int64
	for b.Loop() {
		b.StopTimer()
		// A fresh client per resolver, connected before the baseline: the
		// previous resolver's watch stream is torn down with its client,
		// not at some later point inside the next measurement.
		cli := e.Client(b)
		if _, err := cli.Get(context.Background(), "connect"); err != nil {
			b.Fatal(err)
		}
		held += heapHeldByFirstResolve(b, func() *discoverycore.Resolver { return etcd.NewResolver(cli) }, "big", n)
		resolvers++
		_ = cli.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(held)/float64(resolvers), "B/10k-instances")
}

// heapHeldByFirstResolve times (the benchmark timer is stopped on entry
// and on return) a new resolver's first Resolve of target, which must list
// n instances, and returns how much the live heap grew across it, each side
// measured after garbage collection. It closes the resolver afterwards.
func heapHeldByFirstResolve(b *testing.B, newResolver func() *discoverycore.Resolver, target string, n int) int64 {
	b.Helper()
	var before, after runtime.MemStats
	settleHeap()
	runtime.ReadMemStats(&before)
	b.StartTimer()
	r := newResolver()
	res, err := r.Resolve(context.Background(), target)
	b.StopTimer()
	if err != nil || len(res.Instances) != n {
		b.Fatalf("first Resolve: %d instances (%v), want %d", len(res.Instances), err, n)
	}
	settleHeap()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(res)
	_ = r.Close()
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// settleHeap collects garbage twice: buffers that gRPC and etcd return to
// sync.Pools survive the first collection in the pools' victim caches.
func settleHeap() {
	runtime.GC()
	runtime.GC()
}
