package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/gopkg/cloud/metainfo"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/ext"
	jaeger "github.com/uber/jaeger-client-go"
	jaegertransport "github.com/uber/jaeger-client-go/transport"
	"github.com/uber/jaeger-client-go/zipkin"
	"go.opentelemetry.io/contrib/propagators/b3"
	otjaeger "go.opentelemetry.io/contrib/propagators/jaeger"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
	"github.com/kitexsuite/suite/tracing/opentracing"
	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// A fleet still on jaeger-client: real jaeger-client v2.30.0 tracers
// (in-memory reporters) at the legacy hops, tracer-opentracing's wire
// behaviour reproduced from its source (middleware.go: Inject(Binary)
// into metainfo; Extract(Binary) from it, failing the RPC when it cannot),
// and kitexsuite hops between them.

// jaegerTracer is a real jaeger-client tracer whose spans the test reads.
type jaegerTracer struct {
	ot.Tracer
	spans *jaeger.InMemoryReporter
}

func newJaegerTracer(t *testing.T, service string, sampled bool, opts ...jaeger.TracerOption) *jaegerTracer {
	t.Helper()
	rep := jaeger.NewInMemoryReporter()
	tr, closer := jaeger.NewTracer(service, jaeger.NewConstSampler(sampled), rep, opts...)
	t.Cleanup(func() { _ = closer.Close() })
	return &jaegerTracer{Tracer: tr, spans: rep}
}

// only returns the one span the tracer reported.
func (j *jaegerTracer) only(t *testing.T) jaeger.SpanContext {
	t.Helper()
	spans := j.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("jaeger-client reported %d spans, want 1", len(spans))
	}
	return spans[0].(*jaeger.Span).SpanContext()
}

// otelTraceID is a jaeger trace id as OpenTelemetry writes it (32 hex).
func otelTraceID(id jaeger.TraceID) string { return fmt.Sprintf("%016x%016x", id.High, id.Low) }

// legacyInject is tracer-opentracing's client middleware: the caller's span
// context, Inject(Binary), into metainfo under key (base64 for main's key).
func legacyInject(tr ot.Tracer, span func(context.Context) ot.Span, key string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			sp := span(ctx)
			var b bytes.Buffer
			_ = tr.Inject(sp.Context(), ot.Binary, &b) // tracer-opentracing ignores the error
			v := b.String()
			if key == opentracing.SpanContextKey {
				v = base64.StdEncoding.EncodeToString(b.Bytes())
			}
			return next(metainfo.WithValue(ctx, key, v), req, resp)
		}
	}
}

// legacyExtract is tracer-opentracing's server middleware: the span
// context from metainfo, Extract(Binary), a server span as its child; an
// extract failure fails the RPC.
func legacyExtract(tr ot.Tracer, key string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			opts := []ot.StartSpanOption{}
			if v, ok := metainfo.GetValue(ctx, key); ok {
				raw := []byte(v)
				if key == opentracing.SpanContextKey {
					var err error
					if raw, err = base64.StdEncoding.DecodeString(v); err != nil {
						return fmt.Errorf("decode opentracing binary failed, %w", err)
					}
				}
				parent, err := tr.Extract(ot.Binary, bytes.NewBuffer(raw))
				if err != nil {
					return fmt.Errorf("extract SpanContext failed, %w", err)
				}
				opts = append(opts, ot.ChildOf(parent))
			}
			sp := tr.StartSpan("legacy-server", opts...)
			defer sp.Finish()
			return next(ot.ContextWithSpan(ctx, sp), req, resp)
		}
	}
}

// otelRecorder is an SDK provider whose ended spans the test reads, and
// the FinishSignal its servers install before their Suites.
func otelRecorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder, testservice.FinishSignal) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec, testservice.NewFinishSignal(16)
}

