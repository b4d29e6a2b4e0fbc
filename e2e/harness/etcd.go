package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

const (
	// etcdReadyTimeout bounds how long a (re)started server may take to
	// become ready to serve clients.
	etcdReadyTimeout = 15 * time.Second
	// etcdRelistenTimeout bounds how long Restart retries while the kernel
	// still holds the old listening ports.
	etcdRelistenTimeout = 5 * time.Second
	// etcdDialTimeout is the DialTimeout of the clients Client makes.
	etcdDialTimeout = 5 * time.Second
)

// EtcdBackgroundGoroutines are the top functions of goroutines that the
// embedded etcd leaves running after Stop, which goroutine-leak checks must
// ignore. It is empty: with etcd v3.7.3, a stopped server and closed
// clients leave none (TestEtcdStopLeavesNoGoroutines checks it). Leak checks
// still list it, so that a future etcd's process-wide goroutine is ignored
// in one place.
var EtcdBackgroundGoroutines = []string{}

// Etcd is a real etcd server embedded in the test process, on free loopback
// ports. It is a single member with its data in a test's temporary
// directory; its log goes to a buffer shown when the test fails.
type Etcd struct {
	name    string
	dir     string
	client  url.URL
	peer    url.URL
	log     *logRing
	logger  *zap.Logger
	mu      sync.Mutex
	running *embed.Etcd // nil once stopped
}

// StartEtcd starts an etcd server and waits until it is ready. The server
// stops when tb's test ends, and its log is shown if the test failed.
func StartEtcd(tb testing.TB) *Etcd {
	tb.Helper()
	ports, err := freePorts(2)
	if err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
	e := &Etcd{
		name:   memberName(tb),
		dir:    tb.TempDir(),
		client: url.URL{Scheme: "http", Host: ports[0]},
		peer:   url.URL{Scheme: "http", Host: ports[1]},
		log:    &logRing{},
	}
	e.logger = e.log.logger()
	dumpOnFailure(tb, "etcd", e.log)
	tb.Cleanup(e.Stop)
	if err := e.start(0); err != nil {
		tb.Fatalf("etcd harness: %v (its log follows)", err)
	}
	return e
}

// Endpoints returns the client URLs of the server, the same across Restart.
func (e *Etcd) Endpoints() []string {
	return []string{e.client.String()}
}

// Client returns a new client of the server (DialTimeout 5s), closed when
// tb's test ends. Its log goes to the server's log buffer.
func (e *Etcd) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	c, err := e.newClient()
	if err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server and waits for it to finish. It keeps the data
// directory and ports, so that Restart brings the same data back on the same
// URLs. Stopping a stopped server does nothing.
func (e *Etcd) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running != nil {
		e.running.Close()
		e.running = nil
	}
}

// Restart stops the server if it is running, then starts it again on the
// same ports and data directory and waits until it is ready.
func (e *Etcd) Restart(tb testing.TB) {
	tb.Helper()
	e.Stop()
	if err := e.start(etcdRelistenTimeout); err != nil {
		tb.Fatalf("etcd harness: restart: %v (its log follows)", err)
	}
}

// Compact compacts the server's history up to its current revision and
// waits until the compaction is applied to the backend (physical).
func (e *Etcd) Compact(tb testing.TB) {
	tb.Helper()
	if err := e.compact(); err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
}

// compact compacts the history up to the current revision, physically.
func (e *Etcd) compact() error {
	c, err := e.newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), etcdReadyTimeout)
	defer cancel()
	// Any read reports the current revision in its header.
	resp, err := c.Get(ctx, "\x00harness-revision")
	if err != nil {
		return fmt.Errorf("read the current revision: %w", err)
	}
	rev := resp.Header.Revision
	if _, err := c.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compact to revision %d: %w", rev, err)
	}
	return nil
}

// ReconnectQuickly caps gRPC's reconnect backoff at one second. gRPC's
// default grows to two minutes, so after a long etcd outage a client may
// wait that long before it even tries again; production clients want the
// same option (see the registry/etcd package documentation).
func ReconnectQuickly() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: time.Second,
	})
}

// newClient returns a new client of the server logging to its log buffer.
func (e *Etcd) newClient() (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   e.Endpoints(),
		DialTimeout: etcdDialTimeout,
		Logger:      e.logger.Named("client"),
		DialOptions: []grpc.DialOption{ReconnectQuickly()},
	})
	if err != nil {
		return nil, fmt.Errorf("new client of %v: %w", e.Endpoints(), err)
	}
	return c, nil
}

// start starts the server and waits until it is ready. For up to relisten
// it retries while the ports are still in use.
func (e *Etcd) start(relisten time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running != nil {
		return errors.New("etcd is already running")
	}
	srv, err := startEmbedded(e.config, relisten)
	if err != nil {
		return fmt.Errorf("start etcd on %s (peer %s) in %s: %w", e.client.Host, e.peer.Host, e.dir, err)
	}
	e.running = srv
	return nil
}

// startEmbedded starts an embedded server from config and waits until it
// is ready. For up to relisten it retries while its ports are still in use.
func startEmbedded(config func() *embed.Config, relisten time.Duration) (*embed.Etcd, error) {
	deadline := time.Now().Add(relisten)
	for {
		srv, err := embed.StartEtcd(config())
		if err == nil {
			if err := awaitReady(srv); err != nil {
				srv.Close()
				return nil, err
			}
			return srv, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond) // poll the port until it is free again
	}
}

// config returns the configuration of a fresh start of the server.
func (e *Etcd) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = e.name
	cfg.Dir = e.dir
	cfg.ListenClientUrls = []url.URL{e.client}
	cfg.AdvertiseClientUrls = []url.URL{e.client}
	cfg.ListenPeerUrls = []url.URL{e.peer}
	cfg.AdvertisePeerUrls = []url.URL{e.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	cfg.AutoCompactionRetention = "0"   // no compaction but Compact's
	cfg.SocketOpts.ReuseAddress = true  // rebind despite TIME_WAIT on Restart
	cfg.TickMs, cfg.ElectionMs = 10, 50 // a lone member elects itself at once
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(e.logger.Named("server"))
	return cfg
}

// awaitReady waits until srv is ready to serve clients, fails or times out.
func awaitReady(srv *embed.Etcd) error {
	timer := time.NewTimer(etcdReadyTimeout)
	defer timer.Stop()
	select {
	case <-srv.Server.ReadyNotify():
		return nil
	case err := <-srv.Err():
		return fmt.Errorf("etcd failed before it was ready: %w", err)
	case <-srv.Server.StopNotify():
		return errors.New("etcd stopped before it was ready")
	case <-timer.C:
		return fmt.Errorf("etcd not ready after %s", etcdReadyTimeout)
	}
}

// etcdStarted counts the servers StartEtcd made, to name each uniquely.
var etcdStarted atomic.Int64

// memberName returns a name for a new server unique in the process, from
// tb's name with only the characters etcd names take as they are.
func memberName(tb testing.TB) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, tb.Name())
	return fmt.Sprintf("harness-%d-%s", etcdStarted.Add(1), safe)
}

// freePorts returns n distinct free loopback addresses, found by listening
// on port 0 and closing the listeners.
func freePorts(n int) ([]string, error) { return freePortsOn("127.0.0.1", n) }

// freePortsOn is freePorts on host, an address of this machine.
func freePortsOn(host string, n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port on %s: %w", host, err)
		}
		defer l.Close() // held until all are found, so they differ
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
