package e2e

// The end-to-end scenarios: the example chain as real processes against
// each registry, a real Jaeger and a real Prometheus, under load. Each run
// writes a markdown report (report.md in the test's artifact directory;
// `make test` passes -artifacts and prints it).

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/prometheus/common/model"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	consulreg "github.com/kitexsuite/suite/registry/consul"
	etcdreg "github.com/kitexsuite/suite/registry/etcd"
)

// loadWorkers is how many requests a scenario's load has in flight at once.
const loadWorkers = 4

// TestScenarios runs every scenario on etcd and on Consul (Kubernetes:
// TestK8sScenarios, in a process of its own; see the Makefile).
func TestScenarios(t *testing.T) {
	bins := buildChain(t)
	rep := &scenarioReport{}
	defer rep.write(t, "kitexsuite e2e scenarios: etcd and Consul")
	runScenarios(t, rep, bins, "etcd", func(t *testing.T) registryEnv { return &etcdScenarioEnv{etcd: harness.StartEtcd(t)} }, allScenarios)
	runScenarios(t, rep, bins, "consul", func(t *testing.T) registryEnv { return &consulScenarioEnv{consul: harness.StartConsul(t)} }, allScenarios)
}

// chainScenario is one scenario of the local chain: a subtest and a row
// of the report.
type chainScenario struct {
	name string
	run  func(t *testing.T, d *deployment, s *loadStats, notes *string)
}

// allScenarios are the five scenarios of the chain's processes on this
// host, in order.
var allScenarios = []chainScenario{
	{"happy_path", func(t *testing.T, d *deployment, s *loadStats, notes *string) { scenarioHappyPath(t, d, s, notes) }},
	{"trace_backend_down", scenarioTraceBackendDown},
	{"replica_sigkill", scenarioReplicaKilled},
	{"rolling_restart", scenarioRollingRestart},
	{"registry_down_30s", scenarioRegistryDown},
}

// runScenarios deploys the chain on the registry start gives and runs
// scenarios in order, each a subtest and a row of rep.
func runScenarios(t *testing.T, rep *scenarioReport, bins, name string, start func(t *testing.T) registryEnv, scenarios []chainScenario) {
	t.Run(name, func(t *testing.T) {
		reg := start(t)
		jaeger := harness.StartJaeger(t)
		prom := harness.StartPrometheus(t)
		d := deployChain(t, reg, jaeger, prom, bins)
		for _, sc := range scenarios {
			rep.run(t, name, sc.name, func(t *testing.T, s *loadStats, notes *string) { sc.run(t, d, s, notes) })
		}
	})
}

// observedChain is a running example chain and the backends watching it:
// the chain's processes on this host (deployment) or its Helm-installed
// pods on kind (kindChain, scenario_kind_test.go).
type observedChain interface {
	order(ctx context.Context, item string) (orderReply, error)
	// awaitScraped waits until Prometheus has scraped every service since t0.
	awaitScraped(t *testing.T, t0 time.Time)
	prometheus() *harness.Prometheus
	traces() *harness.Jaeger
}

func (d *deployment) prometheus() *harness.Prometheus { return d.prom }
func (d *deployment) traces() *harness.Jaeger         { return d.jaeger }

