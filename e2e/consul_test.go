package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/consul"
)

// consulClientVia returns a client of the agent whose HTTP traffic goes
// through proxy (to partition it), closing its idle connections at cleanup.
func consulClientVia(t *testing.T, agent *harness.Consul, proxy *harness.Proxy) *api.Client {
	t.Helper()
	cfg := agent.Config()
	cfg.Address = proxy.Addr()
	transport := &http.Transport{DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}
	cfg.HttpClient = &http.Client{Transport: transport}
	t.Cleanup(transport.CloseIdleConnections)
	cli, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func TestConsulRegisterDiscoverCallDeregister(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	drain := 500 * time.Millisecond
	reg := consul.NewRegistry(cli, consul.WithDrainDelay(drain))
	a := startRegistered(t, "echo", reg)
	b := startRegistered(t, "echo", reg)
	r := consul.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "echo", "both servers", hasExactly(a.Addr, b.Addr))

	c := resolvedClient(t, "echo", r)
	callAll(t, c, 20, a, b)

	// Traffic leaves a within the drain delay: the resolver drops it while
	// Stop is still draining, before the listener closes.
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- a.Stop() }()
	awaitResolved(t, r, "echo", "only b", hasExactly(b.Addr))
	left := time.Since(start)
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before clients saw the server leave (after %v)", err, left)
	default:
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	t.Logf("server left the passing set %v into a %v drain", left.Round(time.Millisecond), drain)
	before := a.calls.Load()
	for range 20 {
		if err := echoOnce(c); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.calls.Load(); got != before {
		t.Fatalf("the deregistered server got %d new calls", got-before)
	}
	if svcs, err := cli.Agent().Services(); err != nil || len(svcs) != 1 {
		t.Fatalf("agent services after deregister: %v %v", svcs, err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	awaitResolved(t, r, "echo", "no servers", hasExactly()) // empty is delivered as empty
}

// TestConsulAgentRestartUnderLoad restarts the (dev) agent, which forgets
// every registration, while a client calls: no call fails, and every
// server is registered again within seconds.
func TestConsulAgentRestartUnderLoad(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	reg := consul.NewRegistry(cli, consul.WithDrainDelay(0))
	servers := []*countedServer{startRegistered(t, "echo", reg), startRegistered(t, "echo", reg), startRegistered(t, "echo", reg)}
	all := []string{servers[0].Addr, servers[1].Addr, servers[2].Addr}
	r := consul.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "echo", "three servers", hasExactly(all...))

	l := startLoad(resolvedClient(t, "echo", r), 4)
	l.waitCalls(t, 100)
	agent.Restart(t)
	back := time.Now()
	if svcs := awaitAgentServices(t, cli, len(servers), 15*time.Second); len(svcs) != len(servers) {
		t.Fatalf("agent knows %d services", len(svcs))
	}
	t.Logf("all servers registered again %v after the agent restarted", time.Since(back).Round(time.Millisecond))
	awaitResolved(t, r, "echo", "three servers after the restart", hasExactly(all...))
	l.waitCalls(t, 100)
	l.finish(t)
	for _, s := range servers {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// awaitAgentServices polls the agent until it lists n services.
func awaitAgentServices(t *testing.T, cli *api.Client, n int, within time.Duration) map[string]*api.AgentService {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		svcs, err := cli.Agent().Services() // fails while the agent restarts
		if err == nil && len(svcs) == n {
			return svcs
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent lists %d services (%v), want %d", len(svcs), err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsulCheckGoesCritical cuts a server's registry off from the agent:
// its heartbeats stop, the TTL check goes critical and the instance leaves
// the client's set; once the registry reaches the agent again it is back.
func TestConsulCheckGoesCritical(t *testing.T) {
	agent := harness.StartConsul(t)
	admin := agent.Client(t)
	proxy := harness.StartProxy(t, agent.Address())
	reg := consul.NewRegistry(consulClientVia(t, agent, proxy), consul.WithTTL(2*time.Second), consul.WithDrainDelay(0))
	s := startRegistered(t, "echo", reg)
	defer s.Stop()
	r := consul.NewResolver(admin)
	defer r.Close()
	awaitResolved(t, r, "echo", "the server", hasExactly(s.Addr))

	proxy.Block()
	awaitResolved(t, r, "echo", "the check go critical", hasExactly())
	proxy.Unblock()
	awaitResolved(t, r, "echo", "the server pass again", hasExactly(s.Addr))
}

// TestConsulHalfOpenConnectionRestartsWatch stalls the connection between
// a resolver and its agent, as a half-open connection does (no error, no
// answer): the answer to the pending blocking query is lost. The resolver
// gives the query up after its wait plus Consul's wait/16 plus slack and
// watches again on a new connection, so the instance registered meanwhile
// is found. Without that client-side deadline the watch waited forever.
func TestConsulHalfOpenConnectionRestartsWatch(t *testing.T) {
	agent := harness.StartConsul(t)
	admin := agent.Client(t)
	proxy := harness.StartProxy(t, agent.Address())
	r := consul.NewResolver(consulClientVia(t, agent, proxy), consul.WithWaitTime(2*time.Second))
	defer r.Close()
	reg := consul.NewRegistry(admin, consul.WithDrainDelay(0))
	first := startRegistered(t, "echo", reg)
	defer first.Stop()
	awaitResolved(t, r, "echo", "the first server", hasExactly(first.Addr))

	proxy.Stall()
	second := startRegistered(t, "echo", reg)
	defer second.Stop()
	// The agent answers the pending query (the set changed, or its wait
	// ended): wait until the proxy has swallowed an answer.
	deadline := time.Now().Add(15 * time.Second)
	for proxy.Dropped() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the agent sent nothing through the stalled proxy")
		}
		time.Sleep(10 * time.Millisecond) // polling the proxy's counter
	}
	proxy.Unstall()
	awaitResolved(t, r, "echo", "the second server, after the lost answer", hasExactly(first.Addr, second.Addr))
}

func TestConsulRollingRestartUnderLoad(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	r := consul.NewResolver(cli)
	defer r.Close()
	rollingRestart(t, consul.NewRegistry(cli, consul.WithDrainDelay(time.Second)), r)
}

// TestConsulACL runs against an agent whose ACLs deny by default.
func TestConsulACL(t *testing.T) {
	agent := harness.StartConsul(t, harness.WithConsulACL())
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Weight: 10}
	clientWith := func(token string) *api.Client {
		cfg := agent.Config()
		cfg.Token = token
		cli, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cli
	}

	readOnly := agent.Token(t, "reader", `service "echo" { policy = "read" }`)
	err := consul.NewRegistry(clientWith(readOnly)).Register(info)
	var pe *consul.PermissionError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `service:write on "echo"`) {
		t.Fatalf("Register with a read-only token: %v, want a PermissionError naming service:write", err)
	}

	// A token Consul does not know is refused (403 "ACL not found"): the
	// resolver says so, not that the answer was lost on the way.
	unknown := consul.NewResolver(clientWith("00000000-0000-4000-8000-000000000000"))
	defer unknown.Close()
	if res, err := unknown.Resolve(context.Background(), "echo"); !errors.As(err, &pe) || !strings.Contains(err.Error(), `service:read on "echo"`) {
		t.Fatalf("resolve with an unknown token: %v %v, want a PermissionError naming service:read", addrs(res), err)
	}

	writer := agent.Token(t, "writer", `service "echo" { policy = "write" }`)
	reg := consul.NewRegistry(clientWith(writer), consul.WithDrainDelay(0))
	if err := reg.Register(info); err != nil {
		t.Fatalf("Register with service:write: %v", err)
	}
	registered := true
	defer func() {
		if registered {
			reg.Deregister(info)
		}
	}()

	r := consul.NewResolver(clientWith(readOnly))
	defer r.Close()
	// Consul filters a health answer by node: with service:read alone the
	// instance is filtered out (X-Consul-Results-Filtered-By-ACLs), which
	// the resolver reports instead of serving an empty set.
	res, err := r.Resolve(context.Background(), "echo")
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "node:read") {
		t.Fatalf("resolve with only service:read: %v %v, want a PermissionError naming node:read", addrs(res), err)
	}
	reader := agent.Token(t, "node-reader", `service "echo" { policy = "read" }
node_prefix "" { policy = "read" }`)
	r2 := consul.NewResolver(clientWith(reader))
	defer r2.Close()
	awaitResolved(t, r2, "echo", "the server with service:read and node:read", hasExactly("127.0.0.1:9"))

	// Without node:read the registry cannot see its instance leave the
	// passing set (the answer is filtered, not empty): Deregister says so
	// instead of taking the filtered answer for "already gone".
	out := &syncBuffer{}
	useLogger(t, adapters[0].make(out))
	registered = false
	if err := reg.Deregister(info); err != nil {
		t.Fatalf("Deregister with service:write: %v", err)
	}
	if !strings.Contains(out.String(), "node:read on this agent's node") {
		t.Fatalf("Deregister without node:read logged %q, want a warning naming node:read", out.String())
	}
}

