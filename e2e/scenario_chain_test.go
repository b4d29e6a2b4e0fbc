package e2e

// The example chain (examples/cmd: gateway → orders → inventory) as real
// processes, against a real registry, exporting spans to a real Jaeger and
// scraped by a real Prometheus: what the scenarios of scenarios_test.go
// run on.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"

	"github.com/kitexsuite/suite/e2e/harness"
)

// The chain's services, as examples/chain names them.
const (
	gatewaySvc   = "gateway"
	ordersSvc    = "orders"
	inventorySvc = "inventory"
)

// scenarioTTL is the chain's registration TTL (etcd lease, Consul check):
// how long a SIGKILLed replica may stay listed.
const scenarioTTL = 5 * time.Second

// registryEnv is one registry backend the chain runs against.
type registryEnv interface {
	name() string
	// env is the registry configuration of every chain process.
	env() []string
	// namespace is the network namespace the chain's processes run in.
	namespace() string
	// place picks p's addresses and returns extra environment for it
	// (Kubernetes: the pod it plays); owner's end releases them.
	place(t *testing.T, p *chainProc) []string
	// reach makes a loopback address of the test (the trace backend's
	// receiver) reachable from the chain's processes.
	reach(t *testing.T, addr string)
	// expiry bounds how long a SIGKILLed process stays registered.
	expiry() time.Duration
	// running and exited tell the backend a process started or ended
	// (Kubernetes: the test's kubelet).
	running(t *testing.T, p *chainProc)
	exited(t *testing.T, p *chainProc)
	// newResolver is a resolver of the test's own, with no memory of
	// earlier answers, and the resolver target of a service.
	newResolver(t *testing.T) (discovery.Resolver, func(service string) string)
	// outage takes the backend down; the returned function brings it back.
	outage(t *testing.T) (restore func())
}

// chainProc is one process of the chain.
type chainProc struct {
	service, name string
	addr          string // RPC (HTTP for the gateway) host:port
	metrics       string // /metrics host:port
	ip            string // its test-host address (Kubernetes), or ""
	proc          *harness.Process
}

// deployment is the chain running against one registry.
type deployment struct {
	owner     *testing.T // the test the chain's processes live as long as
	reg       registryEnv
	jaeger    *harness.Jaeger
	prom      *harness.Prometheus
	bins      string
	gateway   *chainProc
	orders    *chainProc
	inventory []*chainProc
	seq       int
	http      *http.Client
}

// deployChain starts Jaeger, Prometheus and the chain — gateway, orders and
// three inventory replicas — and waits until a request crosses it.
func deployChain(t *testing.T, reg registryEnv, jaeger *harness.Jaeger, prom *harness.Prometheus, bins string) *deployment {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	d := &deployment{owner: t, reg: reg, jaeger: jaeger, prom: prom, bins: bins, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	reg.reach(t, jaeger.OTLPGRPCAddr())
	for range 3 {
		d.inventory = append(d.inventory, d.start(t, inventorySvc))
	}
	d.orders = d.start(t, ordersSvc)
	d.gateway = d.start(t, gatewaySvc)
	d.setTargets(t)
	r, target := reg.newResolver(t)
	awaitResolved(t, r, target(inventorySvc), "three inventory replicas", hasExactly(d.addrs(d.inventory...)...))
	awaitResolved(t, r, target(ordersSvc), "orders", hasExactly(d.orders.addr))
	d.awaitServing(t)
	return d
}

// buildChain builds the chain's binaries from examples/cmd into dir.
func buildChain(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain (to build examples/cmd): %v", err)
	}
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/gateway", "./cmd/orders", "./cmd/inventory")
	cmd.Dir = filepath.Join("..", "examples")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/cmd: %v\n%s", err, out)
	}
	return dir
}

