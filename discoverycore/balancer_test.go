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
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/loadbalance"
	"github.com/cloudwego/kitex/pkg/loadbalance/lbcache"
	"github.com/cloudwego/kitex/pkg/retry"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/rpcinfo/remoteinfo"
	"github.com/cloudwego/kitex/server"

	"github.com/kitexsuite/suite/internal/testservice"
)

// staticResolver is a Kitex discovery.Resolver with a fixed result.
type staticResolver struct {
	name string
	res  discovery.Result
}

func (r staticResolver) Target(_ context.Context, to rpcinfo.EndpointInfo) string {
	return to.ServiceName()
}

func (r staticResolver) Resolve(context.Context, string) (discovery.Result, error) {
	return r.res, nil
}

func (r staticResolver) Diff(key string, prev, next discovery.Result) (discovery.Change, bool) {
	return Diff(key, prev, next)
}

func (r staticResolver) Name() string { return r.name }

var staticResolvers atomic.Int64

// newStaticResolver names each resolver afresh: Kitex caches balancer
// factories, with the resolver they were built with, by resolver name for
// the life of the process, so a rerun (-count) must not reuse a name.
func newStaticResolver(t *testing.T, res discovery.Result) staticResolver {
	return staticResolver{name: fmt.Sprintf("static-%s-%d", t.Name(), staticResolvers.Add(1)), res: res}
}

// refusedAddr is a loopback address nothing listens on any more.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startEcho starts a Thrift echo server that counts the calls it serves.
func startEcho(t *testing.T) (*testservice.Server, *atomic.Int64) {
	t.Helper()
	served := new(atomic.Int64)
	count := func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp interface{}) error {
			served.Add(1)
			return next(ctx, req, resp)
		}
	}
	s, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{}, server.WithMiddleware(count))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s, served
}

func echoClient(t *testing.T, r discovery.Resolver, opts ...client.Option) testservice.Forward {
	t.Helper()
	opts = append([]client.Option{client.WithResolver(r), client.WithRPCTimeout(5 * time.Second)}, opts...)
	fwd, err := testservice.NewForward(testservice.Thrift, "echo", "", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return fwd
}

func staticResult(addrs ...string) discovery.Result {
	return discovery.Result{Cacheable: true, CacheKey: "echo", Instances: instances(addrs...)}
}

func TestAvoidFailedInstanceSkipsDeadServer(t *testing.T) {
	s1, served1 := startEcho(t)
	s2, served2 := startEcho(t)
	r := newStaticResolver(t, staticResult(s1.Addr, refusedAddr(t), s2.Addr))
	echo := echoClient(t, r, WithFastRefresh(nil, 0))

	const workers, perWorker = 3, 100
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if _, err := echo(context.Background(), &testservice.Request{Message: fmt.Sprint(w, i)}); err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("call failed: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed", n, workers*perWorker)
	}
	if served1.Load() == 0 || served2.Load() == 0 || served1.Load()+served2.Load() != workers*perWorker {
		t.Fatalf("served %d and %d calls, want %d between both", served1.Load(), served2.Load(), workers*perWorker)
	}
	// The calls went through the balancer WithFastRefresh(nil, ...) installs.
	want := r.name + "|weight_round_robin+avoid_failed|"
	for key := range lbcache.Dump().(map[string]interface{}) {
		if strings.HasPrefix(key, want) {
			return
		}
	}
	t.Fatalf("no balancer %q in Kitex's cache: %v", want, lbcache.Dump())
}

// consistentKeyOnto returns a key that Kitex's consistent-hash balancer maps
// to the instance at addr among res.
func consistentKeyOnto(t *testing.T, res discovery.Result, addr string) string {
	t.Helper()
	var candidate string
	lb := loadbalance.NewConsistBalancer(loadbalance.NewConsistentHashOption(func(context.Context, interface{}) string { return candidate }))
	for i := range 1000 {
		candidate = fmt.Sprint("key-", i)
		if pickOnce(context.Background(), lb, res).Address().String() == addr {
			return candidate
		}
	}
	t.Fatalf("no key maps to %s", addr)
	return ""
}

// Under consistent hashing every retry of Kitex's resolve loop lands on the
// same instance, so a dead one fails the call after six dials; the wrapper
// turns the second dial to a live instance.
func TestAvoidFailedInstanceConsistentHashLeavesDeadServer(t *testing.T) {
	s, served := startEcho(t)
	dead := refusedAddr(t)
	res := staticResult(s.Addr, dead)
	key := consistentKeyOnto(t, res, dead)
	opt := loadbalance.NewConsistentHashOption(func(context.Context, interface{}) string { return key })
	const calls = 20

	plain := echoClient(t, newStaticResolver(t, res),
		WithFastRefresh(loadbalance.NewConsistBalancer(opt), 0))
	for range calls {
		if _, err := plain(context.Background(), &testservice.Request{Message: "plain"}); !errors.Is(err, kerrors.ErrGetConnection) {
			t.Fatalf("plain consistent hashing onto a dead instance: err %v, want a connection error", err)
		}
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("plain consistent hashing served %d calls", n)
	}

	avoiding := echoClient(t, newStaticResolver(t, res),
		WithFastRefresh(AvoidFailedInstance(loadbalance.NewConsistBalancer(opt)), 0))
	for range calls {
		if _, err := avoiding(context.Background(), &testservice.Request{Message: "avoid"}); err != nil {
			t.Fatalf("AvoidFailedInstance over consistent hashing: %v", err)
		}
	}
	if n := served.Load(); n != calls {
		t.Fatalf("served %d calls, want %d", n, calls)
	}
}

