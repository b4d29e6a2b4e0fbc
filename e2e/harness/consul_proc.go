package harness

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// args returns the agent's command line.
func (c *Consul) args() []string {
	if c.cluster != nil {
		return c.clusterArgs()
	}
	httpPort, httpsPort := port(c.api), "-1"
	if c.certs != nil {
		httpPort, httpsPort = "-1", port(c.api)
	}
	return []string{
		"agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", httpPort, "-https-port", httpsPort,
		"-serf-lan-port", port(c.serfLAN), "-serf-wan-port", port(c.serfWAN),
		"-server-port", port(c.server),
		"-grpc-port", "-1", "-grpc-tls-port", "-1", "-dns-port", "-1",
		"-node", c.node, "-log-level", "warn",
		"-config-file", filepath.Join(c.dir, "harness.hcl"),
	}
}

// writeConfig writes the agent's configuration file: the ACL and TLS
// settings that have no flags.
func (c *Consul) writeConfig() error {
	hcl := "disable_update_check = true\n"
	if c.cluster != nil {
		hcl += clusterConfig
	}
	if c.token != "" {
		hcl += c.aclConfig()
	}
	if c.certs != nil {
		hcl += fmt.Sprintf(`tls {
  https {
    ca_file   = %q
    cert_file = %q
    key_file  = %q
  }
}
`, c.certs.caFile, c.certs.certFile, c.certs.keyFile)
	}
	return os.WriteFile(filepath.Join(c.dir, "harness.hcl"), []byte(hcl), 0o600)
}

// aclConfig is the agent's acl block: deny by default, the agent's own
// token for its node, and on a server the management token it bootstraps
// ACLs with. A cluster agent persists tokens set through the API in its
// data dir (which a wiped restart loses; the configured ones stay).
func (c *Consul) aclConfig() string {
	persist := c.cluster != nil
	tokens := fmt.Sprintf("    agent = %q\n", c.agentToken)
	if c.cluster == nil || c.cluster.server {
		tokens = fmt.Sprintf("    initial_management = %q\n", c.token) + tokens
	}
	return fmt.Sprintf(`acl {
  enabled                  = true
  default_policy           = "deny"
  enable_token_persistence = %t
  tokens {
%s  }
}
`, persist, tokens)
}

// start starts the agent and waits until it is ready. For up to relisten it
// starts again while an agent exits because a port is still in use.
func (c *Consul) start(relisten time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return errors.New("consul is already running")
	}
	deadline := time.Now().Add(relisten)
	for {
		p, err := c.spawn()
		if err != nil {
			return err
		}
		err = c.awaitReady(p)
		if err == nil {
			c.proc = p
			return nil
		}
		_ = p.Stop(consulStopTimeout)
		if !c.log.inUse() || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // wait for the port to be free again
	}
}

// spawn starts the agent process in a process group of its own.
func (c *Consul) spawn() (*Process, error) {
	return spawnProcess(ProcessSpec{Name: "consul", Path: c.bin, Args: c.args(), Dir: c.dir}, c.log, consulEnv())
}

// consulEnv is the agent's environment: the test's, without CONSUL_* and
// HCP_* variables that could change its configuration.
func consulEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSUL_") && !strings.HasPrefix(kv, "HCP_") {
			env = append(env, kv)
		}
	}
	return env
}

// awaitReady polls the agent until it is ready, exits or times out.
func (c *Consul) awaitReady(p *Process) error {
	probe := &consulProbe{c: c, tr: newTransport(c.certs.clientTLS())}
	defer probe.tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), consulReadyTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var last error
	for {
		if last = probe.ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("consul exited before it was ready (%v): %v", p.err, last)
		default:
		}
		select {
		case <-ctx.Done(): // timed out, or exited: checked on the next turn
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("consul not ready after %s: %v", consulReadyTimeout, last)
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// consulStarted counts agents and policies, to name each uniquely.
var consulStarted atomic.Int64

// consulNodeName returns a node name unique on the machine (Consul wants
// DNS labels: letters, digits and '-', at most 63 characters; lower case,
// as an ACL node identity requires).
func consulNodeName(tb testing.TB) string {
	prefix := fmt.Sprintf("harness-%d-%d-", os.Getpid(), consulStarted.Add(1))
	return strings.TrimRight(prefix+strings.ToLower(consulSafeName(tb.Name(), 63-len(prefix))), "-")
}

// consulSafeName maps s to letters, digits and '-', at most max bytes.
func consulSafeName(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s)
	return s[:min(len(s), max)]
}

// freeConsulPorts returns four distinct loopback addresses free for TCP,
// and for UDP too (serf gossips over both): API, serf LAN, serf WAN, server.
func freeConsulPorts() ([]string, error) {
	var addrs []string
	for tries := 0; len(addrs) < 4; tries++ {
		if tries == 100 {
			return nil, errors.New("find free loopback TCP+UDP ports: too many tries")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		defer l.Close() // held until all are found, so they differ
		u, err := net.ListenPacket("udp", l.Addr().String())
		if err != nil {
			continue // UDP side taken: try another port
		}
		u.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// port returns the port of a host:port address.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// newUUID returns a random (version 4) UUID, the form Consul's tokens take.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
