// Command demo runs a Kitex chain in one process on loopback (client →
// frontend → two backend instances), traced, measured and discovered by the
// kitexsuite modules, and prints what it observed: the registry, span
// trees, trace-correlated logs and per-method metrics.
//
// Servers register in an etcd embedded in the process and clients find
// them through the etcd resolver; each service has its own TracerProvider
// (so its own service.name), all recording into one in-memory recorder:
// nothing to install, nothing left behind.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/logging"
	"github.com/kitexsuite/suite/metrics"
	etcdreg "github.com/kitexsuite/suite/registry/etcd"
	"github.com/kitexsuite/suite/tracing"
)

func main() {
	calls := flag.Int("calls", 5, "calls to make through the chain")
	flag.Parse()
	if err := run(os.Stdout, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// chain is the running demo: an embedded etcd, three providers, one
// recorder, three servers.
type chain struct {
	etcd      *embeddedEtcd
	cli       *clientv3.Client
	resolver  *discoverycore.Resolver
	backends  []*testservice.Server
	reg       *prometheus.Registry // every service's metrics (one process)
	rec       *tracetest.SpanRecorder
	providers []*sdktrace.TracerProvider
	servers   []*testservice.Server
	entry     testservice.Forward
	root      trace.Tracer
}

func (c *chain) provider(service string) *sdktrace.TracerProvider {
	res := resource.NewSchemaless(semconv.ServiceName(service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(c.rec), sdktrace.WithResource(res))
	c.providers = append(c.providers, tp)
	return tp
}

func start() (*chain, error) {
	c := &chain{rec: tracetest.NewSpanRecorder(), reg: prometheus.NewRegistry()}
	var err error
	if c.etcd, err = startEtcd(); err != nil {
		return nil, err
	}
	if c.cli, err = c.etcd.client(); err != nil {
		return c, err
	}
	registry := etcdreg.NewRegistry(c.cli, etcdreg.WithDrainDelay(200*time.Millisecond))
	c.resolver = etcdreg.NewResolver(c.cli)
	discovered := []client.Option{client.WithResolver(c.resolver), discoverycore.WithFastRefresh(nil, 0)}

	measured := func() []metrics.Option { return []metrics.Option{metrics.WithRegisterer(c.reg)} }
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	opts := func(service string) []tracing.Option {
		return []tracing.Option{tracing.WithTracerProvider(c.provider(service)), tracing.WithPropagators(prop)}
	}
	traceID := func(ctx context.Context) string {
		klog.CtxInfof(ctx, "handling %s", rpcinfo.GetRPCInfo(ctx).To().ServiceName()) // trace-correlated by the logging adapter
		return trace.SpanContextFromContext(ctx).TraceID().String()
	}

	backendOpts, frontendOpts, clientOpts := opts("backend"), opts("frontend"), opts("client")
	for range 2 {
		backend, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{TraceID: traceID},
			server.WithSuite(tracing.NewServerSuite(backendOpts...)), server.WithSuite(metrics.NewServerSuite(measured()...)),
			server.WithRegistry(registry))
		if err != nil {
			return c, err
		}
		c.servers = append(c.servers, backend)
		c.backends = append(c.backends, backend)
	}
	toBackend, err := testservice.NewForward(testservice.Thrift, "backend", "", append(discovered,
		client.WithSuite(tracing.NewClientSuite(frontendOpts...)), client.WithSuite(metrics.NewClientSuite(measured()...)),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "frontend"}))...)
	if err != nil {
		return c, err
	}
	frontend, err := testservice.Start("frontend", testservice.Thrift, &testservice.Handler{Next: toBackend, TraceID: traceID},
		server.WithSuite(tracing.NewServerSuite(frontendOpts...)), server.WithSuite(metrics.NewServerSuite(measured()...)),
		server.WithRegistry(registry))
	if err != nil {
		return c, err
	}
	c.servers = append(c.servers, frontend)
	c.entry, err = testservice.NewForward(testservice.Thrift, "frontend", "", append(discovered,
		client.WithSuite(tracing.NewClientSuite(clientOpts...)), client.WithSuite(metrics.NewClientSuite(measured()...)),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "client"}))...)
	c.root = c.providers[len(c.providers)-1].Tracer("demo")
	return c, err
}

