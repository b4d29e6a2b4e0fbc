package chain

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTLSEtcd runs a single-member etcd whose client URL is https and
// requires a client certificate signed by p's CA, and returns that URL.
func startTLSEtcd(t *testing.T, p testPKI) string {
	t.Helper()
	return startEmbeddedEtcd(t, "tls", "https", func(cfg *embed.Config) {
		tlsInfo := &cfg.ClientTLSInfo
		tlsInfo.CertFile, tlsInfo.KeyFile, tlsInfo.TrustedCAFile, tlsInfo.ClientCertAuth = p.ServerCert, p.ServerKey, p.CA, true
	})
}

// newEtcdClient builds c's etcd client configuration and dials it.
func newEtcdClient(t *testing.T, c Config) (*clientv3.Client, error) {
	t.Helper()
	cfg, err := etcdClientConfig(c)
	if err != nil {
		t.Fatalf("etcdClientConfig: %v", err)
	}
	cfg.Logger = zap.NewNop()
	cli, err := clientv3.New(cfg)
	if err == nil {
		t.Cleanup(func() { _ = cli.Close() })
	}
	return cli, err
}

// TestEtcdClientTLSAndAuth runs an etcd that wants mutual TLS and, once
// set up, etcd auth, and connects with the client configuration the
// binaries build from -etcd-cacert/-etcd-cert/-etcd-key and
// KITEXSUITE_ETCD_USERNAME/PASSWORD: it gets in with the right password
// and is refused with a wrong one or none.
func TestEtcdClientTLSAndAuth(t *testing.T) {
	p := newTestPKI(t)
	endpoint := startTLSEtcd(t, p)
	tlsOnly := Config{EtcdEndpoints: endpoint, Etcd: EtcdSecurity{CACert: p.CA, Cert: p.ClientCert, Key: p.ClientKey}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	admin, err := newEtcdClient(t, tlsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "/kitexsuite/tls", "ok"); err != nil {
		t.Fatalf("put over mutual TLS: %v", err)
	}
	if _, err := admin.UserAdd(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}

	withAuth := tlsOnly
	withAuth.Etcd.Username, withAuth.Etcd.Password = "root", "s3cret"
	cli, err := newEtcdClient(t, withAuth)
	if err != nil {
		t.Fatalf("connect with TLS and the right password: %v", err)
	}
	if _, err := cli.Put(ctx, "/kitexsuite/auth", "ok"); err != nil {
		t.Fatalf("put with auth: %v", err)
	}

	wrong := withAuth
	wrong.Etcd.Password = "guess"
	// etcd's rpctypes.ErrAuthFailed, by its text: the examples module
	// does not require etcd's api module directly.
	if _, err := newEtcdClient(t, wrong); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("connect with a wrong password: %v, want etcd's authentication failure", err)
	}
	// Without credentials, etcd takes the client certificate's common name
	// ("client") as the user, which does not exist.
	anon, err := newEtcdClient(t, tlsOnly)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Put(ctx, "/kitexsuite/anon", "no"); err == nil {
		t.Error("put without credentials succeeded on an etcd with auth enabled")
	}
}

// TestEtcdClientConfigErrors: a missing or malformed TLS file, half a
// client key pair or half of username/password is an error naming what
// to fix, before anything dials.
func TestEtcdClientConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	garbage := writeFile(t, "garbage.pem", "not a certificate\n")
	for _, c := range []struct {
		name string
		sec  EtcdSecurity
		want []string
	}{
		{"missing CA", EtcdSecurity{CACert: "/nonexistent/ca.crt"}, []string{"KITEXSUITE_ETCD_CACERT", "/nonexistent/ca.crt", "no such file"}},
		{"malformed CA", EtcdSecurity{CACert: garbage}, []string{"KITEXSUITE_ETCD_CACERT", garbage, "no PEM certificate"}},
		{"malformed client cert", EtcdSecurity{CACert: p.CA, Cert: garbage, Key: p.ClientKey}, []string{"KITEXSUITE_ETCD_CERT", garbage}},
		{"key of another cert", EtcdSecurity{CACert: p.CA, Cert: p.ClientCert, Key: p.ServerKey}, []string{"KITEXSUITE_ETCD_KEY", "private key does not match"}},
		{"cert without key", EtcdSecurity{CACert: p.CA, Cert: p.ClientCert}, []string{"needs both -etcd-cert and -etcd-key"}},
		{"username without password", EtcdSecurity{Username: "root"}, []string{"KITEXSUITE_ETCD_PASSWORD is empty"}},
		{"password without username", EtcdSecurity{Password: "x"}, []string{"KITEXSUITE_ETCD_USERNAME) is empty"}},
	} {
		_, err := etcdClientConfig(Config{EtcdEndpoints: "127.0.0.1:2379", Etcd: c.sec})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
	cfg, err := etcdClientConfig(Config{EtcdEndpoints: "a:2379,b:2379"})
	if err != nil || cfg.TLS != nil || cfg.Username != "" || !slices.Equal(cfg.Endpoints, []string{"a:2379", "b:2379"}) {
		t.Errorf("plain config: %+v, %v; want two endpoints, no TLS, no auth", cfg, err)
	}
	// The binaries report it from Run, as an error, before serving.
	if _, _, _, _, err := discoveryFor(Config{Registry: "etcd", EtcdEndpoints: "127.0.0.1:2379", Etcd: EtcdSecurity{CACert: garbage}}, nil); err == nil || !strings.Contains(err.Error(), "KITEXSUITE_ETCD_CACERT") {
		t.Errorf("discoveryFor with a malformed CA: %v", err)
	}
}
