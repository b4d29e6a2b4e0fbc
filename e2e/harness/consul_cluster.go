package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// ConsulCluster is the topology production Consul runs: three servers and
// two client agents, real agents (not -dev) keeping their state in data
// dirs, each on a loopback address of its own with Consul's default ports
// (serf LAN and WAN over TCP and UDP, server RPC, HTTP API on 8500).
// Kitex servers register through a client agent (the Agent API is
// node-local) and resolvers read through one.
type ConsulCluster struct {
	Servers []*Consul
	Clients []*Consul
}

// consulClusters numbers clusters, for their loopback addresses.
var consulClusters atomic.Int64

// StartConsulCluster starts the five agents and waits until the servers
// have elected a leader and every agent is in the catalog. Everything
// stops when tb's test ends; the agents' logs are shown if it failed.
// WithConsulACL is the one option it takes.
func StartConsulCluster(tb testing.TB, opts ...ConsulOption) *ConsulCluster {
	tb.Helper()
	var o consulOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.tls {
		tb.Fatal("consul harness: WithConsulTLS is for StartConsul (its certificate is for 127.0.0.1)")
	}
	management := ""
	if o.acl {
		management = newUUID()
	}
	bin, err := ConsulBinary()
	if err != nil {
		tb.Fatalf("consul harness: %v", err)
	}
	// 127.X.Y.1-5: X and Y from the process and a counter, so clusters of
	// concurrent test binaries do not meet.
	n := consulClusters.Add(1)
	base := fmt.Sprintf("127.%d.%d.", 100+os.Getpid()%100, n%250)
	cl := &ConsulCluster{}
	var serverIPs []string
	for i := range 5 {
		ip := base + fmt.Sprint(i+1)
		if err := portsFree(ip, "8300", "8301", "8302", "8500"); err != nil {
			tb.Fatalf("consul harness: %v", err)
		}
		c := &Consul{
			bin: bin, dir: tb.TempDir(), node: consulNodeName(tb) + fmt.Sprintf("-%d", i+1),
			api: ip + ":8500", serfLAN: ip + ":8301", serfWAN: ip + ":8302", server: ip + ":8300",
			log:     &lineWriter{ring: &logRing{}},
			cluster: &clusterRole{ip: ip, server: i < 3, nodeID: newUUID()},
			token:   management, agentToken: management,
		}
		if o.acl && !c.cluster.server {
			c.agentToken = newUUID() // created below, before the client agents start
		}
		if c.cluster.server {
			serverIPs = append(serverIPs, ip)
			cl.Servers = append(cl.Servers, c)
		} else {
			cl.Clients = append(cl.Clients, c)
		}
		if err := c.writeConfig(); err != nil {
			tb.Fatalf("consul harness: %v", err)
		}
		dumpOnFailure(tb, "consul "+c.node, c.log.ring)
		tb.Cleanup(c.transports.closeIdle) // runs after Stop
		tb.Cleanup(c.Stop)
	}
	for _, c := range append(cl.Servers, cl.Clients...) {
		c.cluster.join = serverIPs
	}
	// The servers wait for each other (bootstrap-expect 3): start all, then
	// wait for each; then the clients, once their agent tokens exist.
	startGroup(tb, cl.Servers)
	if o.acl {
		if err := cl.createAgentTokens(tb); err != nil {
			tb.Fatalf("consul harness: %v", err)
		}
	}
	startGroup(tb, cl.Clients)
	return cl
}

// startGroup starts agents that wait for each other, then waits until
// each is ready. Each is kept as running from its spawn, so that the
// cleanup stops it also when another one fails.
func startGroup(tb testing.TB, group []*Consul) {
	tb.Helper()
	for _, c := range group {
		p, err := c.spawn()
		if err != nil {
			tb.Fatalf("consul harness: %v", err)
		}
		c.mu.Lock()
		c.proc = p
		c.mu.Unlock()
	}
	for _, c := range group {
		c.mu.Lock()
		p := c.proc
		c.mu.Unlock()
		if err := c.awaitReady(p); err != nil {
			tb.Fatalf("consul harness: %s: %v (its log follows)", c.node, err)
		}
	}
}