// awaitSpans waits until servers calls have finished on servers with
// fin (a server ends its span after the reply is written, so the caller
// may see the reply first) and returns the ended spans, exactly n.
func awaitSpans(t *testing.T, rec *tracetest.SpanRecorder, fin testservice.FinishSignal, servers, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	if err := fin.Wait(servers, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != n {
		t.Fatalf("%d spans ended, want %d", len(spans), n)
	}
	return spans
}

// A legacy client (real jaeger-client, tracer-opentracing's inject, both
// key forms) → a kitexsuite server: the server span continues the jaeger
// trace, parented on the jaeger span, for 64- and 128-bit trace ids,
// unsampled and debug traces.
func TestJaegerLegacyClientToKitexsuiteServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     string
		sampled bool
		debug   bool
		opts    []jaeger.TracerOption
	}{
		{"v0.0.3 raw, 64-bit", opentracing.SpanContextKeyV003, true, false, nil},
		{"main base64, 128-bit", opentracing.SpanContextKey, true, false, []jaeger.TracerOption{jaeger.TracerOptions.Gen128Bit(true)}},
		{"v0.0.3 raw, unsampled", opentracing.SpanContextKeyV003, false, false, nil},
		{"main base64, debug", opentracing.SpanContextKey, false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jt := newJaegerTracer(t, "legacy-client", tc.sampled, tc.opts...)
			tp, rec, fin := otelRecorder(t)
			srv, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{TraceID: interopTraceID},
				server.WithTracer(fin), server.WithSuite(opentracing.ServerSuite(opentracing.WithTracingOptions(tracing.WithTracerProvider(tp)))))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			root := jt.StartSpan("legacy-call")
			if tc.debug {
				ext.SamplingPriority.Set(root, 1)
			}
			call, err := testservice.NewForward(testservice.Thrift, "echo", srv.Addr,
				client.WithTransportProtocol(transport.TTHeader), client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
				client.WithMiddleware(legacyInject(jt, func(context.Context) ot.Span { return root }, tc.key)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := call(context.Background(), &testservice.Request{Message: "hi"})
			root.Finish()
			if err != nil {
				t.Fatal(err)
			}
			jsc := root.Context().(jaeger.SpanContext)
			if jsc.IsDebug() != tc.debug || jsc.IsSampled() != (tc.sampled || tc.debug) {
				t.Fatalf("the jaeger span is debug %v sampled %v, not the case asked", jsc.IsDebug(), jsc.IsSampled())
			}
			if resp.TraceIDs[0] != otelTraceID(jsc.TraceID()) {
				t.Fatalf("the handler saw trace %s, want jaeger's %s", resp.TraceIDs[0], otelTraceID(jsc.TraceID()))
			}
			if !jsc.IsSampled() {
				awaitSpans(t, rec, fin, 1, 0) // none recorded once the server has finished
				return
			}
			sv := awaitSpans(t, rec, fin, 1, 1)[0]
			if sv.Parent().SpanID().String() != jsc.SpanID().String() || !sv.Parent().IsRemote() {
				t.Fatalf("server span parent %s, want the jaeger span %s", sv.Parent().SpanID(), jsc.SpanID())
			}
		})
	}
}

// A kitexsuite client → a legacy server (real jaeger-client extract, both
// key forms): the span jaeger-client reports is the child of the OTel
// client span, in its trace.
func TestKitexsuiteClientToJaegerLegacyServer(t *testing.T) {
	for _, key := range []string{opentracing.SpanContextKeyV003, opentracing.SpanContextKey} {
		t.Run(key, func(t *testing.T) {
			jt := newJaegerTracer(t, "legacy-server", true)
			tp, rec, fin := otelRecorder(t)
			srv, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{},
				server.WithMetaHandler(transmeta.ServerTTHeaderHandler), server.WithMiddleware(legacyExtract(jt, key)))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			call, err := testservice.NewForward(testservice.Thrift, "echo", srv.Addr,
				client.WithSuite(opentracing.ClientSuite(opentracing.WithTracingOptions(tracing.WithTracerProvider(tp)))))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call(context.Background(), &testservice.Request{Message: "hi"}); err != nil {
				t.Fatalf("the legacy server failed the call: %v", err)
			}
			cl := awaitSpans(t, rec, fin, 0, 1)[0] // a client span ends before the call returns
			js := jt.only(t)
			if otelTraceID(js.TraceID()) != cl.SpanContext().TraceID().String() || js.ParentID().String() != cl.SpanContext().SpanID().String() {
				t.Fatalf("jaeger span trace %s parent %s, want the client span's %s/%s",
					otelTraceID(js.TraceID()), js.ParentID(), cl.SpanContext().TraceID(), cl.SpanContext().SpanID())
			}
		})
	}
}