// callCtx is a call's context as Kitex's resolve middleware sees it: before
// the first pick the remote info holds no instance; on a connect retry it
// holds the one that failed.
func callCtx(failed discovery.Instance) context.Context {
	remote := remoteinfo.NewRemoteInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "echo"}, "Echo")
	if failed != nil {
		remote.SetInstance(failed)
	}
	return rpcinfo.NewCtxWithRPCInfo(context.Background(), rpcinfo.NewRPCInfo(nil, remote, nil, nil, nil))
}

// pickOnce picks as Kitex's resolve middleware does: a fresh picker, one
// Next, then the picker recycled.
func pickOnce(ctx context.Context, lb loadbalance.Loadbalancer, res discovery.Result) discovery.Instance {
	picker := lb.GetPicker(res)
	ins := picker.Next(ctx, nil)
	if r, ok := picker.(interface{ Recycle() }); ok {
		r.Recycle()
	}
	return ins
}

// firstBalancer always picks the first instance, and is no Rebalancer.
type firstBalancer struct{}

func (firstBalancer) Name() string { return "first" }

func (firstBalancer) GetPicker(res discovery.Result) loadbalance.Picker {
	return firstPicker(res.Instances)
}

type firstPicker []discovery.Instance

func (p firstPicker) Next(context.Context, interface{}) discovery.Instance {
	if len(p) == 0 {
		return nil
	}
	return p[0]
}

func TestAvoidFailedPickerAvoidsRemoteInstance(t *testing.T) {
	const a, b = "127.0.0.1:1", "127.0.0.1:2"
	both := staticResult(a, b)
	onlyA := discovery.Result{Cacheable: true, CacheKey: "only-a", Instances: instances(a)}
	key := consistentKeyOnto(t, both, a)
	inners := map[string]func() loadbalance.Loadbalancer{
		"weight_round_robin": loadbalance.NewWeightedBalancer,
		"weight_random":      loadbalance.NewWeightedRandomBalancer,
		"consist": func() loadbalance.Loadbalancer {
			return loadbalance.NewConsistBalancer(loadbalance.NewConsistentHashOption(func(context.Context, interface{}) string { return key }))
		},
		"first": func() loadbalance.Loadbalancer { return firstBalancer{} },
	}
	for name, newInner := range inners {
		t.Run(name, func(t *testing.T) {
			lb := AvoidFailedInstance(newInner())
			retry := callCtx(both.Instances[0]) // A failed to connect
			for i := range 1000 {
				if got := pickOnce(retry, lb, both).Address().String(); got != b {
					t.Fatalf("pick %d after A failed: %s, want %s", i, got, b)
				}
			}
			retry = callCtx(onlyA.Instances[0])
			for i := range 10 {
				if got := pickOnce(retry, lb, onlyA).Address().String(); got != a {
					t.Fatalf("pick %d with A alone: %s, want %s", i, got, a)
				}
			}
		})
	}
	// With a zero-weight B there is nothing to fall back to: A stays.
	zeroB := discovery.Result{Cacheable: true, CacheKey: "zero-b", Instances: []discovery.Instance{
		discovery.NewInstance("tcp", a, 10, nil), discovery.NewInstance("tcp", b, 0, nil),
	}}
	if got := pickOnce(callCtx(zeroB.Instances[0]), AvoidFailedInstance(firstBalancer{}), zeroB); got.Address().String() != a {
		t.Fatalf("fell back to zero-weight %s", got.Address())
	}
}

func TestAvoidFailedInstanceNameAndRebalance(t *testing.T) {
	lb := AvoidFailedInstance(nil)
	if got := lb.Name(); got != "weight_round_robin+avoid_failed" {
		t.Fatalf("Name %q", got)
	}
	if AvoidFailedInstance(lb) != lb {
		t.Fatal("wrapping twice")
	}
	if _, ok := AvoidFailedInstance(firstBalancer{}).(loadbalance.Rebalancer); ok {
		t.Fatal("wrapper of a balancer that is no Rebalancer is a Rebalancer")
	}
	rb, ok := lb.(loadbalance.Rebalancer)
	if !ok {
		t.Fatal("wrapper of Kitex's weighted balancer is no Rebalancer")
	}
	first := callCtx(nil)
	v1 := staticResult("127.0.0.1:1")
	if got := pickOnce(first, lb, v1).Address().String(); got != "127.0.0.1:1" {
		t.Fatalf("v1 pick %s", got)
	}
	// Kitex's weighted balancer keeps its picker per cache key until
	// Rebalance or Delete reaches it.
	v2 := staticResult("127.0.0.1:2")
	rb.Rebalance(discovery.Change{Result: v2})
	if got := pickOnce(first, lb, v2).Address().String(); got != "127.0.0.1:2" {
		t.Fatalf("after Rebalance picked %s", got)
	}
	rb.Delete(discovery.Change{Result: discovery.Result{Cacheable: true, CacheKey: v2.CacheKey}})
	if got := pickOnce(first, lb, staticResult("127.0.0.1:3")).Address().String(); got != "127.0.0.1:3" {
		t.Fatalf("after Delete picked %s", got)
	}
}

