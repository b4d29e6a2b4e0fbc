package chain

// The deploy files under examples/deploy — the Grafana dashboard, the
// Prometheus alerting rules and the example Prometheus configuration — are
// checked here, so `make test` (go test in every module) catches a query
// that names a metric or label the services do not export:
//
//   - promtool checks the rules, their unit tests and the configuration,
//     and parses every dashboard expression (written into a throw-away
//     rules file, Grafana variables substituted);
//   - the dashboard is valid JSON of the expected shape;
//   - the chain runs in this process (embedded etcd, each service with its
//     own Prometheus registry and the resolvers' OTel self-metrics bridged
//     into it, as chain.Run does), serves real traffic including a business
//     error and a failure, has its resolvers' etcd watches broken once, and
//     is scraped over HTTP; every metric and label the dashboard and the
//     rules use must be in that scrape.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/metrics"
	etcdreg "github.com/kitexsuite/suite/registry/etcd"
)

func TestDeployQueriesMatchLiveMetrics(t *testing.T) {
	start := time.Now()
	c := startTestChain(t)
	httpc := &http.Client{Timeout: 5 * time.Second}
	for _, q := range []string{"item=a", "item=b", "item=c", "item=d&fail=biz", "item=e&fail=error"} {
		resp, err := httpc.Get("http://" + c.gateway + "/order?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		want := http.StatusOK
		if strings.Contains(q, "fail=") {
			want = http.StatusBadGateway
		}
		if resp.StatusCode != want {
			t.Fatalf("GET /order?%s: %d %s, want %d", q, resp.StatusCode, body, want)
		}
	}
	// Break the resolvers' etcd watches once, as a network fault or a
	// member losing its leader would; they must count the restart and
	// recover.
	broken := time.Now()
	c.breaker.breakAll()

	// Scrape until both resolvers (gateway's, orders') have counted a restart
	// and listed their target again since the break: a sync age below the
	// time from the break to the scrape (which is conservative: the age is
	// observed during the scrape).
	var exp exported
	deadline := time.Now().Add(15 * time.Second)
	for {
		exp = exported{}
		healed := map[string]bool{}
		for _, svc := range []string{Gateway, Orders, Inventory} {
			restarted, fresh := false, false
			sinceBreak := time.Since(broken).Seconds()
			for _, fam := range scrape(t, c.metricsURL[svc]) {
				exp.add(fam)
				switch fam.GetName() {
				case "kitexsuite_discovery_watch_restarts_total":
					restarted = len(fam.GetMetric()) > 0
				case "kitexsuite_discovery_sync_age_seconds":
					fresh = len(fam.GetMetric()) > 0
					for _, m := range fam.GetMetric() {
						fresh = fresh && m.GetGauge().GetValue() < sinceBreak
					}
				}
			}
			healed[svc] = restarted && fresh
		}
		if healed[Gateway] && healed[Orders] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after their watches broke, the resolvers have not restarted and re-listed them (gateway %v, orders %v)", healed[Gateway], healed[Orders])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("exported series names: %s", strings.Join(exp.names(), " "))

	// Exemplars: the duration buckets carry the trace_id of the call's span,
	// which the dashboard links to the tracing datasource.
	var exemplar string
	om := scrapeText(t, c.metricsURL[Orders], string(expfmt.NewFormat(expfmt.TypeOpenMetrics)))
	for line := range strings.SplitSeq(om, "\n") {
		if strings.HasPrefix(line, "kitex_server_call_duration_seconds_bucket{") && strings.Contains(line, `# {`) {
			exemplar = line
			break
		}
	}
	if !strings.Contains(exemplar, `trace_id="`) {
		t.Errorf("orders' OpenMetrics exposition has no duration bucket with a trace_id exemplar")
	} else {
		t.Logf("exemplar: %s", exemplar)
	}

	queries := append(dashboardQueries(t, loadDashboard(t)), rulesQueries(t)...)
	used := map[string]bool{}
	var missing []string
	for _, q := range queries {
		for _, m := range parsePromQL(q.expr).metrics {
			used[m] = true
		}
		for _, p := range exp.check(q) {
			missing = append(missing, fmt.Sprintf("%s: %s\n\t%s", q.where, p, q.expr))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("queries the live services cannot answer (exported: %s):\n%s", strings.Join(exp.names(), " "), strings.Join(missing, "\n"))
	}
	t.Logf("%d queries use %d metrics, all exported: %s (%v)", len(queries), len(used),
		strings.Join(slices.Sorted(maps.Keys(used)), " "), time.Since(start).Round(time.Millisecond))
}

// scrape gets url as Prometheus does, in the protobuf format (which keeps
// every family's type), and decodes it.
func scrape(t *testing.T, url string) []*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var out []*dto.MetricFamily
	for {
		fam := &dto.MetricFamily{}
		if err := dec.Decode(fam); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decoding %s: %v", url, err)
		}
		out = append(out, fam)
	}
}

func scrapeText(t *testing.T, url, accept string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// testChain is the chain running in the test process.
type testChain struct {
	gateway    string            // host:port of the gateway's HTTP
	metricsURL map[string]string // each service's /metrics
	breaker    *watchBreaker
}

// startTestChain runs gateway → orders → inventory on loopback listeners,
// discovered through an embedded etcd, each service with its own
// TracerProvider (recording in memory), Prometheus registry and /metrics
// endpoint, and the resolvers reporting their self-metrics into their
// service's registry through the OTel Prometheus exporter, as chain.Run
// does. Everything stops when the test ends.
func startTestChain(t *testing.T) *testChain {
	t.Helper()
	etcdURL := startTestEtcd(t)
	c := &testChain{metricsURL: map[string]string{}, breaker: &watchBreaker{}}
	newClient := func(opts ...grpc.DialOption) *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), DialOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close() })
		return cli
	}
	// The servers register through a client of their own; the resolvers'
	// clients go through the breaker.
	registryClient := newClient()
	rec := tracetest.NewSpanRecorder()
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

	resolvers := map[string]*discoverycore.Resolver{} // by the service resolving
	addrs := map[string]string{}
	for _, name := range []string{Inventory, Orders, Gateway} {
		reg := prometheus.NewRegistry()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o := Options{Listener: ln, TracerProvider: tp, Propagator: prop, Metrics: reg, ExitWait: 100 * time.Millisecond}
		exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			t.Fatal(err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
		t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		if name != Gateway {
			o.Registry = etcdreg.NewRegistry(registryClient, etcdreg.WithDrainDelay(100*time.Millisecond),
				etcdreg.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
		}
		if name != Inventory {
			r := etcdreg.NewResolver(newClient(grpc.WithChainStreamInterceptor(c.breaker.intercept)),
				etcdreg.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
			t.Cleanup(func() { _ = r.Close() })
			o.Resolver, resolvers[name] = r, r
		}
		svc, err := Start(name, o)
		if err != nil {
			_ = ln.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := svc.Stop(); err != nil {
				t.Errorf("stopping %s: %v", name, err)
			}
		})
		addrs[name] = svc.Addr
		c.metricsURL[name] = serveMetrics(t, reg)
	}
	c.gateway = addrs[Gateway]
	// Kitex registers a server a second after it starts.
	awaitResolved(t, resolvers[Gateway], Orders, addrs[Orders])
	awaitResolved(t, resolvers[Orders], Inventory, addrs[Inventory])
	return c
}

// awaitResolved waits until r resolves target to addr.
func awaitResolved(t *testing.T, r *discoverycore.Resolver, target, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := r.Resolve(context.Background(), target)
		if err == nil && slices.ContainsFunc(res.Instances, func(i discovery.Instance) bool { return i.Address().String() == addr }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s not resolved in 15 s (last: %v, %v)", target, addr, res.Instances, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serveMetrics serves reg's /metrics as chain.Run does and returns its URL.
func serveMetrics(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/metrics"
}

// startTestEtcd runs a single-member etcd on free loopback ports, as the
// demo does, and returns its client URL.
func startTestEtcd(t *testing.T) string {
	t.Helper()
	return startEmbeddedEtcd(t, "observability", "http", nil)
}

// startEmbeddedEtcd runs a single-member etcd named name on two free
// loopback ports (client URL with clientScheme, peer URL http), after
// configure (may be nil) has adjusted its config, and returns the client URL.
func startEmbeddedEtcd(t *testing.T, name, clientScheme string, configure func(cfg *embed.Config)) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = name, t.TempDir()
	var hosts []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, ln.Addr().String())
		_ = ln.Close()
	}
	client, peer := url.URL{Scheme: clientScheme, Host: hosts[0]}, url.URL{Scheme: "http", Host: hosts[1]}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 50
	cfg.Logger, cfg.ZapLoggerBuilder = "zap", embed.NewZapLoggerBuilder(zap.NewNop())
	if configure != nil {
		configure(cfg)
	}
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(srv.Close)
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(15 * time.Second):
		t.Fatal("embedded etcd not ready in 15 s")
	}
	return client.String()
}

// watchBreaker, dialled into etcd clients as a stream interceptor, can end
// every Watch stream they hold — the watches fail as on a network fault or
// a member losing its leader, and resolvers must start them again.
type watchBreaker struct {
	mu      sync.Mutex
	cancels []context.CancelFunc
}

func (b *watchBreaker) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method != "/etcdserverpb.Watch/Watch" {
		return streamer(ctx, desc, cc, method, opts...)
	}
	ctx, cancel := context.WithCancel(ctx)
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	b.mu.Lock()
	b.cancels = append(b.cancels, cancel)
	b.mu.Unlock()
	return s, nil
}

// breakAll ends the Watch streams open now.
func (b *watchBreaker) breakAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cancel := range b.cancels {
		cancel()
	}
	b.cancels = nil
}