// textMapInject and textMapExtract carry a jaeger-client span context in
// metainfo field by field, as a service would with tracer.Inject(TextMap).
func textMapInject(tr ot.Tracer, span func(context.Context) ot.Span) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			c := ot.TextMapCarrier{}
			if err := tr.Inject(span(ctx).Context(), ot.TextMap, c); err != nil {
				return err
			}
			for k, v := range c {
				ctx = metainfo.WithValue(ctx, k, v)
			}
			return next(ctx, req, resp)
		}
	}
}

func textMapExtract(tr ot.Tracer, name string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp any) error {
			c := ot.TextMapCarrier{}
			for k, v := range metainfo.GetAllValues(ctx) {
				c[k] = v
			}
			parent, err := tr.Extract(ot.TextMap, c)
			if err != nil {
				return fmt.Errorf("extract from %v: %w", c, err)
			}
			sp := tr.StartSpan(name, ot.ChildOf(parent))
			defer sp.Finish()
			return next(ot.ContextWithSpan(ctx, sp), req, resp)
		}
	}
}

// jaeger-client → kitexsuite → jaeger-client over TTHeader, with
// jaeger-client's own TextMap format (uber-trace-id, uberctx- baggage) and
// with its B3 propagator (x-b3-*): one trace, each span the child of the
// one before, the first hop's baggage item at the last.
func TestJaegerClientThroughKitexsuite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []jaeger.TracerOption
		props []propagation.TextMapPropagator
	}{
		{"uber-trace-id", nil, []propagation.TextMapPropagator{otjaeger.Jaeger{}, opentracing.UberctxBaggage()}},
		{"b3", func() []jaeger.TracerOption {
			p := zipkin.NewZipkinB3HTTPHeaderPropagator()
			return []jaeger.TracerOption{jaeger.TracerOptions.Injector(ot.TextMap, p), jaeger.TracerOptions.Extractor(ot.TextMap, p)}
		}(), []propagation.TextMapPropagator{b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)), opentracing.UberctxBaggage()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := newJaegerTracer(t, "first", true, tc.opts...)
			last := newJaegerTracer(t, "last", true, tc.opts...)
			tp, rec, fin := otelRecorder(t)
			prop := propagation.NewCompositeTextMapPropagator(tc.props...)
			suiteOpts := []tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagators(prop), tracing.WithContribMetainfoWrite()}

			lastBaggage := make(chan string, 1)
			end, err := testservice.Start("last", testservice.Thrift, &testservice.Handler{
				TraceID: func(ctx context.Context) string {
					if sp := ot.SpanFromContext(ctx); sp != nil {
						lastBaggage <- sp.BaggageItem("user")
					}
					return ""
				},
			}, server.WithMetaHandler(transmeta.ServerTTHeaderHandler), server.WithMiddleware(textMapExtract(last, "last-server")))
			if err != nil {
				t.Fatal(err)
			}
			defer end.Stop()
			toEnd, err := testservice.NewForward(testservice.Thrift, "last", end.Addr, client.WithSuite(tracing.NewClientSuite(suiteOpts...)))
			if err != nil {
				t.Fatal(err)
			}
			mid, err := testservice.Start("mid", testservice.Thrift, &testservice.Handler{Next: toEnd},
				server.WithTracer(fin), server.WithSuite(tracing.NewServerSuite(suiteOpts...)))
			if err != nil {
				t.Fatal(err)
			}
			defer mid.Stop()
			root := first.StartSpan("first-call")
			root.SetBaggageItem("user", "alice")
			call, err := testservice.NewForward(testservice.Thrift, "mid", mid.Addr,
				client.WithTransportProtocol(transport.TTHeader), client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
				client.WithMiddleware(textMapInject(first, func(context.Context) ot.Span { return root })))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call(context.Background(), &testservice.Request{Message: "hi", Hops: 1}); err != nil {
				t.Fatal(err)
			}
			root.Finish()
			otel := awaitSpans(t, rec, fin, 1, 2)
			var sv, cl sdktrace.ReadOnlySpan
			for _, s := range otel {
				if strings.HasSuffix(s.SpanKind().String(), "server") {
					sv = s
				} else {
					cl = s
				}
			}
			rsc := root.Context().(jaeger.SpanContext)
			ls := last.only(t)
			switch {
			case sv.SpanContext().TraceID().String() != otelTraceID(rsc.TraceID()):
				t.Fatalf("kitexsuite's server span is in trace %s, want jaeger's %s", sv.SpanContext().TraceID(), otelTraceID(rsc.TraceID()))
			case sv.Parent().SpanID().String() != rsc.SpanID().String():
				t.Fatalf("kitexsuite's server span parent %s, want the first jaeger span %s", sv.Parent().SpanID(), rsc.SpanID())
			case cl.Parent().SpanID() != sv.SpanContext().SpanID():
				t.Fatalf("kitexsuite's client span is not the server span's child")
			case otelTraceID(ls.TraceID()) != otelTraceID(rsc.TraceID()) || ls.ParentID().String() != cl.SpanContext().SpanID().String():
				t.Fatalf("the last jaeger span is in trace %s under %s, want %s under kitexsuite's client span %s",
					otelTraceID(ls.TraceID()), ls.ParentID(), otelTraceID(rsc.TraceID()), cl.SpanContext().SpanID())
			}
			if got := <-lastBaggage; tc.name == "uber-trace-id" && got != "alice" {
				t.Fatalf("the last hop's span has baggage user=%q, want alice from the first hop", got)
			}
		})
	}
}

