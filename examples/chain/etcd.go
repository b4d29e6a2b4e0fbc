package chain

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// etcdClientConfig is the etcd client configuration of c: its endpoints,
// TLS when a CA or client certificate is given, and etcd auth when a
// username is. Every file is read here, so a missing or malformed one is
// an error at startup that names the flag and file, not a dial failure
// retried forever.
func etcdClientConfig(c Config) (clientv3.Config, error) {
	cfg := clientv3.Config{
		Endpoints: strings.Split(c.EtcdEndpoints, ","), DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: time.Second})},
	}
	tlsCfg, err := c.Etcd.tlsConfig()
	if err != nil {
		return clientv3.Config{}, err
	}
	cfg.TLS = tlsCfg
	switch s := c.Etcd; {
	case s.Username != "" && s.Password == "":
		return clientv3.Config{}, errors.New("etcd: -etcd-username (KITEXSUITE_ETCD_USERNAME) is set but KITEXSUITE_ETCD_PASSWORD is empty")
	case s.Username == "" && s.Password != "":
		return clientv3.Config{}, errors.New("etcd: KITEXSUITE_ETCD_PASSWORD is set but -etcd-username (KITEXSUITE_ETCD_USERNAME) is empty")
	}
	cfg.Username, cfg.Password = c.Etcd.Username, c.Etcd.Password
	return cfg, nil
}

// tlsConfig is the client TLS configuration s describes, or nil for
// plain-text: TLS is on when a CA or a client certificate is given.
// Without a CA the system roots verify the server (the example images,
// FROM scratch, have none: give the CA).
func (s EtcdSecurity) tlsConfig() (*tls.Config, error) {
	if s.CACert == "" && s.Cert == "" && s.Key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CACert != "" {
		pem, err := os.ReadFile(s.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcd: CA file (-etcd-cacert, KITEXSUITE_ETCD_CACERT): %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd: CA file %s (-etcd-cacert, KITEXSUITE_ETCD_CACERT) holds no PEM certificate", s.CACert)
		}
	}
	switch {
	case s.Cert != "" && s.Key != "":
		pair, err := tls.LoadX509KeyPair(s.Cert, s.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd: client certificate %s and key %s (-etcd-cert, -etcd-key; KITEXSUITE_ETCD_CERT, KITEXSUITE_ETCD_KEY): %w", s.Cert, s.Key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case s.Cert != "" || s.Key != "":
		return nil, errors.New("etcd: a client certificate needs both -etcd-cert and -etcd-key (KITEXSUITE_ETCD_CERT, KITEXSUITE_ETCD_KEY)")
	}
	return cfg, nil
}
