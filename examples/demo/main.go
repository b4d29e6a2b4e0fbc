// Command demo runs the kitexsuite example chain in one process —
// gateway (HTTP) → orders (Kitex Thrift over TTHeader) → inventory (Kitex
// over gRPC, two replicas) — discovered through an etcd embedded in the
// process, traced, measured and logged by the kitexsuite modules. It drives
// traffic for a few seconds (restarting one inventory replica with drain
// half-way), then prints what it observed: the registry events, the span
// tree of one request across the three services, the handlers'
// trace-correlated log lines, and per-method RPS, latency and errors by
// error.type from the services' own metrics.
//
// With --serve it keeps everything running and prints the gateway and
// /metrics URLs until interrupted. It leaves no process or file behind.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/examples/chain"
	"github.com/kitexsuite/suite/logging"
	"github.com/kitexsuite/suite/metrics"
	etcdreg "github.com/kitexsuite/suite/registry/etcd"
	"github.com/kitexsuite/suite/tracing"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "how long to drive traffic")
	serve := flag.Bool("serve", false, "keep the chain running and print its URLs until interrupted")
	flag.Parse()
	if err := run(os.Stdout, *duration, *serve); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo is the running chain.
type demo struct {
	etcd      *embeddedEtcd
	cli       *clientv3.Client
	resolver  *discoverycore.Resolver
	registry  *etcdreg.Registry
	reg       *prometheus.Registry
	rec       *tracetest.SpanRecorder
	prop      propagation.TextMapPropagator
	providers map[string]*sdktrace.TracerProvider
	services  []*chain.Service
	gateway   string // host:port
	events    *eventLog
}

