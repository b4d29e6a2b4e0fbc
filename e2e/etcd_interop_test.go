package e2e

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/loadbalance"
	"github.com/cloudwego/kitex/pkg/registry"
	contrib "github.com/kitex-contrib/registry-etcd"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/registry/etcd"
)

// Migration from kitex-contrib registry-etcd v0.2.4, both ways, against a
// real etcd and real Kitex servers and clients: servers still on
// registry-etcd are found by our resolver with WithContribLayoutRead, and
// clients still on registry-etcd find servers registered by ours with
// WithContribLayoutWrite.

// TestEtcdInteropContribServerFoundByOurResolver: a server registered by
// registry-etcd is found, and called, through our resolver reading the
// contrib layout; without that option our resolver does not see it.
func TestEtcdInteropContribServerFoundByOurResolver(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	s := startContribRegistered(t, "echo", srv.Endpoints())

	r := etcd.NewResolver(cli, etcd.WithContribLayoutRead())
	defer r.Close()
	awaitResolved(t, r, "echo", "the registry-etcd server", hasExactly(s.Addr))
	if err := echoOnce(resolvedClient(t, "echo", r)); err != nil {
		t.Fatal(err)
	}
	if got := s.calls.Load(); got != 1 {
		t.Fatalf("the registry-etcd server handled %d calls, want 1", got)
	}

	// The contrib key is in etcd now, and a resolver's first Resolve lists
	// before answering, so one look is conclusive.
	plain := etcd.NewResolver(cli)
	defer plain.Close()
	res, err := plain.Resolve(context.Background(), "echo")
	if err != nil || len(res.Instances) != 0 {
		t.Fatalf("without WithContribLayoutRead: %v, %v; want no instances", addrs(res), err)
	}
}

// TestEtcdInteropOurServerFoundByContribResolver: a server registered by
// ours writing the contrib layout is found, and called, through
// registry-etcd's resolver; once it stops, its contrib key is gone too.
func TestEtcdInteropOurServerFoundByContribResolver(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	reg := etcd.NewRegistry(cli, etcd.WithContribLayoutWrite(), etcd.WithDrainDelay(0))
	s := startRegistered(t, "echo", reg)
	stop := stopAtCleanup(t, s)

	cr := newContribResolver(t, srv.Endpoints())
	awaitResolved(t, cr, "echo", "our server", hasExactly(s.Addr))
	if err := echoOnce(contribResolvedClient(t, "echo", cr)); err != nil {
		t.Fatal(err)
	}
	if got := s.calls.Load(); got != 1 {
		t.Fatalf("our server handled %d calls, want 1", got)
	}

	// Stop deregisters before it returns, and Deregister revokes the lease
	// holding both keys: nothing is left for registry-etcd's clients.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, etcd.ContribPrefix+"/echo/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("after the server stopped, %s is still in etcd", resp.Kvs[0].Key)
	}
}

// TestEtcdInteropMixedFleet: mid-migration, one server of a service is on
// registry-etcd and one on ours (writing both layouts). Either kind of
// client sees both, our resolver listing the migrated server once although
// it finds it under both prefixes, and calls reach both servers.
func TestEtcdInteropMixedFleet(t *testing.T) {
	srv := harness.StartEtcd(t)
	cli := srv.Client(t)
	old := startContribRegistered(t, "echo", srv.Endpoints())
	moved := startRegistered(t, "echo", etcd.NewRegistry(cli, etcd.WithContribLayoutWrite(), etcd.WithDrainDelay(0)))
	stopAtCleanup(t, moved)

	r := etcd.NewResolver(cli, etcd.WithContribLayoutRead())
	defer r.Close()
	awaitResolved(t, r, "echo", "both servers, once each", hasExactly(old.Addr, moved.Addr))
	cr := newContribResolver(t, srv.Endpoints())
	awaitResolved(t, cr, "echo", "both servers", hasExactly(old.Addr, moved.Addr))

	for name, c := range map[string]echoservice.Client{
		"kitexsuite":    resolvedClient(t, "echo", r),
		"registry-etcd": contribResolvedClient(t, "echo", cr),
	} {
		oldBefore, movedBefore := old.calls.Load(), moved.calls.Load()
		// Round robin over two instances of equal weight alternates.
		for range 10 {
			if err := echoOnce(c); err != nil {
				t.Fatalf("%s client: %v", name, err)
			}
		}
		if old.calls.Load() == oldBefore || moved.calls.Load() == movedBefore {
			t.Errorf("%s client: calls reached registry-etcd's server %d times and ours %d times, want both",
				name, old.calls.Load()-oldBefore, moved.calls.Load()-movedBefore)
		}
	}
}

