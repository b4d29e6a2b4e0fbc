package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// EtcdCluster is the etcd production runs: three members (embedded in the
// test process, each on a loopback address of its own), clients and peers
// over TLS with a CA made for the test, authentication on (a root user,
// and users made with User), and periodic auto-compaction every
// EtcdClusterCompaction, so watches that resume after a fault meet
// compacted revisions. Each member's peers reach it through a proxy
// (etcdLinks), so Isolate can cut one member off from the others while it
// keeps serving its clients.
type EtcdCluster struct {
	Members []*EtcdMember
	certs   *consulCerts
	token   string // the initial cluster token
	links   *etcdLinks
}

// EtcdClusterCompaction is the auto-compaction retention of an EtcdCluster.
const EtcdClusterCompaction = 2 * time.Second

const etcdRootPassword = "harness-root"

// EtcdMember is one member of an EtcdCluster.
type EtcdMember struct {
	cl     *EtcdCluster
	name   string
	dir    string
	ip     string
	log    *logRing
	logger *zap.Logger

	// The member's peer certificate, naming it (CommonName): what the
	// peer proxies tell members apart by.
	peerCertFile, peerKeyFile string
	peerCert                  tls.Certificate

	mu      sync.Mutex
	running *embed.Etcd
	started bool // the member has joined once (restarts use its data dir)
}

var etcdClusters atomic.Int64

// StartEtcdCluster starts the three members, waits until they serve, then
// creates the root user and enables authentication.
func StartEtcdCluster(tb testing.TB) *EtcdCluster {
	tb.Helper()
	n := etcdClusters.Add(1)
	base := fmt.Sprintf("127.%d.%d.", 200+os.Getpid()%50, n%250)
	var ips []net.IP
	cl := &EtcdCluster{token: fmt.Sprintf("harness-%d-%d", os.Getpid(), n)}
	for i := range 3 {
		ip := base + fmt.Sprint(i+1)
		if err := portsFree(ip, "2379", "2380", "2390"); err != nil {
			tb.Fatalf("etcd harness: %v", err)
		}
		ips = append(ips, net.ParseIP(ip))
		m := &EtcdMember{cl: cl, name: fmt.Sprintf("m%d", i+1), dir: tb.TempDir(), ip: ip, log: &logRing{}}
		m.logger = m.log.logger()
		dumpOnFailure(tb, "etcd "+m.name, m.log)
		tb.Cleanup(m.Stop)
		cl.Members = append(cl.Members, m)
	}
	certDir := tb.TempDir()
	certs, err := writeTestCerts(certDir, "etcd", ips...)
	if err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
	cl.certs = certs
	cl.links = &etcdLinks{conns: map[*peerLink]struct{}{}}
	tb.Cleanup(cl.links.close)
	serverCert, err := tls.LoadX509KeyPair(certs.certFile, certs.keyFile)
	if err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
	for _, m := range cl.Members {
		if m.peerCertFile, m.peerKeyFile, err = certs.issueFiles(certDir, m.name, m.name, ips...); err != nil {
			tb.Fatalf("etcd harness: %v", err)
		}
		if m.peerCert, err = tls.LoadX509KeyPair(m.peerCertFile, m.peerKeyFile); err != nil {
			tb.Fatalf("etcd harness: %v", err)
		}
	}
	server := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: certs.roots, MinVersion: tls.VersionTLS12}
	for _, m := range cl.Members {
		client := func(from string) *tls.Config {
			cfg := &tls.Config{RootCAs: certs.roots, ServerName: m.ip, MinVersion: tls.VersionTLS12}
			for _, o := range cl.Members {
				if o.name == from {
					cfg.Certificates = []tls.Certificate{o.peerCert}
				}
			}
			return cfg
		}
		u, real := m.peerURL(), m.realPeerURL()
		startPeerProxy(tb, cl.links, m.name, u.Host, real.Host, server, client)
	}
	// A new cluster's members wait for each other: start all, then wait.
	srvs := make([]*embed.Etcd, len(cl.Members))
	for i, m := range cl.Members {
		if srvs[i], err = embed.StartEtcd(m.config()); err != nil {
			tb.Fatalf("etcd harness: start %s: %v", m.name, err)
		}
	}
	for i, m := range cl.Members {
		if err := awaitReady(srvs[i]); err != nil {
			tb.Fatalf("etcd harness: %s: %v (its log follows)", m.name, err)
		}
		m.mu.Lock()
		m.running, m.started = srvs[i], true
		m.mu.Unlock()
	}
	if err := cl.enableAuth(); err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
	return cl
}

func (m *EtcdMember) clientURL() url.URL { return url.URL{Scheme: "https", Host: m.ip + ":2379"} }
func (m *EtcdMember) peerURL() url.URL   { return url.URL{Scheme: "https", Host: m.ip + ":2380"} }

// realPeerURL is where the member listens for its peers; they dial
// peerURL, its proxy.
func (m *EtcdMember) realPeerURL() url.URL { return url.URL{Scheme: "https", Host: m.ip + ":2390"} }