// discover waits until every server is registered and resolvable, and
// prints the registry.
func (c *chain) discover(w io.Writer) error {
	backends := []string{c.backends[0].Addr, c.backends[1].Addr}
	took, err := awaitInstances(c.resolver, "backend", backends)
	if err != nil {
		return err
	}
	if _, err := awaitInstances(c.resolver, "frontend", []string{c.servers[2].Addr}); err != nil {
		return err
	}
	fmt.Fprintf(w, "discovery: embedded etcd at %s; servers registered (Kitex registers 1 s after Run, resolved after %v):\n",
		c.etcd.url, took.Round(time.Millisecond))
	return printRegistry(w, c.cli, etcdreg.DefaultPrefix+"/")
}

// drain stops one backend instance and reports how soon the frontend's
// resolver stopped listing it.
func (c *chain) drain(w io.Writer) error {
	gone, left := c.backends[1], c.backends[0]
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- gone.Stop() }() // Deregister revokes the lease, then drains 200 ms
	took, err := awaitInstances(c.resolver, "backend", []string{left.Addr})
	if err != nil {
		return err
	}
	if err := <-stopped; err != nil {
		return err
	}
	c.servers = slices.DeleteFunc(c.servers, func(s *testservice.Server) bool { return s == gone })
	fmt.Fprintf(w, "\nbackend %s stopped: deregistered, resolver saw it gone after %v, server closed after %v (drain)\n",
		gone.Addr, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *chain) stop() {
	for _, s := range c.servers {
		_ = s.Stop()
	}
	for _, tp := range c.providers {
		_ = tp.Shutdown(context.Background())
	}
	if c.resolver != nil {
		_ = c.resolver.Close()
	}
	if c.cli != nil {
		_ = c.cli.Close()
	}
	if c.etcd != nil {
		c.etcd.stop()
	}
}

func run(w io.Writer, calls int) error {
	// The application owns Kitex's logger: handlers log through klog, and the
	// slog adapter adds the ids of each call's span.
	logs := &lockedBuffer{}
	logger := logging.NewLogger(logging.WithHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		logging.WithLevel(klog.LevelInfo))
	prev := klog.DefaultLogger()
	klog.SetLogger(logger)
	defer klog.SetLogger(prev)

	c, err := start()
	if c != nil {
		defer c.stop()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "kitexsuite demo: client → frontend → backend (2 instances) on loopback, %d calls\n\n", calls)
	if err := c.discover(w); err != nil {
		return err
	}
	fmt.Fprintln(w)

	var first, last trace.TraceID
	for i := 0; i < calls; i++ {
		action := ""
		if i == calls-1 && calls > 1 {
			action = testservice.ActionBizError // one business error, to show its status
		}
		member, _ := baggage.NewMember("tenant", "acme")
		bag, _ := baggage.New(member)
		ctx := baggage.ContextWithBaggage(context.Background(), bag)
		ctx, span := c.root.Start(ctx, "demo.request")
		_, err := c.entry(ctx, &testservice.Request{Message: fmt.Sprintf("call %d", i), Hops: 1, Action: action})
		span.End()
		status := "ok"
		if err != nil {
			status = "error: " + err.Error()
		}
		fmt.Fprintf(w, "call %d  trace %s  %s\n", i, span.SpanContext().TraceID(), status)
		if i == 0 {
			first = span.SpanContext().TraceID()
		}
		last = span.SpanContext().TraceID()
	}
	if err := c.drain(w); err != nil {
		return err
	}
	// Servers end their spans after replying; stopping them first makes
	// every span of every call final before the tree is printed.
	for _, s := range c.servers {
		_ = s.Stop()
	}
	c.servers = nil

	spans := c.rec.Ended()
	fmt.Fprintf(w, "\nspan tree of call 0 (trace %s):\n", first)
	printTree(w, spans, first)
	if last != first {
		fmt.Fprintf(w, "\nspan tree of call %d, a business error at the backend (trace %s):\n", calls-1, last)
		printTree(w, spans, last)
	}
	fmt.Fprintf(w, "\nrecorded %d spans in %d traces\n", len(spans), countTraces(spans))
	fmt.Fprintf(w, "\nhandler logs of call 0 (klog through kitexsuite/logging, slog text):\n")
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, first.String()) {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	fmt.Fprintf(w, "\nmetrics (kitex_*_call_duration_seconds, one Prometheus registry):\n")
	return printMetrics(w, c.reg)
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
