package harness

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// consulProbe asks an agent whether it is ready.
type consulProbe struct {
	c  *Consul
	tr *http.Transport
}

// ready returns nil once the agent has a leader, answers /v1/agent/self
// (with the management token under ACL) and lists its own node in the
// catalog (the leader has reconciled it; a cluster's client agent under
// ACL has also synced it with its agent token), or the first condition
// not met.
func (p *consulProbe) ready(ctx context.Context) error {
	leader, err := p.get(ctx, "/v1/status/leader")
	if err != nil {
		return err
	}
	if leader = bytes.TrimSpace(leader); len(leader) == 0 || string(leader) == `""` {
		return fmt.Errorf("no leader yet (/v1/status/leader: %s)", leader)
	}
	if _, err := p.get(ctx, "/v1/agent/self"); err != nil {
		return err
	}
	node, err := p.get(ctx, "/v1/catalog/node/"+p.c.node)
	if err != nil {
		return err
	}
	if string(bytes.TrimSpace(node)) == "null" {
		return fmt.Errorf("node %s not in the catalog yet", p.c.node)
	}
	if p.c.cluster != nil && !p.c.cluster.server && p.c.token != "" {
		return nodeSynced(p.c.node, node)
	}
	return nil
}

// nodeSynced reports whether a client agent has synced its own node: the
// leader puts a joining node in the catalog without tagged addresses, the
// agent's anti-entropy adds them, which under "deny" takes the node:write
// of its agent token (refused, the agent logs "Node info update blocked
// by ACLs" and goes on without).
func nodeSynced(name string, body []byte) error {
	var n struct {
		Node struct{ TaggedAddresses map[string]string }
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return fmt.Errorf("decode /v1/catalog/node/%s: %w", name, err)
	}
	if len(n.Node.TaggedAddresses) == 0 {
		return fmt.Errorf("node %s has not synced its node info (its agent token?)", name)
	}
	return nil
}

// get returns the body of a GET of path, an error unless the status is 200.
func (p *consulProbe) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := p.c.Scheme() + "://" + p.c.api + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if p.c.token != "" {
		req.Header.Set("X-Consul-Token", p.c.token)
	}
	resp, err := (&http.Client{Transport: p.tr}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// newTransport returns a pooled HTTP transport (http.DefaultTransport's
// settings, more idle connections per host for concurrent blocking
// queries) trusting tlsConfig's roots if tlsConfig is not nil.
func newTransport(tlsConfig *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.TLSClientConfig = tlsConfig
	return tr
}

// transportSet remembers the transports handed to clients, to close their
// idle connections when the test ends.
type transportSet struct {
	mu  sync.Mutex
	trs []*http.Transport
}

// add returns a new transport (see newTransport) that closeIdle will close.
func (s *transportSet) add(tlsConfig *tls.Config) *http.Transport {
	tr := newTransport(tlsConfig)
	s.mu.Lock()
	s.trs = append(s.trs, tr)
	s.mu.Unlock()
	return tr
}

// closeIdle closes the idle connections of every transport add made.
func (s *transportSet) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tr := range s.trs {
		tr.CloseIdleConnections()
	}
}

// lineWriter passes a process's output to a logRing a whole line at a
// time, and notes whether a line said a port was in use.
type lineWriter struct {
	ring     *logRing
	sawInUse atomic.Bool
	mu       sync.Mutex
	buf      []byte // an unfinished last line
}

// Write stores the complete lines of buf+p, keeping the rest for later.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
		w.emit(w.buf[:i+1])
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
	if len(w.buf) > 64<<10 { // a line too long to wait for
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// flush stores an unfinished last line, if any.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) emit(lines []byte) {
	if bytes.Contains(lines, []byte("address already in use")) {
		w.sawInUse.Store(true)
	}
	_, _ = w.ring.Write(lines)
}

// inUse reports whether the process said a port was in use.
func (w *lineWriter) inUse() bool { return w.sawInUse.Load() }

// consulCerts are the PEM files of a test CA and of the agent's
// certificate it signed, for 127.0.0.1, ::1 and localhost.
type consulCerts struct {
	caFile, certFile, keyFile string
	roots                     *x509.CertPool
	ca                        *testCA // signs more certificates (issueFiles)
}

// clientTLS returns a client TLS configuration trusting the test CA, or nil
// for a nil c (no TLS).
func (c *consulCerts) clientTLS() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{RootCAs: c.roots, MinVersion: tls.VersionTLS12}
}

// writeConsulCerts generates a CA and a server certificate (ECDSA P-256,
// valid for a day) and writes them to dir.
func writeConsulCerts(dir string) (*consulCerts, error) {
	return writeTestCerts(dir, "server.dc1.consul", net.IPv4(127, 0, 0, 1), net.IPv6loopback)
}

// writeTestCerts generates a CA and a certificate it signed for cn,
// localhost and ips (server and client use), and writes them to dir.
func writeTestCerts(dir, cn string, ips ...net.IP) (*consulCerts, error) {
	ca, err := newTestCA()
	if err != nil {
		return nil, err
	}
	c := &consulCerts{caFile: filepath.Join(dir, "ca.pem"), roots: x509.NewCertPool(), ca: ca}
	c.roots.AddCert(ca.cert)
	if err := os.WriteFile(c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		return nil, err
	}
	if c.certFile, c.keyFile, err = c.issueFiles(dir, "server", cn, ips...); err != nil {
		return nil, err
	}
	return c, nil
}

// issueFiles writes a certificate the test CA signed for cn, localhost and
// ips (server and client use) to dir as name.pem and name-key.pem.
func (c *consulCerts) issueFiles(dir, name, cn string, ips ...net.IP) (certFile, keyFile string, err error) {
	der, keyDER, err := c.ca.issue(cn, ips)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// testCA is a certificate authority made for one harness instance (ECDSA
// P-256, valid for a day).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA() (*testCA, error) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kitexsuite harness test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key}, nil
}

// issue returns the DER certificate and PKCS #8 key of a certificate ca
// signed for cn, localhost and ips.
func (ca *testCA) issue(cn string, ips []net.IP) (der, keyDER []byte, err error) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{"localhost", cn},
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key); err != nil {
		return nil, nil, fmt.Errorf("create certificate for %s: %w", cn, err)
	}
	if keyDER, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return nil, nil, err
	}
	return der, keyDER, nil
}

// serial returns a random certificate serial number.
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