// createAgentTokens creates, through a server, each client agent's token
// with the SecretID its configuration names: a node identity, what Consul
// documents for agent tokens (node:write on its node, service:read), so
// the agent can sync its node and run anti-entropy under "deny".
func (cl *ConsulCluster) createAgentTokens(tb testing.TB) error {
	tb.Helper()
	acl := cl.Servers[0].Client(tb).ACL()
	for _, c := range cl.Clients {
		token := &api.ACLToken{
			SecretID:       c.agentToken,
			Description:    "agent token of " + c.node,
			NodeIdentities: []*api.ACLNodeIdentity{{NodeName: c.node, Datacenter: "dc1"}},
		}
		// Retried for the leader's first moments, as awaitReady retries;
		// a request refused (4xx) stays refused.
		deadline := time.Now().Add(consulReadyTimeout)
		for {
			_, _, err := acl.TokenCreate(token, nil)
			if err == nil {
				break
			}
			var se api.StatusError
			if errors.As(err, &se) && se.Code < 500 || time.Now().After(deadline) {
				return fmt.Errorf("create the agent token of %s: %w", c.node, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// clusterRole is what an agent of a ConsulCluster is: its address, server
// or client, the servers it joins, and its node ID (fixed, so an agent
// whose data dir is wiped comes back as the same node, as one with a
// configured node-id does).
type clusterRole struct {
	ip     string
	server bool
	nodeID string
	join   []string
}

// clusterArgs is a cluster agent's command line.
func (c *Consul) clusterArgs() []string {
	args := []string{
		"agent", "-data-dir", c.dataDir(), "-node", c.node, "-node-id", c.cluster.nodeID,
		"-bind", c.cluster.ip, "-client", c.cluster.ip,
		"-grpc-port", "-1", "-grpc-tls-port", "-1", "-dns-port", "-1",
		"-log-level", "warn", "-config-file", filepath.Join(c.dir, "harness.hcl"),
	}
	if c.cluster.server {
		args = append(args, "-server", "-bootstrap-expect", "3")
	}
	for _, ip := range c.cluster.join {
		if ip != c.cluster.ip {
			args = append(args, "-retry-join", ip)
		}
	}
	return args
}

func (c *Consul) dataDir() string { return filepath.Join(c.dir, "data") }

// clusterConfig is the cluster agents' extra configuration: fast raft
// timing (performance.raft_multiplier 1, as Consul recommends for
// production) and a client agent that keeps its node on SIGTERM (what a
// restart does).
const clusterConfig = `performance {
  raft_multiplier = 1
}
leave_on_terminate = false
`

// Kill stops the agent with SIGKILL: a crash, or a node lost.
func (c *Consul) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		c.transports.closeIdle()
		c.proc.Kill()
		c.proc = nil
	}
}

// RestartWiped restarts a cluster agent with an empty data dir: it comes
// back as the same node (same name and node ID) that has forgotten every
// service registered through it, as a client agent whose data dir is an
// emptyDir does. Under ACL it also loses the tokens it persisted (those
// set through the API); its configuration, which is not in the data dir,
// gives it its agent token again, as an operator's does.
func (c *Consul) RestartWiped(tb testing.TB) {
	tb.Helper()
	if c.cluster == nil {
		tb.Fatal("consul harness: RestartWiped is for cluster agents")
	}
	c.Stop()
	if err := os.RemoveAll(c.dataDir()); err != nil {
		tb.Fatal(err)
	}
	if err := c.start(consulRelistenTimeout); err != nil {
		tb.Fatalf("consul harness: restart: %v (its log follows)", err)
	}
}

// Leader returns the server that is the raft leader now.
func (cl *ConsulCluster) Leader(tb testing.TB) *Consul {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range cl.Servers {
			if !s.running() {
				continue
			}
			cli, err := api.NewClient(s.Config())
			if err != nil {
				continue
			}
			leader, err := cli.Status().Leader()
			if err == nil && leader == s.cluster.ip+":8300" {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("consul harness: no leader within 30 s")
	return nil
}

func (c *Consul) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc != nil
}

// portsFree checks that ip's ports are free for TCP.
func portsFree(ip string, ports ...string) error {
	var errs []error
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, p))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = l.Close()
	}
	return errors.Join(errs...)
}
