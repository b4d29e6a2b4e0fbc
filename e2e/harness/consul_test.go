package harness

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// registerAndAwait registers service name with the agent and waits until the
// catalog lists it.
func registerAndAwait(t *testing.T, cli *api.Client, name string) {
	t.Helper()
	reg := &api.AgentServiceRegistration{ID: name + "-1", Name: name, Address: "127.0.0.1", Port: 8888}
	if err := cli.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		svcs, _, err := cli.Catalog().Service(name, "", nil)
		if err != nil {
			t.Fatalf("read %s back: %v", name, err)
		}
		if len(svcs) == 1 && svcs[0].ServicePort == 8888 && svcs[0].ServiceAddress == "127.0.0.1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog lists %s as %+v, want one instance on 127.0.0.1:8888", name, svcs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsulPlain(t *testing.T) {
	start := time.Now()
	c := StartConsul(t)
	t.Logf("ready in %s", time.Since(start))
	if c.Scheme() != "http" || c.ManagementToken() != "" || c.CAFile() != "" {
		t.Fatalf("scheme %q token %q CA %q, want http and none", c.Scheme(), c.ManagementToken(), c.CAFile())
	}
	if !strings.HasPrefix(c.Address(), "127.0.0.1:") {
		t.Fatalf("address %q, want 127.0.0.1:PORT", c.Address())
	}
	cli := c.Client(t)
	registerAndAwait(t, cli, "echo")

	addr := c.Address()
	start = time.Now()
	c.Restart(t)
	t.Logf("restarted in %s", time.Since(start))
	if c.Address() != addr {
		t.Fatalf("address %q after restart, want %q", c.Address(), addr)
	}
	// The same client works again, and the dev agent forgot the service.
	svcs, _, err := cli.Catalog().Service("echo", "", nil)
	if err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if len(svcs) != 0 {
		t.Fatalf("after restart the catalog lists %+v, want nothing", svcs)
	}
	local, err := cli.Agent().Services()
	if err != nil || len(local) != 0 {
		t.Fatalf("after restart the agent has services %v (err %v), want none", local, err)
	}

	pid := c.proc.Pid()
	c.Stop()
	c.Stop() // idempotent
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d after Stop: %v, want ESRCH", pid, err)
	}
	if _, err := cli.Status().Leader(); err == nil {
		t.Fatal("a stopped agent still answers")
	}
}

func TestConsulACL(t *testing.T) {
	start := time.Now()
	c := StartConsul(t, WithConsulACL())
	t.Logf("ready in %s", time.Since(start))
	if c.ManagementToken() == "" {
		t.Fatal("no management token under ACL")
	}
	anonCfg := c.Config()
	anonCfg.Token = ""
	anon, err := api.NewClient(anonCfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := &api.AgentServiceRegistration{ID: "x-1", Name: "x", Port: 9}
	wantForbidden(t, "anonymous register", anon.Agent().ServiceRegister(reg))

	registerAndAwait(t, c.Client(t), "x")

	readCfg := c.Config()
	readCfg.Token = c.Token(t, "read x", `service "x" { policy = "read" }`)
	reader, err := api.NewClient(readCfg)
	if err != nil {
		t.Fatal(err)
	}
	if local, _, err := reader.Agent().Service("x-1", nil); err != nil || local.Service != "x" || local.Port != 8888 {
		t.Fatalf("read x from the agent with a read token: %+v, err %v; want x on port 8888", local, err)
	}
	// The catalog and health endpoints also filter by node:read: without
	// it, the read token sees no instance of x.
	if names, _, err := reader.Catalog().Services(nil); err != nil || len(names) != 0 {
		t.Fatalf("catalog services without node:read: %v, err %v; want none", names, err)
	}
	if svcs, _, err := reader.Health().Service("x", "", false, nil); err != nil || len(svcs) != 0 {
		t.Fatalf("health of x without node:read: %d instances, err %v; want 0", len(svcs), err)
	}
	nodeCfg := c.Config()
	nodeCfg.Token = c.Token(t, "read x and nodes", `service "x" { policy = "read" }
node_prefix "" { policy = "read" }`)
	nodeReader, err := api.NewClient(nodeCfg)
	if err != nil {
		t.Fatal(err)
	}
	if svcs, _, err := nodeReader.Health().Service("x", "", false, nil); err != nil || len(svcs) != 1 {
		t.Fatalf("health of x with node:read: %d instances, err %v; want 1", len(svcs), err)
	}
	reg.ID = "x-2"
	wantForbidden(t, "register with a read token", reader.Agent().ServiceRegister(reg))

	// A restarted dev agent forgets the token made, not the management one.
	c.Restart(t)
	_, _, err = reader.Agent().Service("x-1", nil)
	wantForbidden(t, "read x with a forgotten token", err)
	if _, err := c.Client(t).Agent().Self(); err != nil {
		t.Fatalf("management token after restart: %v", err)
	}
}

// wantForbidden fails t unless err is a 403 from the ACL system.
func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	var status api.StatusError
	if !errors.As(err, &status) || status.Code != http.StatusForbidden ||
		!strings.Contains(status.Body, "Permission denied") && !strings.Contains(status.Body, "ACL not found") {
		t.Fatalf("%s: got error %v, want 403 Permission denied or ACL not found", what, err)
	}
}