func (d *demo) provider(service string) *sdktrace.TracerProvider {
	if tp := d.providers[service]; tp != nil {
		return tp
	}
	res := resource.NewSchemaless(semconv.ServiceName(service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(d.rec), sdktrace.WithResource(res))
	d.providers[service] = tp
	return tp
}

// start runs one service of the chain on a fresh loopback port.
func (d *demo) start(name string) (*chain.Service, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := chain.Options{Listener: ln, TracerProvider: d.provider(name), Propagator: d.prop, Metrics: d.reg,
		Resolver: d.resolver, ExitWait: 100 * time.Millisecond}
	if name != chain.Gateway {
		o.Registry = d.registry
	}
	s, err := chain.Start(name, o)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	d.services = append(d.services, s)
	return s, nil
}

func startDemo() (*demo, error) {
	d := &demo{reg: prometheus.NewRegistry(), rec: tracetest.NewSpanRecorder(), providers: map[string]*sdktrace.TracerProvider{},
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	var err error
	if d.etcd, err = startEtcd(); err != nil {
		return nil, err
	}
	if d.cli, err = d.etcd.client(); err != nil {
		return d, err
	}
	d.events = watchRegistry(d.cli, etcdreg.DefaultPrefix+"/")
	d.registry = etcdreg.NewRegistry(d.cli, etcdreg.WithDrainDelay(300*time.Millisecond))
	d.resolver = etcdreg.NewResolver(d.cli)
	for _, name := range []string{chain.Inventory, chain.Inventory, chain.Orders, chain.Gateway} {
		s, err := d.start(name)
		if err != nil {
			return d, err
		}
		if name == chain.Gateway {
			d.gateway = s.Addr
		}
	}
	return d, nil
}

func (d *demo) stopServices() {
	for i := len(d.services) - 1; i >= 0; i-- { // gateway first, inventory last
		_ = d.services[i].Stop()
	}
	d.services = nil
}

func (d *demo) stop() {
	d.stopServices()
	for _, tp := range d.providers {
		_ = tp.Shutdown(context.Background())
	}
	if d.resolver != nil {
		_ = d.resolver.Close()
	}
	if d.events != nil {
		d.events.stop()
	}
	if d.cli != nil {
		_ = d.cli.Close()
	}
	if d.etcd != nil {
		d.etcd.stop()
	}
}

// awaitReady waits until the resolver lists every registered replica.
func (d *demo) awaitReady() (time.Duration, error) {
	var inventory, orders []string
	for _, s := range d.services {
		switch s.Name {
		case chain.Inventory:
			inventory = append(inventory, s.Addr)
		case chain.Orders:
			orders = append(orders, s.Addr)
		}
	}
	took, err := awaitInstances(d.resolver, chain.Inventory, inventory)
	if err != nil {
		return 0, err
	}
	_, err = awaitInstances(d.resolver, chain.Orders, orders)
	return took, err
}

func run(w io.Writer, duration time.Duration, serve bool) error {
	// The application owns Kitex's logger: handlers log through klog, and the
	// slog adapter adds the ids of each call's span.
	logs := &lockedBuffer{}
	logger := logging.NewLogger(logging.WithHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		logging.WithLevel(klog.LevelInfo))
	prev := klog.DefaultLogger()
	klog.SetLogger(logger)
	defer klog.SetLogger(prev)

	d, err := startDemo()
	if d != nil {
		defer d.stop()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "kitexsuite demo: gateway (HTTP) → orders (Thrift/TTHeader) → inventory (gRPC, 2 replicas), registry: embedded etcd at %s\n", d.etcd.url)
	took, err := d.awaitReady()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "all replicas registered and resolved after %v (Kitex registers 1 s after Run)\n", took.Round(time.Millisecond))
	if serve {
		return d.serve(w)
	}

	start := time.Now()
	stats, err := d.drive(w, duration)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	// Servers end their spans after replying; stopping them first makes
	// every span final before the tree is printed.
	d.stopServices()

	fmt.Fprintf(w, "\nregistry events (etcd watch on %s/; times since the start):\n", etcdreg.DefaultPrefix)
	d.events.print(w)

	spans := d.rec.Ended()
	okTrace, _ := stats.okTrace.Load().(string)
	id := completeTrace(spans, okTrace)
	fmt.Fprintf(w, "\nspan tree of one request (trace %s):\n", id)
	printTree(w, spans, id)
	fmt.Fprintf(w, "\nrecorded %d spans in %d traces\n", len(spans), countTraces(spans))
	fmt.Fprintf(w, "\nhandler logs of that request (klog through kitexsuite/logging, slog text):\n")
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, id.String()) {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	fmt.Fprintf(w, "\nper-method metrics over %v (kitex_*_call_duration_seconds; RPS = calls / duration):\n", elapsed.Round(time.Millisecond))
	return printMetrics(w, d.reg, elapsed)
}

// trafficStats is what the load generator saw.
type trafficStats struct {
	requests, failed atomic.Int64
	okTrace          atomic.Value // trace id of a successful request
}

// drive sends requests to the gateway from a few workers for duration,
// with a share asking for business errors, handler errors and timeouts;
// half-way it restarts one inventory replica with drain. A progress line
// shows while it runs.
func (d *demo) drive(w io.Writer, duration time.Duration) (*trafficStats, error) {
	st := &trafficStats{}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer httpc.CloseIdleConnections()
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				q := fmt.Sprintf("item=sku-%d", i%50)
				switch {
				case worker == 0 && i%40 == 7:
					q += "&fail=biz"
				case worker == 1 && i%60 == 11:
					q += "&fail=error"
				case worker == 2 && i == 5:
					q += "&fail=slow"
				}
				resp, err := httpc.Get("http://" + d.gateway + "/order?" + q)
				st.requests.Add(1)
				if err != nil {
					st.failed.Add(1)
					continue
				}
				var body struct {
					TraceID string `json:"trace_id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					st.failed.Add(1)
				} else if !strings.Contains(q, "fail") {
					st.okTrace.Store(body.TraceID)
				}
			}
		}()
	}
	restarted := make(chan error, 1)
	go func() { restarted <- d.restartInventory(ctx, duration/2) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		fmt.Fprintf(w, "\r  traffic: %5d requests, %3d answered with an error, %4.1fs", st.requests.Load(), st.failed.Load(), time.Since(start).Seconds())
	}
	wg.Wait()
	fmt.Fprintf(w, "\r  traffic: %5d requests, %3d answered with an error (the business errors, handler errors and one timeout asked for)\n", st.requests.Load(), st.failed.Load())
	if err := <-restarted; err != nil {
		return nil, err
	}
	if st.okTrace.Load() == nil {
		return nil, fmt.Errorf("no request succeeded")
	}
	return st, nil
}

// restartInventory stops the first inventory replica after delay (it
// deregisters and drains) and starts a replacement.
func (d *demo) restartInventory(ctx context.Context, delay time.Duration) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(delay):
	}
	for i, s := range d.services {
		if s.Name != chain.Inventory {
			continue
		}
		var others []string
		for _, o := range d.services {
			if o.Name == chain.Inventory && o != s {
				others = append(others, o.Addr)
			}
		}
		d.events.note("inventory " + s.Addr + " stopping: deregister, drain 300 ms, close")
		stopped := make(chan error, 1)
		go func() { stopped <- s.Stop() }()
		if _, err := awaitInstances(d.resolver, chain.Inventory, others); err != nil {
			return err
		}
		d.events.note("orders' resolver follows: inventory = " + strings.Join(others, ", "))
		if err := <-stopped; err != nil {
			return err
		}
		d.events.note("inventory " + s.Addr + " closed")
		d.services = append(d.services[:i:i], d.services[i+1:]...)
		ns, err := d.start(chain.Inventory)
		if err != nil {
			return err
		}
		d.events.note("inventory " + ns.Addr + " started (registers 1 s after Run)")
		if _, err := awaitInstances(d.resolver, chain.Inventory, append(others, ns.Addr)); err != nil {
			return err
		}
		d.events.note("orders' resolver follows: inventory = " + strings.Join(append(others, ns.Addr), ", "))
		return nil
	}
	return nil
}

// serve keeps the chain up until interrupted.
func (d *demo) serve(w io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(d.reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintf(w, "serving: gateway http://%s/order?item=x  metrics (all three services) http://%s/metrics\nCtrl-C to stop\n", d.gateway, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	return nil
}

// completeTrace picks the trace of a successful request that has spans of
// all three services, preferring want.
func completeTrace(spans []sdktrace.ReadOnlySpan, want string) trace.TraceID {
	services := map[trace.TraceID]map[string]bool{}
	for _, s := range spans {
		id := s.SpanContext().TraceID()
		if services[id] == nil {
			services[id] = map[string]bool{}
		}
		services[id][serviceOf(s)] = true
	}
	if id, err := trace.TraceIDFromHex(want); err == nil && len(services[id]) == 3 {
		return id
	}
	for id, svcs := range services {
		if len(svcs) == 3 {
			return id
		}
	}
	return trace.TraceID{}
}

func printTree(w io.Writer, spans []sdktrace.ReadOnlySpan, id trace.TraceID) {
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	inTrace := map[trace.SpanID]bool{}
	for _, s := range spans {
		if s.SpanContext().TraceID() == id {
			inTrace[s.SpanContext().SpanID()] = true
		}
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != id {
			continue
		}
		if p := s.Parent().SpanID(); inTrace[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	fmt.Fprintf(w, "  %-44s %-10s %-7s %10s  %s\n", "SPAN", "SERVICE", "KIND", "DURATION", "STATUS")
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		name := strings.Repeat("  ", depth) + s.Name()
		fmt.Fprintf(w, "  %-44s %-10s %-7s %10s  %s\n", name, serviceOf(s), kindOf(s),
			s.EndTime().Sub(s.StartTime()).Round(time.Microsecond), statusOf(s))
		kids := children[s.SpanContext().SpanID()]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime().Before(kids[j].StartTime()) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

func serviceOf(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Resource().Attributes() {
		if kv.Key == semconv.ServiceNameKey {
			return kv.Value.AsString()
		}
	}
	return "?"
}

func kindOf(s sdktrace.ReadOnlySpan) string {
	return strings.ToUpper(s.SpanKind().String())
}

func statusOf(s sdktrace.ReadOnlySpan) string {
	st := s.Status().Code.String()
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case attribute.Key("error.type"):
			st += " error.type=" + kv.Value.AsString()
		case tracing.BizStatusCodeKey:
			st += " biz_status=" + kv.Value.Emit()
		}
	}
	return st
}

func countTraces(spans []sdktrace.ReadOnlySpan) int {
	ids := map[trace.TraceID]bool{}
	for _, s := range spans {
		ids[s.SpanContext().TraceID()] = true
	}
	return len(ids)
}

// dropTime keeps the demo's log lines short.
func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// lockedBuffer collects log lines written on Kitex's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
