package e2e

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/loadbalance/lbcache"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"
	contribconsul "github.com/kitex-contrib/registry-consul"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/registry/consul"
)

// BenchmarkConsulPropagation measures how long a registration change takes
// to reach a Kitex client's balancer: from Register returning, or
// Deregister being called, until Kitex's balancer cache hands the change to
// the balancer. Ours is a blocking query on the health endpoint plus
// discoverycore.WithFastRefresh (100 ms); registry-consul v0.2.0 queries
// the health endpoint on Kitex's default 5 s refresh. Both run against the
// same real agent build on the same machine, with the fixture, balancer spy
// and random phase of BenchmarkEtcdPropagation.
//
// Each side runs with its own default check, as its users get it. Ours is
// a TTL check registered passing, so a server is in the passing set as soon
// as the agent has synced the registration to the catalog. registry-consul's
// is a TCP check the agent runs every 5 s, which starts critical and which
// the agent first runs after a random stagger within that interval: its
// register latency is that stagger (uniform over 0-5 s) plus the wait for
// the next refresh (uniform over 0-5 s), and the numbers say so rather than
// hide it. On deregistration both leave the passing set at once (ours puts
// the service in maintenance first; registry-consul removes it).
//
// The metrics are p50-ms and p99-ms. ns/op is an iteration's wall time,
// which also holds a random wait and the unmeasured half of the iteration.
// registry-consul's iterations take 5 to 15 s: run with -benchtime=20x.
func BenchmarkConsulPropagation(b *testing.B) {
	for _, side := range []struct {
		name  string
		setup func(b *testing.B, agent *harness.Consul, service string, lb *balancerSpy) propagationSide
	}{
		{"kitexsuite", ourConsulPropagationSide},
		{"registry-consul-v0.2.0", contribConsulPropagationSide},
	} {
		b.Run(side.name, func(b *testing.B) {
			agent := harness.StartConsul(b)
			f := startPropagationFixture(b, func(service string, lb *balancerSpy) propagationSide {
				return side.setup(b, agent, service, lb)
			})
			b.Run("register", func(b *testing.B) { f.run(b, true) })
			b.Run("deregister", func(b *testing.B) { f.run(b, false) })
		})
	}
}

// ourConsulPropagationSide registers with our registry and resolves with
// our resolver and the fast refresh, as our documentation tells users to.
//
// The drain delay is 0 only to shorten the iterations: Deregister puts the
// service in maintenance before it waits, so with the default delay the
// server leaves the passing set, and the measured latency ends, just the
// same.
func ourConsulPropagationSide(b *testing.B, agent *harness.Consul, service string, lb *balancerSpy) propagationSide {
	cli := agent.Client(b)
	reg := consul.NewRegistry(cli, consul.WithDrainDelay(0))
	r := consul.NewResolver(cli)
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

// contribConsulPropagationSide registers and resolves with registry-consul
// v0.2.0, its default check and Kitex's default balancer cache intervals,
// as its users do. One registry serves every registration: with its default
// (non-TTL) check it keeps no per-registration state (it rewrites its
// shared check's TCP address on each Register, before sending it).
func contribConsulPropagationSide(b *testing.B, agent *harness.Consul, service string, lb *balancerSpy) propagationSide {
	r := newContribConsulResolver(b, agent)
	c, err := echoservice.NewClient(service, client.WithResolver(r),
		client.WithLoadBalancer(lb, &lbcache.Options{Cacheable: true}), // default intervals
		client.WithRPCTimeout(3*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	reg, err := contribconsul.NewConsulRegisterWithClient(agent.Client(b))
	if err != nil {
		b.Fatal(err)
	}
	return propagationSide{refresh: kitexDefaultRefresh, resolver: r, client: c,
		register: func(info *registry.Info) (func() error, error) {
			if err := reg.Register(info); err != nil {
				return nil, err
			}
			return func() error { return reg.Deregister(info) }, nil
		}}
}

// BenchmarkConsulResolve measures our Resolve of a warm target with 100
// instances: what Kitex's balancer cache calls on every refresh.
func BenchmarkConsulResolve(b *testing.B) {
	const n = 100
	agent := harness.StartConsul(b)
	cli := agent.Client(b)
	registerConsulInstances(b, cli, "warm", n)
	r := consul.NewResolver(cli)
	b.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	// The agent syncs registrations to the catalog asynchronously.
	awaitResolved(b, r, "warm", "all instances", func(got []string) bool { return len(got) == n })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, "warm"); err != nil {
			b.Fatal(err)
		}
	}
}

// registerConsulInstances registers n instances of service with the agent
// directly, in the layout our registry writes (ID, "key:value" tag, start
// time meta, weights), without a check: a service without checks is
// passing. A registry would heartbeat each of them during the measurement.
func registerConsulInstances(tb testing.TB, cli *api.Client, service string, n int) {
	tb.Helper()
	started := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range n {
		host, port, _ := net.SplitHostPort(instanceAddr(i))
		p, _ := strconv.Atoi(port)
		err := cli.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: service + ":" + host + ":" + port, Name: service, Address: host, Port: p,
			Tags:    []string{"zone:z1"},
			Meta:    map[string]string{"kitexsuite_start_time": started},
			Weights: &api.AgentWeights{Passing: 10, Warning: 1},
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}
