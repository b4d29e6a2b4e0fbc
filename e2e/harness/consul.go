package harness

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

const (
	// ConsulVersion is the Consul release scripts/build-consul.sh builds and
	// the harness runs.
	ConsulVersion = "v1.22.0"
	// consulReadyTimeout bounds how long a (re)started agent may take to
	// become ready.
	consulReadyTimeout = 30 * time.Second
	// consulStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	consulStopTimeout = 10 * time.Second
	// consulRelistenTimeout bounds how long Restart retries while the kernel
	// still holds one of the old ports.
	consulRelistenTimeout = 5 * time.Second
)

// ConsulOption configures an agent StartConsul starts, or the agents of a
// cluster StartConsulCluster starts.
type ConsulOption func(*consulOptions)

type consulOptions struct {
	acl, tls bool
}

// WithConsulACL enables ACLs with default_policy "deny": a request without
// a token is anonymous and may do nothing. The agent is bootstrapped with a
// management token (ManagementToken), which it also uses as its own agent
// token; Token makes least-privilege ones. In a ConsulCluster the servers
// bootstrap with one management token (each agent's ManagementToken) and
// use it as their agent token, and each client agent's configuration gives
// it a token of its own for its node (a node identity: node:write on it,
// service:read), which the harness creates through the API before the
// client agents start.
func WithConsulACL() ConsulOption { return func(o *consulOptions) { o.acl = true } }

// WithConsulTLS serves the HTTP API over HTTPS only (the plain HTTP port is
// disabled), with a server certificate for 127.0.0.1 and localhost signed
// by a CA generated for the test (CAFile).
func WithConsulTLS() ConsulOption { return func(o *consulOptions) { o.tls = true } }

// Consul is a real Consul agent (`consul agent -dev`: a single server that
// keeps its state in memory) running as a child process on free loopback
// ports. Its output goes to a buffer shown when the test fails.
type Consul struct {
	bin, dir, node string
	api            string // host:port of the HTTP or HTTPS API
	serfLAN        string
	serfWAN        string
	server         string
	token          string // management token, "" without ACL
	agentToken     string // the token the agent's configuration gives it for its own node
	certs          *consulCerts
	log            *lineWriter
	transports     transportSet
	cluster        *clusterRole // nil for a -dev agent

	mu   sync.Mutex
	proc *Process // nil once stopped
}

// StartConsul starts a Consul agent in dev mode and waits until it is
// ready: it has elected itself leader, answers /v1/agent/self (with the
// management token under ACL) and has its own node in the catalog. The
// agent stops when tb's test ends, and its log is shown if the test failed.
func StartConsul(tb testing.TB, opts ...ConsulOption) *Consul {
	tb.Helper()
	var o consulOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin, err := ConsulBinary()
	if err != nil {
		tb.Fatalf("consul harness: %v", err)
	}
	ports, err := freeConsulPorts()
	if err != nil {
		tb.Fatalf("consul harness: %v", err)
	}
	c := &Consul{
		bin:     bin,
		dir:     tb.TempDir(),
		node:    consulNodeName(tb),
		api:     ports[0],
		serfLAN: ports[1],
		serfWAN: ports[2],
		server:  ports[3],
		log:     &lineWriter{ring: &logRing{}},
	}
	if o.acl {
		c.token = newUUID()
		c.agentToken = c.token
	}
	if o.tls {
		if c.certs, err = writeConsulCerts(c.dir); err != nil {
			tb.Fatalf("consul harness: %v", err)
		}
	}
	if err := c.writeConfig(); err != nil {
		tb.Fatalf("consul harness: %v", err)
	}
	dumpOnFailure(tb, "consul", c.log.ring)
	tb.Cleanup(c.transports.closeIdle) // runs after Stop
	tb.Cleanup(c.Stop)
	if err := c.start(0); err != nil {
		tb.Fatalf("consul harness: %v (its log follows)", err)
	}
	return c
}

// Address returns the "127.0.0.1:PORT" of the agent's HTTP API (HTTPS with
// WithConsulTLS), the same across Restart.
func (c *Consul) Address() string { return c.api }