// TestConsulTLS runs against an agent serving its API over HTTPS only.
func TestConsulTLS(t *testing.T) {
	agent := harness.StartConsul(t, harness.WithConsulTLS())
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Weight: 10}
	reg := consul.NewRegistry(agent.Client(t), consul.WithDrainDelay(0))
	if err := reg.Register(info); err != nil {
		t.Fatalf("Register over TLS with the CA: %v", err)
	}
	defer reg.Deregister(info)
	r := consul.NewResolver(agent.Client(t))
	defer r.Close()
	awaitResolved(t, r, "echo", "the server over TLS", hasExactly("127.0.0.1:9"))

	cfg := agent.Config()
	cfg.TLSConfig = api.TLSConfig{} // no CA: the agent's certificate is not trusted
	transport := &http.Transport{}
	cfg.HttpClient = &http.Client{Transport: transport}
	defer transport.CloseIdleConnections()
	untrusting, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = consul.NewRegistry(untrusting).Register(&registry.Info{ServiceName: "other", Addr: info.Addr})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Register without the CA: %v, want a certificate error", err)
	}
	t.Logf("without the CA: %v", err)
}

// TestConsulMalformedEntriesAreSkipped registers, straight through the
// API, instances no Kitex client can use: the resolver serves the good one
// and logs each bad one once.
func TestConsulMalformedEntriesAreSkipped(t *testing.T) {
	var logs syncBuffer
	klog.SetOutput(&logs)
	defer klog.SetOutput(os.Stderr)
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	bad := map[string]*api.AgentServiceRegistration{
		"svc:bogus-address":  {Address: "not an address!", Port: 80},
		"svc:empty-tag-key":  {Address: "10.0.0.2", Port: 80, Tags: []string{":v"}},
		"svc:bad-start-meta": {Address: "10.0.0.3", Port: 80, Meta: map[string]string{"kitexsuite_start_time": "yesterday"}},
		"svc:bad-warmup":     {Address: "10.0.0.4", Port: 80, Meta: map[string]string{"kitexsuite_warmup": "soon"}},
	}
	register := func(id string, s *api.AgentServiceRegistration) {
		t.Helper()
		s.ID, s.Name = id, "svc"
		if err := cli.Agent().ServiceRegister(s); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	for id, s := range bad {
		register(id, s)
	}
	register("svc:good", &api.AgentServiceRegistration{Address: "10.0.0.9", Port: 80, Tags: []string{"zone:a", "plain"}})
	r := consul.NewResolver(cli)
	defer r.Close()
	awaitResolved(t, r, "svc", "only the good instance", hasExactly("10.0.0.9:80"))
	register("svc:good2", &api.AgentServiceRegistration{Address: "10.0.0.8", Port: 80}) // a new answer, same bad entries
	awaitResolved(t, r, "svc", "both good instances", hasExactly("10.0.0.8:80", "10.0.0.9:80"))
	for id := range bad {
		if n := strings.Count(logs.String(), fmt.Sprintf("%q", id)); n != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", id, n, logs.String())
		}
	}
}

// TestConsulTagAndDatacenterFilters checks the resolver's query options
// against the agent: a tag filter on Kitex tags, and an unknown datacenter
// reported as an error rather than as an empty set.
func TestConsulTagAndDatacenterFilters(t *testing.T) {
	agent := harness.StartConsul(t)
	cli := agent.Client(t)
	for id, zone := range map[string]string{"svc:a": "a", "svc:b": "b"} {
		addr := map[string]string{"a": "10.0.0.1", "b": "10.0.0.2"}[zone]
		if err := cli.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "svc", Address: addr, Port: 80, Tags: []string{"zone:" + zone}}); err != nil {
			t.Fatal(err)
		}
	}
	r := consul.NewResolver(cli, consul.WithTags("zone:a"), consul.WithStaleReads())
	defer r.Close()
	awaitResolved(t, r, "svc", "only zone a", hasExactly("10.0.0.1:80"))

	other := consul.NewResolver(cli, consul.WithDatacenter("nowhere"))
	defer other.Close()
	if res, err := other.Resolve(context.Background(), "svc"); err == nil {
		t.Fatalf("unknown datacenter resolved to %v", addrs(res))
	} else {
		t.Logf("unknown datacenter: %v", err)
	}
}
