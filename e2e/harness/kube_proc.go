package harness

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// apiServerArgs returns kube-apiserver's command line.
func (k *Kube) apiServerArgs() []string {
	f := k.files
	return []string{
		"--etcd-servers=" + strings.Join(k.etcd.Endpoints(), ","),
		"--bind-address=127.0.0.1",
		"--secure-port=" + port(k.api),
		"--cert-dir=" + k.dir,
		"--tls-cert-file=" + f.cert,
		"--tls-private-key-file=" + f.key,
		"--client-ca-file=" + f.ca,
		"--token-auth-file=" + f.tokens,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + f.saPub,
		"--service-account-signing-key-file=" + f.saKey,
		"--authorization-mode=RBAC",
		// Dual-stack, IPv4 first: a Service asking for both families gets
		// a ClusterIP of each, and the EndpointSlice controller a slice per
		// family, as on a dual-stack cluster.
		"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112",
		// Publish no endpoint for the "kubernetes" Service: the API server
		// would publish an address of its own, loopback (which
		// EndpointSlices reject) or another interface's, where it does not
		// listen.
		"--endpoint-reconciler-type=none",
		// On SIGTERM, give open connections 2 s to close rather than the
		// request timeout (60 s): the controller manager's watches keep
		// them open.
		"--shutdown-send-retry-after=true",
		"--profiling=false",
	}
}