// Scheme returns the scheme of the agent's API: "http", or "https" with
// WithConsulTLS.
func (c *Consul) Scheme() string {
	if c.certs != nil {
		return "https"
	}
	return "http"
}

// ManagementToken returns the agent's management (bootstrap) token, or ""
// without WithConsulACL.
func (c *Consul) ManagementToken() string { return c.token }

// CAFile returns the path of the PEM file of the CA that signed the
// agent's certificate, or "" without WithConsulTLS.
func (c *Consul) CAFile() string {
	if c.certs == nil {
		return ""
	}
	return c.certs.caFile
}

// Config returns a new client configuration for the agent: its address and
// scheme, the management token (under ACL; set Token to "" for an
// anonymous client, unless $CONSUL_HTTP_TOKEN is set, which api.NewClient
// then uses) and the CA (under TLS). It has an *http.Client of its
// own whose idle connections are closed when the agent's test ends, so
// goroutine-leak checks stay clean.
func (c *Consul) Config() *api.Config {
	cfg := &api.Config{
		Address: c.api,
		Scheme:  c.Scheme(),
		Token:   c.token,
	}
	if c.certs != nil {
		cfg.TLSConfig = api.TLSConfig{Address: "127.0.0.1", CAFile: c.certs.caFile}
	}
	cfg.Transport = c.transports.add(c.certs.clientTLS())
	cfg.HttpClient = &http.Client{Transport: cfg.Transport}
	return cfg
}

// Client returns a new client of the agent made from Config.
func (c *Consul) Client(tb testing.TB) *api.Client {
	tb.Helper()
	return c.ClientForToken(tb, c.token)
}

// ClientForToken returns a new client of the agent made from Config with
// another ACL token, such as one Token made, whose rights its policy
// decides ("" is anonymous, unless $CONSUL_HTTP_TOKEN is set).
func (c *Consul) ClientForToken(tb testing.TB, token string) *api.Client {
	tb.Helper()
	cfg := c.Config()
	cfg.Token = token
	cli, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatalf("consul harness: new client: %v", err)
	}
	return cli
}

// Token creates, under ACL, a policy with the given HCL rules and a token
// with that policy, and returns the token's SecretID. name describes both.
// Any agent of a ConsulCluster makes tokens valid in the whole cluster.
func (c *Consul) Token(tb testing.TB, name, rules string) string {
	tb.Helper()
	if c.token == "" {
		tb.Fatalf("consul harness: Token(%q) needs an agent or cluster started WithConsulACL", name)
	}
	acl := c.Client(tb).ACL()
	policy, _, err := acl.PolicyCreate(&api.ACLPolicy{
		Name:        fmt.Sprintf("%s-%d", consulSafeName(name, 100), consulStarted.Add(1)),
		Description: name,
		Rules:       rules,
	}, nil)
	if err != nil {
		tb.Fatalf("consul harness: create policy %q: %v", name, err)
	}
	token, _, err := acl.TokenCreate(&api.ACLToken{
		Description: name,
		Policies:    []*api.ACLTokenPolicyLink{{ID: policy.ID}},
	}, nil)
	if err != nil {
		tb.Fatalf("consul harness: create token %q: %v", name, err)
	}
	return token.SecretID
}

// Stop stops the agent: SIGTERM to its process group, then SIGKILL if it
// has not exited within 10 s. It waits until the process has exited.
// Stopping a stopped agent does nothing.
//
// It first closes the idle connections of Config's clients: an agent
// waits up to a second for open HTTP/2 connections (HTTPS) to close.
func (c *Consul) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		c.transports.closeIdle()
		_ = c.proc.Stop(consulStopTimeout)
		c.proc = nil
	}
}

// Restart stops the agent if it is running, then starts it again on the
// same ports and waits until it is ready. A dev-mode agent keeps its state
// in memory only, so the restarted agent has forgotten every service, key
// and token but the management one: what a client sees when its agent
// restarts.
func (c *Consul) Restart(tb testing.TB) {
	tb.Helper()
	c.Stop()
	if err := c.start(consulRelistenTimeout); err != nil {
		tb.Fatalf("consul harness: restart: %v (its log follows)", err)
	}
}
