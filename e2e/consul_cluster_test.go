package e2e

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/consul"
)

// clusterTokens are the least-privilege tokens the cluster tests' Kitex
// sides use, in a cluster whose ACLs deny by default.
type clusterTokens struct {
	registry string // service:write on echo
	resolver string // service:read on echo, node:read (Consul filters health answers by node)
}

// newClusterTokens creates the tokens through the API of one of cl's agents.
func newClusterTokens(t *testing.T, cl *harness.ConsulCluster) clusterTokens {
	t.Helper()
	agent := cl.Clients[0]
	return clusterTokens{
		registry: agent.Token(t, "echo registry", `service "echo" { policy = "write" }`),
		resolver: agent.Token(t, "echo resolver", `service "echo" { policy = "read" }
node_prefix "" { policy = "read" }`),
	}
}

// assertEnforced shows that agent enforces the ACLs while echo has n
// passing instances: the resolver's token cannot register, and an
// anonymous query sees none of them.
func (tok clusterTokens) assertEnforced(t *testing.T, agent *harness.Consul, n int) {
	t.Helper()
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Weight: 10}
	err := consul.NewRegistry(agent.ClientForToken(t, tok.resolver)).Register(info)
	var pe *consul.PermissionError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `service:write on "echo"`) {
		t.Fatalf("Register with the resolver's token: %v, want a PermissionError naming service:write", err)
	}
	awaitServicePassing(t, agent.Client(t), "echo", n) // the management token sees them
	entries, _, err := agent.ClientForToken(t, "").Health().Service("echo", "", true, nil)
	if err != nil || len(entries) != 0 {
		t.Fatalf("anonymous health query: %d instances (%v), want none under default deny", len(entries), err)
	}
}

// watchSet samples what r resolves for target every 10 ms until stop is
// called, which returns the fewest of want's addresses any sample held.
func watchSet(t *testing.T, r discovery.Resolver, target string, want ...string) (stop func() int) {
	t.Helper()
	fewest := atomic.Int64{}
	fewest.Store(int64(len(want)))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			res, err := r.Resolve(context.Background(), target)
			if err != nil {
				continue
			}
			got := addrs(res)
			n := 0
			for _, w := range want {
				if slices.Contains(got, w) {
					n++
				}
			}
			if int64(n) < fewest.Load() {
				fewest.Store(int64(n))
			}
		}
	}()
	return func() int {
		close(done)
		wg.Wait()
		return int(fewest.Load())
	}
}

// TestConsulClusterClientAgentRestart runs three Consul servers and two
// client agents, ACLs denying by default; two Kitex servers register
// through agent A, one through agent B, and the client resolves through B,
// each with a least-privilege token. Agent A crashes and comes
// back, once with its data dir and once without (an emptyDir): no call
// fails, and the client's set never loses A's servers, which ran on
// throughout — their node's serfHealth failing, then (without the data
// dir) their services vanishing with the index moving forward, must not
// empty them from the balancer before the registry has registered them
// again. The services A restores from its data dir keep the registry's
// token; wiped, A gets its agent token from its configuration again, and
// the registry registers with its own.
func TestConsulClusterClientAgentRestart(t *testing.T) {
	cl := harness.StartConsulCluster(t, harness.WithConsulACL())
	a, b := cl.Clients[0], cl.Clients[1]
	tok := newClusterTokens(t, cl)
	regA := consul.NewRegistry(a.ClientForToken(t, tok.registry), consul.WithDrainDelay(0))
	regB := consul.NewRegistry(b.ClientForToken(t, tok.registry), consul.WithDrainDelay(0))
	s1, s2, s3 := startRegistered(t, "echo", regA), startRegistered(t, "echo", regA), startRegistered(t, "echo", regB)
	r := consul.NewResolver(b.ClientForToken(t, tok.resolver))
	defer r.Close()
	awaitResolved(t, r, "echo", "three servers through two agents", hasExactly(s1.Addr, s2.Addr, s3.Addr))
	tok.assertEnforced(t, b, 3)
	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 100)

	for _, wiped := range []bool{false, true} {
		stop := watchSet(t, r, "echo", s1.Addr, s2.Addr)
		a.Kill()
		if wiped {
			a.RestartWiped(t)
		} else {
			a.Restart(t)
		}
		// Known to the restarted agent again (the registry's next heartbeat
		// registers them when the data dir is gone) and passing.
		awaitAgentServices(t, a.Client(t), 2, 30*time.Second)
		awaitServicePassing(t, b.Client(t), "echo", 3)
		l.waitCalls(t, 100)
		if fewest := stop(); fewest != 2 {
			t.Errorf("agent A restarted (data dir wiped: %v): the client's set dropped to %d of A's 2 running servers", wiped, fewest)
		}
		tok.assertEnforced(t, a, 3)
	}
	l.finish(t)
	for _, s := range []*countedServer{s1, s2, s3} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsulClusterLeaderLoss kills the servers' raft leader under load,