// startContribRegistered runs an Echo server registered by registry-etcd
// v0.2.4, stopped (which deregisters it) when the test ends.
func startContribRegistered(t *testing.T, service string, endpoints []string) *countedServer {
	t.Helper()
	reg, cli := newContribRegistry(t, endpoints)
	t.Cleanup(func() { _ = cli.Close() })
	s := startRegistered(t, service, reg)
	stopAtCleanup(t, s) // runs first: Deregister needs the registry's client
	return s
}

// stopAtCleanup stops s when the test ends unless the returned function
// stopped it first (testservice.Server.Stop must run only once).
func stopAtCleanup(t *testing.T, s *countedServer) (stop func() error) {
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { err = s.Stop() })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// newContribRegistry returns a registry-etcd registry of etcd at endpoints
// and the etcd client it made inside, which the caller closes once the
// registry has deregistered. A registry-etcd registry holds one
// registration: it keeps a single lease and stop signal, which a second
// Register would overwrite.
func newContribRegistry(tb testing.TB, endpoints []string) (registry.Registry, *clientv3.Client) {
	tb.Helper()
	reg, err := contrib.NewEtcdRegistry(endpoints)
	if err != nil {
		tb.Fatal(err)
	}
	return reg, contribEtcdClient(tb, reg)
}

// newContribResolver returns a registry-etcd resolver of etcd at endpoints.
// The etcd client it made inside is closed when tb ends.
func newContribResolver(tb testing.TB, endpoints []string) discovery.Resolver {
	tb.Helper()
	r, err := contrib.NewEtcdResolver(endpoints)
	if err != nil {
		tb.Fatal(err)
	}
	cli := contribEtcdClient(tb, r)
	tb.Cleanup(func() { _ = cli.Close() })
	return r
}

// contribResolvedClient is an Echo client finding service through a
// registry-etcd resolver, with Kitex's default 5 s balancer refresh.
//
// registry-etcd's resolver is named "etcd" whatever etcd it reads, and
// Kitex shares a balancer cache, resolver included, among clients whose
// resolver and balancer names match: with Kitex's default balancer, a
// registry-etcd client of a later test would resolve through this test's
// resolver, on a stopped etcd. A balancer given without cache options is
// not shared.
func contribResolvedClient(t *testing.T, service string, r discovery.Resolver) echoservice.Client {
	t.Helper()
	c, err := echoservice.NewClient(service,
		client.WithResolver(r),
		client.WithLoadBalancer(loadbalance.NewWeightedBalancer()),
		client.WithRPCTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// contribEtcdClient returns the etcd client that registry-etcd v0.2.4
// creates inside NewEtcdRegistry and NewEtcdResolver. Neither has a Close,
// so unless the test closes this client its connection, lease keep-alive
// and gRPC goroutines outlive the test and fail the package's leak check
// (as plain gRPC goroutines, which no precise goleak exception could tell
// from a leak of ours). Both keep it in an unexported etcdClient field,
// read here by reflection. Once Deregister has run, closing it ends every
// goroutine registry-etcd started, so the leak check needs no exception.
func contribEtcdClient(tb testing.TB, v any) *clientv3.Client {
	tb.Helper()
	f := reflect.ValueOf(v).Elem().FieldByName("etcdClient")
	if !f.IsValid() {
		tb.Fatalf("%T has no etcdClient field: registry-etcd changed, update contribEtcdClient", v)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*clientv3.Client)
}
