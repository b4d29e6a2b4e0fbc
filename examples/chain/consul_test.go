package chain

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConsulClientFromEnvironment: the consul registry's client is built
// from consul/api's DefaultConfig, so the CONSUL_* variables the chart
// sets reach it — an https:// CONSUL_HTTP_ADDR, the CA, a client
// certificate and the ACL token. The agent here is an HTTPS server that
// requires a client certificate of the test CA and answers the resolver's
// health query.
func TestConsulClientFromEnvironment(t *testing.T) {
	p := newTestPKI(t)
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	serverPair, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		seen    []string // token and client certificate of each request
		queried = make(chan struct{}, 1)
	)
	agent := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Consul-Token")+" "+r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/v1/health/service/orders") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("index") != "" { // a blocking query: nothing changes
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}
		w.Header().Set("X-Consul-Index", "7")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]"))
		select {
		case queried <- struct{}{}:
		default:
		}
	}))
	agent.TLS = &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	agent.StartTLS()
	defer agent.Close()

	t.Setenv("CONSUL_HTTP_ADDR", agent.URL) // https://127.0.0.1:port
	t.Setenv("CONSUL_CACERT", p.CA)
	t.Setenv("CONSUL_CLIENT_CERT", p.ClientCert)
	t.Setenv("CONSUL_CLIENT_KEY", p.ClientKey)
	t.Setenv("CONSUL_HTTP_TOKEN", "acl-token-from-secret")
	_, resolver, _, closeDiscovery, err := discoveryFor(Config{Service: Gateway, Registry: "consul"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDiscovery()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := resolver.Resolve(ctx, "orders")
	if err != nil {
		t.Fatalf("resolve through the TLS agent: %v", err)
	}
	if len(res.Instances) != 0 {
		t.Errorf("resolved %v, want the agent's empty list", res.Instances)
	}
	<-queried
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if s != "acl-token-from-secret client" {
			t.Errorf("the agent saw token and client certificate %q, want %q", s, "acl-token-from-secret client")
		}
	}
}

// TestConsulClientBadFiles: an unreadable or malformed CONSUL_* file is
// an error from discoveryFor (so from Run, before serving) that says it
// came from the Consul client's environment.
func TestConsulClientBadFiles(t *testing.T) {
	p := newTestPKI(t)
	garbage := writeFile(t, "garbage.pem", "not a certificate\n")
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing CA", map[string]string{"CONSUL_CACERT": "/nonexistent/ca.crt"}, "/nonexistent/ca.crt"},
		{"malformed CA", map[string]string{"CONSUL_CACERT": garbage}, "PEM"},
		{"malformed client cert", map[string]string{"CONSUL_CACERT": p.CA, "CONSUL_CLIENT_CERT": garbage, "CONSUL_CLIENT_KEY": p.ClientKey}, "tls:"},
		{"missing token file", map[string]string{"CONSUL_HTTP_TOKEN_FILE": "/nonexistent/token"}, "/nonexistent/token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CONSUL_HTTP_ADDR", "https://127.0.0.1:8501")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, _, _, closeDiscovery, err := discoveryFor(Config{Service: Orders, Registry: "consul"}, nil)
			if err == nil {
				closeDiscovery()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "consul client (CONSUL_* environment)") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want the consul client's, mentioning %q", err, c.want)
			}
		})
	}
}
