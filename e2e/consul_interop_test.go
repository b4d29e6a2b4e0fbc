package e2e

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/cloudwego/kitex/server"
	"github.com/hashicorp/consul/api"
	contribconsul "github.com/kitex-contrib/registry-consul"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/registry/consul"
)

// Migration from kitex-contrib registry-consul v0.2.0, both ways, against a
// real Consul agent and real Kitex servers and clients. Unlike etcd, the
// two share one layout (service ID "{service}:{host}:{port}", a "key:value"
// Consul tag per Kitex tag, the health endpoint's passing set), so neither
// side needs a compatibility option: only the health check differs, and
// each side's check must make the other's resolver list the server.

// interopTags are the Kitex tags every interop server registers with, so
// that each test also proves the other side decodes them.
var interopTags = map[string]string{"zone": "a", "stage": "canary"}

// TestConsulInteropContribServerFoundByOurResolver: a server registered by
// registry-consul, with its default check (the agent dials the server over
// TCP every 5 s, the server critical until the first dial), is found with
// its Kitex tags, and called, through our resolver; once it stops, our
// resolver drops it.
func TestConsulInteropContribServerFoundByOurResolver(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	s, stop := startContribConsulRegistered(t, "echo", cli)

	r := consul.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "echo", "the registry-consul server", hasExactly(s.Addr))
	expectTags(t, r, "echo", interopTags)
	if err := echoOnce(resolvedClient(t, "echo", r)); err != nil {
		t.Fatal(err)
	}
	if got := s.calls.Load(); got != 1 {
		t.Fatalf("the registry-consul server handled %d calls, want 1", got)
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	awaitResolved(t, r, "echo", "the registry-consul server leave", hasExactly())
}

// TestConsulInteropOurServerFoundByContribResolver: a server registered by
// ours, with our default heartbeated TTL check and with the agent-run TCP
// check registry-consul users are used to, is found with its Kitex tags,
// and called, through registry-consul's resolver; once it stops,
// registry-consul's resolver no longer lists it.
func TestConsulInteropOurServerFoundByContribResolver(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	for _, tc := range []struct {
		name string
		opts []consul.Option
	}{
		{"ttl", nil},
		// A 1 s interval, not registry-consul's 5 s, only to keep the test
		// short: the agent staggers a check's first run randomly within
		// its interval, and the server is critical until then.
		{"tcp", []consul.Option{consul.WithTCPCheck(time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			service := "echo-" + tc.name
			reg := consul.NewRegistry(cli, append(tc.opts, consul.WithDrainDelay(0))...)
			s := startRegistered(t, service, reg, withInteropTags())
			stop := stopAtCleanup(t, s)

			cr := newContribConsulResolver(t, agent)
			awaitResolved(t, cr, service, "our server", hasExactly(s.Addr))
			expectTags(t, cr, service, interopTags)
			if err := echoOnce(contribResolvedClient(t, service, cr)); err != nil {
				t.Fatal(err)
			}
			if got := s.calls.Load(); got != 1 {
				t.Fatalf("our server handled %d calls, want 1", got)
			}

			// Stop deregisters before it returns, but the agent syncs its
			// local state to the catalog asynchronously (at once, not on
			// a timer): poll the catalog's answer rather than look once.
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			awaitContribEmpty(t, cr, service)
		})
	}
}

// TestConsulInteropMixedFleet: mid-migration, one server of a service is on
// registry-consul and one on ours. Either kind of client sees both, and
// calls reach both servers.
func TestConsulInteropMixedFleet(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	old, _ := startContribConsulRegistered(t, "echo", cli)
	moved := startRegistered(t, "echo", consul.NewRegistry(cli, consul.WithDrainDelay(0)), withInteropTags())
	stopAtCleanup(t, moved)

	r := consul.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "echo", "both servers", hasExactly(old.Addr, moved.Addr))
	cr := newContribConsulResolver(t, agent)
	awaitResolved(t, cr, "echo", "both servers", hasExactly(old.Addr, moved.Addr))

	for name, c := range map[string]echoservice.Client{
		"kitexsuite":      resolvedClient(t, "echo", r),
		"registry-consul": contribResolvedClient(t, "echo", cr),
	} {
		oldBefore, movedBefore := old.calls.Load(), moved.calls.Load()
		// Round robin over two instances of equal weight alternates.
		for range 10 {
			if err := echoOnce(c); err != nil {
				t.Fatalf("%s client: %v", name, err)
			}
		}
		if old.calls.Load() == oldBefore || moved.calls.Load() == movedBefore {
			t.Errorf("%s client: calls reached registry-consul's server %d times and ours %d times, want both",
				name, old.calls.Load()-oldBefore, moved.calls.Load()-movedBefore)
		}
	}
}

// withInteropTags has a server register with interopTags. Kitex's server
// fills in the rest of the registry.Info (address, name, weight) and
// writes into it, so each server gets a fresh one.
func withInteropTags() server.Option {
	return server.WithRegistryInfo(&registry.Info{Tags: maps.Clone(interopTags)})
}

// startContribConsulRegistered runs an Echo server with interopTags,
// registered by registry-consul v0.2.0 with its default check through cli,
// stopped (which deregisters it) when the test ends unless stop stopped it
// first. registry-consul's default check is a plain TCP check, so its
// registry starts no goroutine of its own and one built on the harness's
// client leaves nothing behind.
func startContribConsulRegistered(t *testing.T, service string, cli *api.Client) (*countedServer, func() error) {
	t.Helper()
	reg, err := contribconsul.NewConsulRegisterWithClient(cli)
	if err != nil {
		t.Fatal(err)
	}
	s := startRegistered(t, service, reg, withInteropTags())
	return s, stopAtCleanup(t, s)
}

// newContribConsulResolver returns a registry-consul resolver of agent.
// NewConsulResolver(address) would make an api.Client on a transport of its
// own, whose idle keep-alive connections outlive the test and fail the
// package's leak check; the harness's Config has a transport whose idle
// connections are closed when the agent's test ends.
//
// Its Name() is "consul" whatever agent it reads: give its clients a
// balancer of their own (contribResolvedClient) so that Kitex's balancer
// cache does not share one resolver between tests.
func newContribConsulResolver(tb testing.TB, agent *harness.Consul) discovery.Resolver {
	tb.Helper()
	r, err := contribconsul.NewConsulResolverWithConfig(agent.Config())
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// expectTags fails unless every instance r resolves for target carries
// exactly the Kitex tags want.
func expectTags(t *testing.T, r discovery.Resolver, target string, want map[string]string) {
	t.Helper()
	res, err := r.Resolve(context.Background(), target)
	if err != nil || len(res.Instances) == 0 {
		t.Fatalf("resolving %q: %v, %v; want instances", target, addrs(res), err)
	}
	for _, ins := range res.Instances {
		for k, v := range want {
			if got, ok := ins.Tag(k); !ok || got != v {
				t.Errorf("%s: tag %q = %q (present %v), want %q", ins.Address(), k, got, ok, v)
			}
		}
	}
}

// awaitContribEmpty polls registry-consul's resolver until it lists no
// instance of target. It answers an empty passing set with the error "no
// service found" rather than an empty result (which awaitResolved would
// skip as a failed look), so that error counts as empty here.
func awaitContribEmpty(t *testing.T, r discovery.Resolver, target string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last []string
	for time.Now().Before(deadline) {
		res, err := r.Resolve(context.Background(), target)
		if err != nil && err.Error() == "no service found" {
			return
		}
		if err == nil {
			if last = addrs(res); len(last) == 0 {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("registry-consul's resolver still lists %v for %q", last, target)
}