// startHanging starts a Thrift echo server whose handler never answers
// until the test ends, as a replica that stopped answering on a connection
// the client still holds; it counts the calls it swallowed.
func startHanging(t *testing.T) (*testservice.Server, *atomic.Int64) {
	t.Helper()
	held := new(atomic.Int64)
	release := make(chan struct{})
	hang := func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp interface{}) error {
			held.Add(1)
			<-release
			return next(ctx, req, resp)
		}
	}
	s, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{}, server.WithMiddleware(hang))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s, held
}

// A Kitex failure retry (and a backup request) tags the attempt before it
// and leaves avoiding it to the balancer: under a balancer that always
// picks the same instance, every retry of a call that timed out on a
// hanging instance would time out there again; wrapped, the retry goes to
// the other one.
func TestAvoidFailedInstanceRetrySkipsPreviousInstance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  func() client.Option
	}{
		{"failure_retry", func() client.Option {
			fp := retry.NewFailurePolicy()
			fp.WithMaxRetryTimes(1)
			return client.WithFailureRetry(fp)
		}},
		{"backup_request", func() client.Option {
			bp := retry.NewBackupPolicy(50)
			return client.WithBackupRequest(bp)
		}},
		{"WithUnsentRetryAndBackup", func() client.Option { return WithUnsentRetryAndBackup(50 * time.Millisecond) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hanging, held := startHanging(t)
			live, served := startEcho(t)
			res := staticResult(hanging.Addr, live.Addr) // firstBalancer always picks the hanging one
			// Fewer calls than Kitex's retry circuit breaker samples (10)
			// before it may stop retries: every call here needs one.
			const calls = 5
			call := func(lb loadbalance.Loadbalancer) testservice.Forward {
				return echoClient(t, newStaticResolver(t, res), WithFastRefresh(lb, 0),
					client.WithRPCTimeout(300*time.Millisecond), tc.opt())
			}

			plain := call(firstBalancer{})
			for range calls {
				if _, err := plain(context.Background(), &testservice.Request{Message: "plain"}); err == nil {
					t.Fatal("a call whose every attempt picked the hanging instance succeeded")
				}
			}
			if n := served.Load(); n != 0 {
				t.Fatalf("the live instance served %d calls under a balancer that never picks it", n)
			}

			before := held.Load()
			avoiding := call(AvoidFailedInstance(firstBalancer{}))
			for range calls {
				if _, err := avoiding(context.Background(), &testservice.Request{Message: "avoid"}); err != nil {
					t.Fatalf("with AvoidFailedInstance: %v", err)
				}
			}
			if n := served.Load(); n != calls {
				t.Fatalf("the live instance served %d calls, want %d (each call's retry)", n, calls)
			}
			if n := held.Load() - before; n != calls {
				t.Fatalf("the hanging instance got %d first attempts, want %d", n, calls)
			}
		})
	}
}

// A first pick allocates nothing beyond the inner balancer. Only Kitex's
// weighted balancers are measured: the consistent-hash pickers come from a
// sync.Pool, which drops objects at random under the race detector.
func TestAvoidFailedFirstPickAllocatesNothingMore(t *testing.T) {
	res := staticResult("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	first := callCtx(nil)
	for name, newInner := range map[string]func() loadbalance.Loadbalancer{
		"weight_round_robin": loadbalance.NewWeightedBalancer,
		"weight_random":      loadbalance.NewWeightedRandomBalancer,
	} {
		inner, wrapped := newInner(), AvoidFailedInstance(newInner())
		innerAllocs := testing.AllocsPerRun(1000, func() { pickOnce(first, inner, res) })
		wrappedAllocs := testing.AllocsPerRun(1000, func() { pickOnce(first, wrapped, res) })
		if wrappedAllocs > innerAllocs {
			t.Errorf("%s: first pick allocates %v with the wrapper, %v without", name, wrappedAllocs, innerAllocs)
		}
	}
}

func BenchmarkAvoidFailedPicker(b *testing.B) {
	res := staticResult("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	inner, wrapped := loadbalance.NewWeightedBalancer(), AvoidFailedInstance(nil)
	for _, bc := range []struct {
		name string
		lb   loadbalance.Loadbalancer
		ctx  context.Context
	}{
		{"inner/first", inner, callCtx(nil)},
		{"avoid_failed/first", wrapped, callCtx(nil)},
		{"avoid_failed/retry", wrapped, callCtx(res.Instances[0])},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				pickOnce(bc.ctx, bc.lb, res)
			}
		})
	}
}