// jaeger-client kept as the handlers' tracer (no bridge): ServerSuite hands
// the server span to it through uber-trace-id, so the handler's
// opentracing.StartSpanFromContext span — reported by jaeger-client — is
// the server span's child, in its trace.
func TestJaegerClientAsHandlerTracerJoinsTheServerSpan(t *testing.T) {
	jt := newJaegerTracer(t, "handler", true, jaeger.TracerOptions.Gen128Bit(true))
	tp, rec, fin := otelRecorder(t)
	srv, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{
		TraceID: func(ctx context.Context) string {
			sp, _ := ot.StartSpanFromContextWithTracer(ctx, jt, "db")
			sp.Finish()
			return ""
		},
	}, server.WithTracer(fin), server.WithSuite(opentracing.ServerSuite(opentracing.WithTracer(jt), opentracing.WithTracingOptions(tracing.WithTracerProvider(tp)))))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	call, err := testservice.NewForward(testservice.Thrift, "echo", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(context.Background(), &testservice.Request{Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	sv := awaitSpans(t, rec, fin, 1, 1)[0]
	db := jt.only(t)
	if otelTraceID(db.TraceID()) != sv.SpanContext().TraceID().String() || db.ParentID().String() != sv.SpanContext().SpanID().String() {
		t.Fatalf("jaeger's db span is in trace %s under %s, want the server span's %s/%s",
			otelTraceID(db.TraceID()), db.ParentID(), sv.SpanContext().TraceID(), sv.SpanContext().SpanID())
	}
}

// One trace in the real Jaeger the harness runs, from a chain with a
// jaeger-client hop (its HTTP reporter, thrift to the collector's
// /api/traces) and an OTLP hop (otelsetup, OTLP/HTTP): jaeger-client's
// client span → kitexsuite's server span (OTLP) → jaeger-client's server
// span, each the child of the one before, under one trace id.
func TestJaegerBackendHoldsOneMixedTrace(t *testing.T) {
	j := harness.StartJaeger(t)
	report := func(service string) *jaegerTracer {
		sender := jaegertransport.NewHTTPTransport(j.ThriftHTTPURL())
		rep := jaeger.NewInMemoryReporter()
		tr, closer := jaeger.NewTracer(service, jaeger.NewConstSampler(true),
			jaeger.NewCompositeReporter(jaeger.NewRemoteReporter(sender), rep), jaeger.TracerOptions.Gen128Bit(true))
		t.Cleanup(func() { _ = closer.Close() })
		return &jaegerTracer{Tracer: tr, spans: rep}
	}
	first, last := report("legacy-first"), report("legacy-last")
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + j.OTLPHTTPAddr(),
		"OTEL_PROPAGATORS":            "jaegerspancontext,tracecontext,baggage",
	}
	setup, err := otelsetup.New(context.Background(), append(opentracing.SetupOptions(),
		otelsetup.WithServiceName("kitexsuite-mid"), otelsetup.WithEnv(func(k string) string { return env[k] }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Shutdown(context.Background())
	suiteOpts := opentracing.WithTracingOptions(tracing.WithTracerProvider(setup.TracerProvider()))

	end, err := testservice.Start("last", testservice.Thrift, &testservice.Handler{},
		server.WithMetaHandler(transmeta.ServerTTHeaderHandler), server.WithMiddleware(legacyExtract(last, opentracing.SpanContextKeyV003)))
	if err != nil {
		t.Fatal(err)
	}
	defer end.Stop()
	toEnd, err := testservice.NewForward(testservice.Thrift, "last", end.Addr, client.WithSuite(opentracing.ClientSuite(suiteOpts)))
	if err != nil {
		t.Fatal(err)
	}
	mid, err := testservice.Start("mid", testservice.Thrift, &testservice.Handler{Next: toEnd}, server.WithSuite(opentracing.ServerSuite(suiteOpts)))
	if err != nil {
		t.Fatal(err)
	}
	defer mid.Stop()
	root := first.StartSpan("legacy-call", ext.SpanKindRPCClient)
	call, err := testservice.NewForward(testservice.Thrift, "mid", mid.Addr,
		client.WithTransportProtocol(transport.TTHeader), client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithMiddleware(legacyInject(first, func(context.Context) ot.Span { return root }, opentracing.SpanContextKeyV003)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(context.Background(), &testservice.Request{Message: "hi", Hops: 1}); err != nil {
		t.Fatal(err)
	}
	root.Finish()
	traceID := otelTraceID(root.Context().(jaeger.SpanContext).TraceID())
	_ = setup.ForceFlush(context.Background())

	// Four spans: legacy-call, mid's server and client (OTLP), the last
	// hop's legacy-server (both reporters flush on their own schedule).
	var spans []harness.JaegerSpan
	deadline := time.Now().Add(30 * time.Second)
	for len(spans) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger holds %d spans of trace %s after 30 s, want 4: %+v", len(spans), traceID, spans)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		spans, err = j.Trace(ctx, traceID)
		cancel()
		if err != nil && !errors.Is(err, harness.ErrTraceNotFound) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // polling Jaeger's query API, which has no push
	}
	byService := map[string]harness.JaegerSpan{}
	for _, s := range spans {
		byService[s.Service+"/"+s.Kind] = s
	}
	legacyCall, midServer, midClient, legacyServer := byService["legacy-first/client"], byService["kitexsuite-mid/server"], byService["kitexsuite-mid/client"], byService["legacy-last/"]
	if legacyServer.SpanID == "" {
		legacyServer = byService["legacy-last/server"]
	}
	switch {
	case len(spans) != 4:
		t.Fatalf("Jaeger holds %d spans, want 4: %+v", len(spans), spans)
	case legacyCall.SpanID == "" || midServer.SpanID == "" || midClient.SpanID == "" || legacyServer.SpanID == "":
		t.Fatalf("missing a span by service: %+v", byService)
	case midServer.ParentSpanID != legacyCall.SpanID:
		t.Fatalf("kitexsuite's server span's parent %s, want jaeger-client's call %s", midServer.ParentSpanID, legacyCall.SpanID)
	case midClient.ParentSpanID != midServer.SpanID:
		t.Fatalf("kitexsuite's client span's parent %s, want its server span %s", midClient.ParentSpanID, midServer.SpanID)
	case legacyServer.ParentSpanID != midClient.SpanID:
		t.Fatalf("the legacy server span's parent %s, want kitexsuite's client span %s", legacyServer.ParentSpanID, midClient.SpanID)
	}
}