func TestConsulTLS(t *testing.T) {
	start := time.Now()
	c := StartConsul(t, WithConsulTLS())
	t.Logf("ready in %s", time.Since(start))
	if c.Scheme() != "https" {
		t.Fatalf("scheme %q, want https", c.Scheme())
	}
	if pem, err := os.ReadFile(c.CAFile()); err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("CA file %s: %v", c.CAFile(), err)
	}
	registerAndAwait(t, c.Client(t), "secure")

	// Trusting only the system roots, a client rejects the agent.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	untrusting, err := api.NewClient(&api.Config{
		Address: c.Address(), Scheme: "https", HttpClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = untrusting.Status().Leader()
	if err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("a client without the CA got error %v, want an x509 one", err)
	}
	// Plain HTTP is not served on the API port.
	plain := c.Config()
	plain.Scheme = "http"
	plainCli, err := api.NewClient(plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plainCli.Status().Leader(); err == nil {
		t.Fatal("the HTTPS port answered plain HTTP")
	}
}

func TestConsulBinaryMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-consul")
	t.Setenv("KITEXSUITE_CONSUL", missing)
	_, err := ConsulBinary()
	if err == nil || !strings.Contains(err.Error(), "scripts/build-consul.sh") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("ConsulBinary with a missing file: %v, want an error naming it and scripts/build-consul.sh", err)
	}
	t.Setenv("KITEXSUITE_CONSUL", "")
	t.Setenv("KITEXSUITE_CACHE", "/nonexistent/cache")
	if _, err := ConsulBinary(); err == nil || !strings.Contains(err.Error(), "/nonexistent/cache/bin/consul-v1.22.0") {
		t.Fatalf("ConsulBinary under KITEXSUITE_CACHE: %v, want the cache path", err)
	}
}

// TestConsulRestartWaitsForPort checks that a start on a held port fails
// with the agent's log, and that Restart retries until the port is free.
func TestConsulRestartWaitsForPort(t *testing.T) {
	c := StartConsul(t)
	c.Stop()
	l, err := net.Listen("tcp", c.Address())
	if err != nil {
		t.Fatalf("hold the API port: %v", err)
	}
	if err := c.start(0); err == nil || !strings.Contains(err.Error(), "exited") || !c.log.inUse() {
		l.Close()
		t.Fatalf("start on a held port: got error %v (port in use logged: %v), want an exit", err, c.log.inUse())
	}
	release := time.AfterFunc(300*time.Millisecond, func() { l.Close() })
	defer release.Stop()
	c.Restart(t)
	if _, err := c.Client(t).Status().Leader(); err != nil {
		t.Fatalf("leader after restart: %v", err)
	}
}