// controllerManagerArgs returns kube-controller-manager's command line.
func (k *Kube) controllerManagerArgs() []string {
	f := k.files
	return []string{
		"--kubeconfig=" + f.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + port(k.cm),
		"--tls-cert-file=" + f.cert,
		"--tls-private-key-file=" + f.key,
		"--controllers=" + strings.Join(kubeControllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file=" + f.saKey,
		"--root-ca-file=" + f.ca,
		"--profiling=false",
	}
}

// kubeFiles are the paths of the files the control plane reads.
type kubeFiles struct {
	ca, cert, key string // the test CA and the serving certificate it signed
	saKey, saPub  string // the service-account signing key pair
	tokens        string // the static token file (the admin token)
	kubeconfig    string // the controller manager's: CA and admin token
}

// writeKubeFiles generates the certificates, keys, token file and
// kubeconfig of a control plane whose API server serves on api, into dir.
// It returns the files, the PEM of the CA and the admin token.
func writeKubeFiles(dir, api string) (files kubeFiles, caPEM []byte, token string, err error) {
	files = kubeFiles{
		ca:         filepath.Join(dir, "ca.crt"),
		cert:       filepath.Join(dir, "serving.crt"),
		key:        filepath.Join(dir, "serving.key"),
		saKey:      filepath.Join(dir, "sa.key"),
		saPub:      filepath.Join(dir, "sa.pub"),
		tokens:     filepath.Join(dir, "tokens.csv"),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
	}
	// The CA and serving certificate are those of the Consul harness: a
	// CA and a certificate for 127.0.0.1, ::1 and localhost.
	certs, err := writeConsulCerts(dir)
	if err != nil {
		return files, nil, "", err
	}
	for _, mv := range [][2]string{{certs.caFile, files.ca}, {certs.certFile, files.cert}, {certs.keyFile, files.key}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			return files, nil, "", err
		}
	}
	if caPEM, err = os.ReadFile(files.ca); err != nil {
		return files, nil, "", err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return files, nil, "", err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return files, nil, "", err
	}
	token = randomToken()
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: harness
  cluster:
    server: https://%s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: harness
  context:
    cluster: harness
    user: admin
current-context: harness
`, api, files.ca, token)
	for _, f := range []struct {
		path string
		data []byte
	}{
		{files.saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})},
		{files.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub})},
		{files.tokens, []byte(token + ",admin,admin,system:masters\n")},
		{files.kubeconfig, []byte(kubeconfig)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return files, nil, "", err
		}
	}
	return files, caPEM, token, nil
}

// randomToken returns a random bearer token.
func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startProc starts a control-plane process and waits until url (a health
// endpoint on the process's own port) answers 200. For up to relisten it
// starts again while the process exits because its port is still in use.
func (k *Kube) startProc(name string, args []string, log *lineWriter, url string, relisten time.Duration) (*Process, error) {
	deadline := time.Now().Add(relisten)
	for {
		p, err := k.spawn(name, args, log)
		if err != nil {
			return nil, err
		}
		err = k.awaitHealthy(p, url)
		if err == nil {
			return p, nil
		}
		_ = p.Stop(kubeStopTimeout)
		if !log.inUse() || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond) // wait for the port to be free again
	}
}

// spawn starts a control-plane process in a process group of its own.
func (k *Kube) spawn(name string, args []string, log *lineWriter) (*Process, error) {
	return spawnProcess(ProcessSpec{Name: name, Path: filepath.Join(k.bins, name), Args: args, Dir: k.dir}, log, kubeEnv())
}

// kubeEnv is the processes' environment: the test's, without KUBECONFIG.
func kubeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	return env
}

// awaitHealthy polls url (with the admin token) until it answers 200, the
// process exits or kubeReadyTimeout passes.
func (k *Kube) awaitHealthy(p *Process, url string) error {
	tr := newTransport(&tls.Config{RootCAs: k.roots, MinVersion: tls.VersionTLS12})
	defer tr.CloseIdleConnections()
	return p.awaitReady(kubeReadyTimeout, func(ctx context.Context) error { return k.probe(ctx, tr, url) })
}

// probe returns nil if a GET of url answers 200.
func (k *Kube) probe(ctx context.Context, tr *http.Transport, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, lastLines(string(body), 10))
	}
	return nil
}

// lastLines returns the last n lines of s (health endpoints list their
// failing checks last when verbose).
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// parseCA returns a pool holding the certificates of caPEM.
func parseCA(caPEM []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA file")
	}
	return pool, nil
}

// startAPIServer starts kube-apiserver and waits for /readyz.
func (k *Kube) startAPIServer(relisten time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.apiProc != nil {
		return errors.New("kube-apiserver is already running")
	}
	p, err := k.startProc("kube-apiserver", k.apiServerArgs(), k.apiLog, k.Host()+"/readyz", relisten)
	k.apiProc = p
	return err
}

// startControllerManager starts kube-controller-manager and waits for
// /healthz.
func (k *Kube) startControllerManager() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmProc != nil {
		return errors.New("kube-controller-manager is already running")
	}
	p, err := k.startProc("kube-controller-manager", k.controllerManagerArgs(), k.cmLog, "https://"+k.cm+"/healthz", kubeRelistenTimeout)
	k.cmProc = p
	return err
}

// awaitServiceAccount waits until the serviceaccount controller has made
// the "default" ServiceAccount of namespace, without which Pods are not
// admitted there.
func (k *Kube) awaitServiceAccount(ctx context.Context, namespace string) error {
	cs, hc, err := k.clientset()
	if err != nil {
		return err
	}
	defer utilnet.CloseIdleConnectionsFor(hc.Transport)
	var last error
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, kubeAwaitTimeout, true, func(ctx context.Context) (bool, error) {
		_, last = cs.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("ServiceAccount %s/default: %w (last: %v)", namespace, err, last)
	}
	return nil
}

// roundTripperSet remembers the transports of the configurations a Kube
// hands out, to close their idle connections when it stops.
type roundTripperSet struct {
	mu  sync.Mutex
	rts []http.RoundTripper
}

// wrap is a rest.Config's WrapTransport: it notes rt and returns it.
func (s *roundTripperSet) wrap(rt http.RoundTripper) http.RoundTripper {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.rts {
		if old == rt {
			return rt
		}
	}
	s.rts = append(s.rts, rt)
	return rt
}

// closeIdle closes the idle connections of every transport noted.
func (s *roundTripperSet) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.rts {
		utilnet.CloseIdleConnectionsFor(rt)
	}
}
