package harness

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Throttle is an HTTPS reverse proxy in front of the API server that can
// answer every request 429 Too Many Requests with Retry-After, as API
// Priority and Fairness does to a flow whose priority level is saturated.
// Clients built from Config reach the API server through it.
type Throttle struct {
	ln   net.Listener
	srv  *http.Server
	host string
	ca   []byte
	tok  string

	on       atomic.Bool
	answered atomic.Int64 // 429s sent

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// StartThrottle starts the proxy on a free loopback port, serving with the
// API server's certificate (valid for 127.0.0.1), until tb's test ends.
func (k *Kube) StartThrottle(tb testing.TB) *Throttle {
	tb.Helper()
	cert, err := tls.LoadX509KeyPair(k.files.cert, k.files.key)
	if err != nil {
		tb.Fatalf("kube harness: throttle: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.caPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		tb.Fatalf("kube harness: throttle: %v", err)
	}
	upstream := &url.URL{Scheme: "https", Host: k.api}
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.FlushInterval = -1 // watches stream
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	th := &Throttle{ln: ln, host: "https://" + ln.Addr().String(), ca: k.caPEM, tok: k.token, conns: map[net.Conn]struct{}{}}
	th.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if th.on.Load() {
				th.answered.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","code":429}`))
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ConnState: th.track,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = th.srv.Serve(ln) // http.ErrServerClosed once closed
	}()
	tb.Cleanup(func() {
		_ = th.srv.Close()
		<-done
	})
	return th
}

func (th *Throttle) track(c net.Conn, s http.ConnState) {
	th.mu.Lock()
	defer th.mu.Unlock()
	switch s {
	case http.StateNew:
		th.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(th.conns, c)
	}
}

// Config is a rest.Config for the admin token through the proxy.
func (th *Throttle) Config() *rest.Config {
	return &rest.Config{Host: th.host, BearerToken: th.tok, TLSClientConfig: rest.TLSClientConfig{CAData: th.ca}}
}

// Clientset is a clientset of Config.
func (th *Throttle) Clientset(tb testing.TB) *kubernetes.Clientset {
	tb.Helper()
	cs, err := kubernetes.NewForConfig(th.Config())
	if err != nil {
		tb.Fatalf("kube harness: throttle: %v", err)
	}
	return cs
}

// Start answers every request from now on 429 and closes the open
// connections, so that watches end and their clients must list again —
// what clients see when the API server restarts, or their watches time
// out, while their priority level is saturated.
func (th *Throttle) Start() {
	th.on.Store(true)
	th.mu.Lock()
	defer th.mu.Unlock()
	for c := range th.conns {
		_ = c.Close()
	}
}

// Stop forwards requests again.
func (th *Throttle) Stop() { th.on.Store(false) }

// Answered is how many requests the proxy answered 429.
func (th *Throttle) Answered() int64 { return th.answered.Load() }