// scenarioHappyPath: traffic through gateway → orders → inventory; every
// sampled trace is complete in Jaeger; Prometheus' counters agree exactly
// with the client's own count.
func scenarioHappyPath(t *testing.T, d observedChain, s *loadStats, notes *string) {
	const n = 400
	before := time.Now()
	d.awaitScraped(t, before)
	base := callCounts(t, d)

	l := startOrderLoad(d.order, loadWorkers, n)
	l.wg.Wait()
	*s = l.all()
	end := time.Now()
	if s.calls != n || s.failures != 0 {
		t.Fatalf("%d requests, %d failed (want %d, 0): %s", s.calls, s.failures, n, s.firstErrors())
	}

	// Metrics: what Prometheus scraped after the load equals the client's count.
	d.awaitScraped(t, end)
	after := callCounts(t, d)
	for q, v := range after {
		if got := v - base[q]; got != n {
			t.Errorf("%s grew by %v over the load, want exactly %d (the requests the test made)", q, got, n)
		}
	}
	prom := d.prometheus()
	rate := prom.QueryScalar(t, fmt.Sprintf(`sum(rate(kitex_server_calls_total{service=%q}[30s]))`, ordersSvc))
	p99 := prom.QueryScalar(t, fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(kitex_server_call_duration_seconds_bucket{service=%q}[30s])))`, ordersSvc))
	if rate <= 0 || math.IsNaN(p99) || p99 <= 0 || p99 > 2 {
		t.Errorf("orders: rate %v/s, p99 %vs from Prometheus; want a positive rate and a p99 within the RPC timeout", rate, p99)
	}

	// Exemplars: Prometheus holds trace ids on the duration histogram, and
	// they name traces Jaeger has.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ex, err := prom.API().QueryExemplars(ctx, fmt.Sprintf(`kitex_server_call_duration_seconds_bucket{service=%q}`, ordersSvc), before, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var exemplarTrace string
	for _, res := range ex {
		for _, e := range res.Exemplars {
			if id := string(e.Labels["trace_id"]); id != "" && exemplarTrace == "" {
				exemplarTrace = id
			}
		}
	}
	if exemplarTrace == "" {
		t.Errorf("Prometheus holds no exemplar with a trace_id on orders' duration histogram: %v", ex)
	}

	// Traces: a sample of the requests, each one complete trace across the
	// three services with the right parent links.
	sample := []string{s.records[0].trace, s.records[n/2].trace, s.records[n-1].trace}
	if exemplarTrace != "" {
		sample = append(sample, exemplarTrace)
	}
	for _, id := range sample {
		assertChainTrace(t, d.traces(), id)
	}
	*notes = fmt.Sprintf("Prometheus: orders rate() %.0f req/s over 30 s, p99 %.1f ms; %d traces complete in Jaeger (one from an exemplar)", rate, p99*1000, len(sample))
}

// callCounts reads, from Prometheus, the call counters every hop keeps.
func callCounts(t *testing.T, d observedChain) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, q := range []string{
		fmt.Sprintf(`sum(kitex_client_calls_total{service=%q})`, gatewaySvc),
		fmt.Sprintf(`sum(kitex_server_calls_total{service=%q})`, ordersSvc),
		fmt.Sprintf(`sum(kitex_client_calls_total{service=%q})`, ordersSvc),
		fmt.Sprintf(`sum(kitex_server_calls_total{service=%q})`, inventorySvc),
	} {
		out[q] = d.prometheus().QueryScalar(t, q)
	}
	return out
}

// assertChainTrace waits until Jaeger holds the five spans of one request —
// gateway's HTTP server span, its client span, orders' server and client
// spans, inventory's server span — and checks their services, kinds and
// parent links.
func assertChainTrace(t *testing.T, j *harness.Jaeger, traceID string) {
	t.Helper()
	spans, err := awaitTrace(j, traceID, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkChainTrace(t, traceID, spans)
}

// chainHops are the spans of one request through the chain, root first:
// the gateway's HTTP span, then per Kitex hop a client and a server span
// named after the fully-qualified method (orders speaks the Thrift Echo
// service, inventory the Protobuf one, over gRPC).
var chainHops = []struct{ service, kind, name string }{
	{gatewaySvc, "server", "GET /order"},
	{gatewaySvc, "client", "echo.EchoService/Echo"}, {ordersSvc, "server", "echo.EchoService/Echo"},
	{ordersSvc, "client", "echopb.EchoService/Echo"}, {inventorySvc, "server", "echopb.EchoService/Echo"},
}

// awaitTrace polls Jaeger until it holds every span of a request of the
// chain, for at most wait: spans arrive in batches, with no event to wait on.
func awaitTrace(j *harness.Jaeger, traceID string, wait time.Duration) ([]harness.JaegerSpan, error) {
	deadline := time.Now().Add(wait)
	for {
		spans, err := j.Trace(context.Background(), traceID)
		if err == nil && len(spans) >= len(chainHops) {
			return spans, nil
		}
		if time.Now().After(deadline) {
			return spans, fmt.Errorf("trace %s: %d spans in Jaeger after %v, want %d (%v): %+v", traceID, len(spans), wait, len(chainHops), err, spans)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkChainTrace checks the spans of one request: services, kinds and
// parent links, hop by hop.
func checkChainTrace(t *testing.T, traceID string, spans []harness.JaegerSpan) {
	t.Helper()
	want := chainHops
	if len(spans) != len(want) {
		t.Fatalf("trace %s: %d spans, want %d: %+v", traceID, len(spans), len(want), spans)
	}
	byID := map[string]harness.JaegerSpan{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	// Walk from the root: each span's only child is the next hop.
	var chain []harness.JaegerSpan
	parent := ""
	for range want {
		var next []harness.JaegerSpan
		for _, sp := range spans {
			if sp.ParentSpanID == parent || (parent == "" && byID[sp.ParentSpanID].SpanID == "") {
				next = append(next, sp)
			}
		}
		if len(next) != 1 {
			t.Fatalf("trace %s: %d spans under %q, want one: %+v", traceID, len(next), parent, spans)
		}
		chain = append(chain, next[0])
		parent = next[0].SpanID
	}
	for i, w := range want {
		if got := chain[i]; got.Service != w.service || got.Kind != w.kind || got.Error {
			t.Errorf("trace %s hop %d: %s %s span %q (error %v), want a %s %s span without error", traceID, i, got.Service, got.Kind, got.Operation, got.Error, w.service, w.kind)
		}
	}
	for i, w := range want {
		if got := chain[i].Operation; got != w.name {
			t.Errorf("trace %s hop %d: span named %q, want %q", traceID, i, got, w.name)
		}
	}
}

// scenarioTraceBackendDown: Jaeger stops under load. No request fails or
// waits on the exporter, memory stays bounded by the span queue, and the
// SDK's own metrics count the dropped spans; exports resume once Jaeger is
// back.
func scenarioTraceBackendDown(t *testing.T, d *deployment, s *loadStats, notes *string) {
	l := startOrderLoad(d.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 200)
	// Two windows: 10 s with the backend up, then from its SIGTERM (it may
	// take a few seconds to go) until 10 s after it is gone.
	const window = 10 * time.Second
	upFrom := time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for an event
	downAt := time.Now()
	d.awaitScraped(t, downAt)
	heapQuery := `max by (service) (go_memstats_heap_inuse_bytes)`
	heapBefore := byService(d.prom.Query(t, heapQuery))
	// Under this unthrottled load the batch processor may drop spans even
	// with the backend up (its queue outruns one exporter on two cores):
	// count the drops of the outage alone.
	droppedQuery := `sum by (service) (otel_sdk_processor_span_processed_total{error_type!=""})`
	droppedBefore := byService(d.prom.Query(t, droppedQuery))
	startedQuery := `sum by (service) (otel_sdk_span_started_total)`
	startedBefore := byService(d.prom.Query(t, startedQuery))
	// The outage starts with the SIGTERM: Jaeger takes a while to shut down.
	downFrom := time.Now()
	d.jaeger.Stop()
	restarted := false
	defer func() { // a failure mid-outage must not leave later scenarios without a backend
		if !restarted {
			d.jaeger.Restart(t)
		}
	}()
	time.Sleep(window)
	end := time.Now()
	l.stop()
	up, down := l.window(upFrom, downAt), l.window(downFrom, end)
	*s = l.window(downFrom, end)
	d.awaitScraped(t, end)
	heapPeak := byService(d.prom.Query(t, fmt.Sprintf(`max by (service) (max_over_time(go_memstats_heap_inuse_bytes[%ds]))`, int(time.Since(downFrom).Seconds())+1)))
	dropped := byService(d.prom.Query(t, droppedQuery))
	started := byService(d.prom.Query(t, startedQuery))
	for svc := range dropped {
		dropped[svc] -= droppedBefore[svc]
		started[svc] -= startedBefore[svc]
	}
	d.jaeger.Restart(t)
	restarted = true

	if up.failures+down.failures != 0 {
		t.Errorf("%d requests failed with the trace backend down (%d up): %s", down.failures, up.failures, down.firstErrors())
	}
	// Spans are exported off the request path: no request waits on an
	// exporter, whose attempts last seconds against a dead backend. A bound
	// far above any noise (p99s are a few ms): the gateway's RPC timeout.
	if down.p99 >= time.Second {
		t.Errorf("with the trace backend down, p99 %v (up: %v): requests waited on the exporter", down.p99, up.p99)
	}
	const memoryBound = 64 << 20 // the span queue (2 048 spans) is a few MiB
	for svc, peak := range heapPeak {
		if grew := peak - heapBefore[svc]; grew > memoryBound {
			t.Errorf("%s: heap grew by %.1f MiB with the trace backend down, want under %d MiB", svc, grew/(1<<20), memoryBound>>20)
		}
	}
	if dropped[gatewaySvc] <= 0 {
		t.Errorf("the gateway's otel_sdk_processor_span_processed_total counts no span dropped in %v without a backend: %v", window, dropped)
	}
	// Exports resume: once the exporters have reconnected and the queues
	// have drained the spans they kept, a new request's trace is complete.
	resumed, deadline := time.Now(), time.Now().Add(90*time.Second)
	for {
		r, err := d.order(context.Background(), "after-restart")
		if err != nil {
			t.Fatal(err)
		}
		spans, err := awaitTrace(d.jaeger, r.TraceID, 3*time.Second)
		if err == nil {
			checkChainTrace(t, r.TraceID, spans)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete trace reached Jaeger in 90 s after its restart: %v", err)
		}
	}
	resumedAfter := time.Since(resumed)
	*notes = fmt.Sprintf("median %s backend up, %s down (p99 %s / %s); spans dropped in the outage (SDK self-metrics): gateway %.0f of %.0f, orders %.0f of %.0f; heap peak +%.1f MiB at most; traces complete again %v after the restart",
		up.p50.Round(10*time.Microsecond), down.p50.Round(10*time.Microsecond), up.p99.Round(10*time.Microsecond), down.p99.Round(10*time.Microsecond),
		dropped[gatewaySvc], started[gatewaySvc], dropped[ordersSvc], started[ordersSvc], maxGrowth(heapBefore, heapPeak)/(1<<20), resumedAfter.Round(100*time.Millisecond))
}

func byService(v model.Vector) map[string]float64 {
	out := map[string]float64{}
	for _, s := range v {
		out[string(s.Metric["service"])] = float64(s.Value)
	}
	return out
}

func maxGrowth(before, after map[string]float64) float64 {
	var m float64
	for k, v := range after {
		m = max(m, v-before[k])
	}
	return m
}

// scenarioReplicaKilled: one inventory replica is SIGKILLed under load (no
// drain). Only requests in flight on it may fail; its registration is gone
// within the TTL; afterwards every request succeeds. A new replica then
// restores three.
func scenarioReplicaKilled(t *testing.T, d *deployment, s *loadStats, notes *string) {
	r, target := d.reg.newResolver(t)
	l := startOrderLoad(d.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 200)
	victim := d.inventory[0]
	from := time.Now()
	d.kill(t, victim)
	killed := time.Now()
	d.inventory = d.inventory[1:]
	awaitResolved(t, r, target(inventorySvc), "the killed replica gone", hasExactly(d.addrs(d.inventory...)...))
	gone := time.Since(killed)
	// orders' own resolver saw the same change; its balancer applies it on
	// the next refresh.
	after := time.Now().Add(2 * discoverycore.DefaultRefreshInterval)
	time.Sleep(time.Until(after)) // no event tells when another process's balancer refreshed
	l.waitCalls(t, 300)
	l.stop()
	*s = l.window(from, time.Now())
	recovered := l.window(after, time.Now())

	// Each worker has at most one request in flight: at most loadWorkers
	// requests were on the replica when it died, and every failure started
	// before the kill.
	failed := s.failed()
	if len(failed) > loadWorkers {
		t.Errorf("%d requests failed, more than the %d that can be in flight: %s", len(failed), loadWorkers, s.firstErrors())
	}
	for _, f := range failed {
		if f.start.After(killed) {
			t.Errorf("a request started %v after the kill failed: %v", f.start.Sub(killed), f.err)
		}
	}
	if recovered.failures != 0 || recovered.calls == 0 {
		t.Errorf("after the registration was gone, %d of %d requests failed: %s", recovered.failures, recovered.calls, recovered.firstErrors())
	}
	if limit := d.reg.expiry(); gone > limit {
		t.Errorf("the killed replica stayed registered %v, longer than %v", gone.Round(time.Millisecond), limit)
	}
	d.inventory = append(d.inventory, d.start(t, inventorySvc))
	d.setTargets(t)
	awaitResolved(t, r, target(inventorySvc), "the new replica", hasExactly(d.addrs(d.inventory...)...))
	*notes = fmt.Sprintf("%d in-flight requests failed; registration gone %v after the kill (limit %v)", len(failed), gone.Round(time.Millisecond), d.reg.expiry())
}

// scenarioRollingRestart: the three inventory replicas are replaced one by
// one under load, each old one stopped with SIGTERM (deregister, drain,
// close): no request fails.
func scenarioRollingRestart(t *testing.T, d *deployment, s *loadStats, notes *string) {
	r, target := d.reg.newResolver(t)
	l := startOrderLoad(d.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 200)
	from := time.Now()
	for i := range d.inventory {
		d.replace(t, r, target(inventorySvc), i)
		l.waitCalls(t, 100)
	}
	l.stop()
	*s = l.window(from, time.Now())
	if s.failures != 0 {
		t.Errorf("%d of %d requests failed during the rolling restart: %s", s.failures, s.calls, s.firstErrors())
	}
	*notes = "3 replicas replaced, drain 1 s"
}

// scenarioRegistryDown: the registry backend is down for 30 s under load:
// no request fails (every resolver keeps its last known good set); once it
// is back, a resolver that never saw it before finds every registration.
func scenarioRegistryDown(t *testing.T, d *deployment, s *loadStats, notes *string) {
	const outage = 30 * time.Second
	l := startOrderLoad(d.order, loadWorkers, 0)
	defer l.stop()
	l.waitCalls(t, 200)
	from := time.Now()
	restore := d.reg.outage(t)
	time.Sleep(outage) // the outage itself
	restore()
	back := time.Now()
	fresh, target := d.reg.newResolver(t)
	awaitResolved(t, fresh, target(inventorySvc), "every inventory registration back", hasExactly(d.addrs(d.inventory...)...))
	awaitResolved(t, fresh, target(ordersSvc), "orders' registration back", hasExactly(d.orders.addr))
	backAfter := time.Since(back)
	l.waitCalls(t, 200)
	l.stop()
	*s = l.window(from, time.Now())
	if s.failures != 0 {
		t.Errorf("%d of %d requests failed with the registry down: %s", s.failures, s.calls, s.firstErrors())
	}
	*notes = fmt.Sprintf("down %v; every registration listed again %v after it came back", outage, backAfter.Round(time.Millisecond))
}

// etcdScenarioEnv runs the chain on an embedded etcd.
type etcdScenarioEnv struct{ etcd *harness.Etcd }

func (e *etcdScenarioEnv) name() string { return "etcd" }
func (e *etcdScenarioEnv) env() []string {
	return []string{"KITEXSUITE_REGISTRY=etcd", "KITEXSUITE_ETCD_ENDPOINTS=" + strings.Join(e.etcd.Endpoints(), ",")}
}
func (e *etcdScenarioEnv) namespace() string                         { return "" }
func (e *etcdScenarioEnv) place(t *testing.T, p *chainProc) []string { loopbackPlace(t, p); return nil }
func (e *etcdScenarioEnv) reach(*testing.T, string)                  {}
func (e *etcdScenarioEnv) running(*testing.T, *chainProc)            {}
func (e *etcdScenarioEnv) exited(*testing.T, *chainProc)             {}
func (e *etcdScenarioEnv) expiry() time.Duration                     { return scenarioTTL + 2*time.Second }
func (e *etcdScenarioEnv) newResolver(t *testing.T) (discovery.Resolver, func(string) string) {
	r := etcdreg.NewResolver(e.etcd.Client(t))
	t.Cleanup(func() { _ = r.Close() })
	return r, func(s string) string { return s }
}
func (e *etcdScenarioEnv) outage(t *testing.T) func() {
	e.etcd.Stop()
	return func() { e.etcd.Restart(t) }
}

// consulScenarioEnv runs the chain on a Consul agent.
type consulScenarioEnv struct{ consul *harness.Consul }

func (c *consulScenarioEnv) name() string { return "consul" }
func (c *consulScenarioEnv) env() []string {
	return []string{"KITEXSUITE_REGISTRY=consul", "CONSUL_HTTP_ADDR=" + c.consul.Address()}
}
func (c *consulScenarioEnv) namespace() string { return "" }
func (c *consulScenarioEnv) place(t *testing.T, p *chainProc) []string {
	loopbackPlace(t, p)
	return nil
}
func (c *consulScenarioEnv) reach(*testing.T, string)       {}
func (c *consulScenarioEnv) running(*testing.T, *chainProc) {}
func (c *consulScenarioEnv) exited(*testing.T, *chainProc)  {}

// expiry: the TTL check turns critical one TTL after the last heartbeat.
func (c *consulScenarioEnv) expiry() time.Duration { return scenarioTTL + 2*time.Second }
func (c *consulScenarioEnv) newResolver(t *testing.T) (discovery.Resolver, func(string) string) {
	r := consulreg.NewResolver(c.consul.Client(t), consulreg.WithResetSettle(0))
	t.Cleanup(func() { _ = r.Close() })
	return r, func(s string) string { return s }
}

// outage stops the agent; the restarted dev agent has forgotten every
// service, so the registries must register again.
func (c *consulScenarioEnv) outage(t *testing.T) func() {
	c.consul.Stop()
	return func() { c.consul.Restart(t) }
}