func (m *EtcdMember) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cfg.ListenClientUrls = []url.URL{m.clientURL()}
	cfg.AdvertiseClientUrls = []url.URL{m.clientURL()}
	cfg.ListenPeerUrls = []url.URL{m.realPeerURL()}
	cfg.AdvertisePeerUrls = []url.URL{m.peerURL()}
	var peers []string
	for _, o := range m.cl.Members {
		u := o.peerURL()
		peers = append(peers, o.name+"="+u.String())
	}
	cfg.InitialCluster = strings.Join(peers, ",")
	cfg.InitialClusterToken = m.cl.token
	cfg.ClusterState = embed.ClusterStateFlagNew
	// Clients authenticate with a password (a trusted CA here would make
	// etcd ask them for certificates too); peers with certificates.
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: m.cl.certs.certFile, KeyFile: m.cl.certs.keyFile}
	cfg.PeerTLSInfo = transport.TLSInfo{CertFile: m.peerCertFile, KeyFile: m.peerKeyFile,
		TrustedCAFile: m.cl.certs.caFile, ClientCertAuth: true}
	// JWT tokens, as etcd recommends for production: a member that
	// restarts still accepts the tokens the others issued (the default
	// "simple" tokens live in each member's memory, so every client of a
	// restarted member authenticates again — seconds of bcrypt on a busy
	// machine, long enough for a lease to run out).
	cfg.AuthToken = fmt.Sprintf("jwt,pub-key=%s,priv-key=%s,sign-method=ES256", m.cl.certs.certFile, m.cl.certs.keyFile)
	cfg.ListenMetricsUrls = nil
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = EtcdClusterCompaction.String()
	cfg.SocketOpts.ReuseAddress = true
	cfg.TickMs, cfg.ElectionMs = 50, 500
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(m.logger.Named("server"))
	return cfg
}

// Endpoints returns the members' client URLs.
func (cl *EtcdCluster) Endpoints() []string {
	out := make([]string, len(cl.Members))
	for i, m := range cl.Members {
		u := m.clientURL()
		out[i] = u.String()
	}
	return out
}

// Client returns a client of every member, over TLS, logged in as user
// (root, or one made with User), closed when tb's test ends.
func (cl *EtcdCluster) Client(tb testing.TB, user, password string) *clientv3.Client {
	tb.Helper()
	c, err := cl.newClient(user, password)
	if err != nil {
		tb.Fatalf("etcd harness: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (cl *EtcdCluster) newClient(user, password string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints: cl.Endpoints(), DialTimeout: etcdDialTimeout, TLS: cl.certs.clientTLS(),
		Username: user, Password: password,
		Logger:      cl.Members[0].logger.Named("client"),
		DialOptions: []grpc.DialOption{ReconnectQuickly()},
	})
}

// User creates user with password and a role that may read and write the
// keys under prefix.
func (cl *EtcdCluster) User(tb testing.TB, user, password, prefix string) {
	tb.Helper()
	root := cl.Client(tb, "root", etcdRootPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := root.RoleAdd(ctx, user); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, user, prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, user, password); return err },
		func() error { _, err := root.UserGrantRole(ctx, user, user); return err },
	} {
		if err := step(); err != nil {
			tb.Fatalf("etcd harness: user %s: %v", user, err)
		}
	}
}

func (cl *EtcdCluster) enableAuth() error {
	c, err := cl.newClient("", "")
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.UserAdd(ctx, "root", etcdRootPassword); err != nil {
		return err
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		return err
	}
	_, err = c.AuthEnable(ctx)
	return err
}

// Leader returns the member that leads now.
func (cl *EtcdCluster) Leader(tb testing.TB) *EtcdMember {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range cl.Members {
			m.mu.Lock()
			srv := m.running
			m.mu.Unlock()
			if srv != nil && srv.Server.Leader() == srv.Server.MemberID() {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatal("etcd harness: no leader within 15 s")
	return nil
}

// Follower returns a running member that does not lead.
func (cl *EtcdCluster) Follower(tb testing.TB) *EtcdMember {
	tb.Helper()
	leader := cl.Leader(tb)
	for _, m := range cl.Members {
		if m != leader && m.Running() {
			return m
		}
	}
	tb.Fatal("etcd harness: no running follower")
	return nil
}

// Isolate cuts m off from the other members, in both directions: its
// peer connections close and new ones are refused until Heal. m keeps
// running and its clients keep reaching it; with no quorum behind it, it
// loses its leadership (if it had it) and cannot commit or serve a
// linearizable read, while the other two elect a leader and go on.
func (cl *EtcdCluster) Isolate(m *EtcdMember) { cl.links.isolate(m.name) }

// Heal ends Isolate.
func (cl *EtcdCluster) Heal() { cl.links.heal() }

// PeerConnectionsRefused is how many peer connections the partition has
// cut or refused so far.
func (cl *EtcdCluster) PeerConnectionsRefused() int64 { return cl.links.refused.Load() }

// LeaderSeenBy returns the member m takes for the leader, or nil if it
// knows none (it is campaigning, cut off) or is stopped.
func (cl *EtcdCluster) LeaderSeenBy(m *EtcdMember) *EtcdMember {
	m.mu.Lock()
	srv := m.running
	m.mu.Unlock()
	if srv == nil {
		return nil
	}
	id := srv.Server.Leader()
	for _, o := range cl.Members {
		o.mu.Lock()
		osrv := o.running
		o.mu.Unlock()
		if osrv != nil && osrv.Server.MemberID() == id {
			return o
		}
	}
	return nil
}

// Name is the member's name (m1, m2, m3).
func (m *EtcdMember) Name() string { return m.name }

// Running reports whether the member runs.
func (m *EtcdMember) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running != nil
}

// Stop stops the member (its data dir kept). Stopping a stopped member
// does nothing.
func (m *EtcdMember) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running != nil {
		m.running.Close()
		m.running = nil
	}
}

// Start starts a stopped member again from its data dir and waits until
// it serves.
func (m *EtcdMember) Start(tb testing.TB) {
	tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running != nil {
		tb.Fatalf("etcd harness: %s is running", m.name)
	}
	srv, err := startEmbedded(func() *embed.Config {
		cfg := m.config()
		cfg.ClusterState = embed.ClusterStateFlagExisting
		return cfg
	}, etcdRelistenTimeout)
	if err != nil {
		tb.Fatalf("etcd harness: restart %s: %v", m.name, err)
	}
	m.running = srv
}