// ACLs denying by default: the two others elect a new one, no call fails
// (the agents resolve the tokens they hold through the servers left), and
// the resolver follows a change made afterwards.
func TestConsulClusterLeaderLoss(t *testing.T) {
	cl := harness.StartConsulCluster(t, harness.WithConsulACL())
	a, b := cl.Clients[0], cl.Clients[1]
	tok := newClusterTokens(t, cl)
	reg := consul.NewRegistry(a.ClientForToken(t, tok.registry), consul.WithDrainDelay(0))
	s1, s2 := startRegistered(t, "echo", reg), startRegistered(t, "echo", reg)
	r := consul.NewResolver(b.ClientForToken(t, tok.resolver))
	defer r.Close()
	awaitResolved(t, r, "echo", "two servers", hasExactly(s1.Addr, s2.Addr))
	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 100)
	leader := cl.Leader(t)
	leader.Kill()
	l.waitCalls(t, 100)
	s3 := startRegistered(t, "echo", reg) // written through the new leader
	awaitResolved(t, r, "echo", "the server registered after the leader loss", hasExactly(s1.Addr, s2.Addr, s3.Addr))
	l.finish(t)
	for _, s := range []*countedServer{s1, s2, s3} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsulClusterHalfOpenAgent stalls the connection between a resolver
// and its node's client agent B (ACLs on, least-privilege tokens) under
// load, as a half-open connection does: no error, no answer. A server
// registered meanwhile on the other node reaches Consul but not the
// resolver, whose self-metrics show it (watch restarts, each on a new
// connection stalled alike, and a growing sync age); calls go on to the
// last known set and none fails. Once the connection forwards again the
// resolver finds the new server and the client calls it.
func TestConsulClusterHalfOpenAgent(t *testing.T) {
	cl := harness.StartConsulCluster(t, harness.WithConsulACL())
	a, b := cl.Clients[0], cl.Clients[1]
	tok := newClusterTokens(t, cl)
	regA := consul.NewRegistry(a.ClientForToken(t, tok.registry), consul.WithDrainDelay(0))
	regB := consul.NewRegistry(b.ClientForToken(t, tok.registry), consul.WithDrainDelay(0))
	s1, s2 := startRegistered(t, "echo", regA), startRegistered(t, "echo", regB)

	proxy := harness.StartProxy(t, b.Address())
	cfg := b.Config()
	cfg.Address, cfg.Token = proxy.Addr(), tok.resolver
	cli, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	const wait = 2 * time.Second // a query is given up after 2 s + 2 s/16 + 2 s
	r := consul.NewResolver(cli, consul.WithWaitTime(wait), consul.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	awaitResolved(t, r, "echo", "a server on each node", hasExactly(s1.Addr, s2.Addr))
	c := resolvedClient(t, "echo", r)
	l := startLoad(c, 4)
	l.waitCalls(t, 100)
	before := watchRestarts(t, reader)

	proxy.Stall()
	s3 := startRegistered(t, "echo", regA)
	awaitServicePassing(t, b.Client(t), "echo", 3) // B knows it; the resolver cannot hear it
	// Two restarts: the query pending when the stall began, and one made
	// on a fresh connection after it, stalled alike.
	deadline := time.Now().Add(60 * time.Second)
	for watchRestarts(t, reader) < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("60 s into the stall: %d watch restarts (%d before it), %d bytes swallowed; the resolver never gave up a query",
				watchRestarts(t, reader), before, proxy.Dropped())
		}
		time.Sleep(50 * time.Millisecond) // polling the metrics
	}
	if age := syncAge(t, reader); age < wait.Seconds() {
		t.Errorf("sync age %.1fs after two restarts of the watch, want more than the %v wait", age, wait)
	}
	res, err := r.Resolve(context.Background(), "echo")
	if got := addrs(res); err != nil || !hasExactly(s1.Addr, s2.Addr)(got) {
		t.Fatalf("during the stall the resolver serves %v (%v), want the last known set %s %s", got, err, s1.Addr, s2.Addr)
	}
	l.waitCalls(t, 100)
	t.Logf("stalled: %d watch restarts, sync age %.1fs, %d bytes swallowed",
		watchRestarts(t, reader)-before, syncAge(t, reader), proxy.Dropped())

	proxy.Unstall()
	awaitResolved(t, r, "echo", "the server registered on A during the stall", hasExactly(s1.Addr, s2.Addr, s3.Addr))
	for deadline := time.Now().Add(15 * time.Second); s3.calls.Load() == 0 || syncAge(t, reader) > wait.Seconds(); {
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the stall: %d calls reached %s, sync age %.1fs", s3.calls.Load(), s3.Addr, syncAge(t, reader))
		}
		time.Sleep(50 * time.Millisecond) // polling the counters
	}
	l.finish(t)
	for _, s := range []*countedServer{s1, s2, s3} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// awaitServicePassing waits until Consul lists n passing instances of service.
func awaitServicePassing(t *testing.T, cli *api.Client, service string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _, err := cli.Health().Service(service, "", true, nil)
		if err == nil && len(entries) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d passing instances after 30 s (%v), want %d", service, len(entries), err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