// start runs one process of service and tells the backend. The process
// (and its address) lasts until it is stopped or the deployment's test
// ends, whichever scenario started it.
func (d *deployment) start(t *testing.T, service string) *chainProc {
	t.Helper()
	d.seq++
	p := &chainProc{service: service, name: fmt.Sprintf("%s-%d", service, d.seq)}
	env := append(d.reg.env(), d.reg.place(d.owner, p)...)
	env = append(env,
		"KITEXSUITE_LISTEN="+p.addr,
		"KITEXSUITE_METRICS_LISTEN="+p.metrics,
		"KITEXSUITE_TTL="+scenarioTTL.String(),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+d.jaeger.OTLPGRPCAddr(),
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_BSP_SCHEDULE_DELAY=200",  // ms: traces reach Jaeger soon after a request
		"OTEL_GO_X_OBSERVABILITY=true", // the SDK's own metrics: spans dropped when the backend is down
		"OTEL_TRACES_SAMPLER=parentbased_always_on",
	)
	var err error
	p.proc, err = harness.NewProcess(d.owner, harness.ProcessSpec{
		Name: p.name, Path: filepath.Join(d.bins, service), Args: []string{"-drain", "1s"},
		Env: env, Namespace: d.reg.namespace(),
	})
	if err != nil {
		t.Fatal(err)
	}
	d.reg.running(t, p)
	d.awaitMetrics(t, p)
	return p
}

// stop stops p with SIGTERM (deregister, drain, close) and waits for it.
func (d *deployment) stop(t *testing.T, p *chainProc) {
	t.Helper()
	if err := p.proc.Stop(30 * time.Second); err != nil {
		t.Errorf("%s: %v\n%s", p.name, err, p.proc.Output())
	}
	d.reg.exited(t, p)
}

// kill kills p with SIGKILL: no deregistration, no drain.
func (d *deployment) kill(t *testing.T, p *chainProc) {
	t.Helper()
	p.proc.Kill()
	d.reg.exited(t, p)
}

func (d *deployment) addrs(ps ...*chainProc) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.addr
	}
	return out
}

// setTargets points Prometheus at the /metrics of every running process,
// one job per service.
func (d *deployment) setTargets(t *testing.T) {
	t.Helper()
	d.prom.SetTargets(t, gatewaySvc, d.gateway.metrics)
	d.prom.SetTargets(t, ordersSvc, d.orders.metrics)
	inv := make([]string, len(d.inventory))
	for i, p := range d.inventory {
		inv[i] = p.metrics
	}
	d.prom.SetTargets(t, inventorySvc, inv...)
}

// awaitScraped waits until Prometheus has scraped every service since t0.
func (d *deployment) awaitScraped(t *testing.T, t0 time.Time) {
	t.Helper()
	for _, svc := range []string{gatewaySvc, ordersSvc, inventorySvc} {
		d.prom.AwaitScrapedAfter(t, svc, t0)
	}
}

// awaitMetrics waits until p answers on its /metrics endpoint (it has
// started and built its Suites); there is no event to wait on.
func (d *deployment) awaitMetrics(t *testing.T, p *chainProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.proc.Exited() {
			t.Fatalf("%s exited at start:\n%s", p.name, p.proc.Output())
		}
		resp, err := d.http.Get("http://" + p.metrics + "/metrics")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never served /metrics on %s:\n%s", p.name, p.metrics, p.proc.Output())
}

// awaitServing waits until a request crosses the whole chain: the
// gateway's and orders' resolvers have found the next service.
func (d *deployment) awaitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if _, last = d.order(context.Background(), "warmup"); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no request crossed the chain in 30 s: %v", last)
}

// orderReply is the gateway's answer to GET /order.
type orderReply struct {
	Item    string `json:"item"`
	TraceID string `json:"trace_id"`
	Hops    int    `json:"hops"`
	Error   string `json:"error"`
}

// order asks the gateway for item, as a user would.
func (d *deployment) order(ctx context.Context, item string) (orderReply, error) {
	var r orderReply
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.gateway.addr+"/order?item="+item, nil)
	if err != nil {
		return r, err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("GET /order: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET /order: %s: %s", resp.Status, r.Error)
	}
	return r, nil
}

// replace swaps inventory replica i for a new one, as a rolling update
// does: the new one first, then the old one stopped with drain.
func (d *deployment) replace(t *testing.T, r discovery.Resolver, target string, i int) {
	t.Helper()
	old := d.inventory[i]
	d.inventory[i] = d.start(t, inventorySvc)
	d.setTargets(t)
	awaitResolved(t, r, target, "the new replica", hasExactly(append(d.addrs(d.inventory...), old.addr)...))
	d.stop(t, old)
	awaitResolved(t, r, target, "the old replica gone", hasExactly(d.addrs(d.inventory...)...))
}

// loopbackPlace gives a process free loopback ports.
func loopbackPlace(t *testing.T, p *chainProc) {
	t.Helper()
	var ls []net.Listener
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	p.addr, p.metrics = ls[0].Addr().String(), ls[1].Addr().String()
	for _, l := range ls {
		_ = l.Close()
	}
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
