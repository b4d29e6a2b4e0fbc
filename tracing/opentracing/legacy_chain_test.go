package opentracing_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/bytedance/gopkg/cloud/metainfo"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
	"github.com/kitexsuite/suite/tracing/opentracing"
)

// legacyValue is a span context as tracer-opentracing's inject path puts
// it in metainfo: jaeger-client's binary form (raw for v0.0.3's key,
// base64 for main's).
func legacyValue(key string, high, low, span uint64, flags byte) string {
	raw := opentracing.JaegerBinary(high, low, span, 0, flags)
	if key == opentracing.SpanContextKey {
		return base64.StdEncoding.EncodeToString(raw)
	}
	return string(raw)
}

// legacyClientOptions are what tracer-opentracing's client Suite installs
// (TTHeader, the TTHeader meta handler, a middleware putting the span
// context in metainfo), with the span context given.
func legacyClientOptions(key, value string) []client.Option {
	return []client.Option{
		client.WithTransportProtocol(transport.TTHeader),
		client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, req, resp any) error {
				return next(metainfo.WithValue(ctx, key, value), req, resp)
			}
		}),
	}
}

// A legacy client (either version) → a server with ServerSuite: the server
// span continues the legacy trace, parented on the legacy span.
func TestLegacyClientToServerSuite(t *testing.T) {
	for _, tc := range []struct {
		name               string
		key                string
		high, low, span    uint64
		flags              byte
		wantTrace, wantPar string
		sampled            bool
	}{
		{"v0.0.3 raw, 64-bit", opentracing.SpanContextKeyV003, 0, 0x1122334455667788, 0x99, 1, "00000000000000001122334455667788", "0000000000000099", true},
		{"main base64, 128-bit", opentracing.SpanContextKey, 0xa1a2a3a4a5a6a7a8, 0x1122334455667788, 0x77, 1, "a1a2a3a4a5a6a7a81122334455667788", "0000000000000077", true},
		{"debug", opentracing.SpanContextKey, 0, 0x42, 0x43, 2, "00000000000000000000000000000042", "0000000000000043", true},
		{"unsampled", opentracing.SpanContextKeyV003, 0, 0x42, 0x43, 0, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t)
			srv, err := testservice.Start("A", testservice.Thrift, &testservice.Handler{
				TraceID: func(ctx context.Context) string { return trace.SpanContextFromContext(ctx).TraceID().String() },
			}, server.WithSuite(opentracing.ServerSuite(opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			call, err := testservice.NewForward(testservice.Thrift, "A", srv.Addr, legacyClientOptions(tc.key, legacyValue(tc.key, tc.high, tc.low, tc.span, tc.flags))...)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := call(context.Background(), &testservice.Request{Message: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.sampled {
				if want := fmt.Sprintf("%016x%016x", tc.high, tc.low); resp.TraceIDs[0] != want {
					t.Fatalf("handler saw trace %s, want the legacy %s", resp.TraceIDs[0], want)
				}
				if n := len(r.spans.Ended()); n != 0 {
					t.Fatalf("%d spans recorded for an unsampled legacy trace", n)
				}
				return
			}
			sp := r.wait(t, 1)[0]
			if got := sp.SpanContext().TraceID().String(); got != tc.wantTrace {
				t.Errorf("server span trace %s, want %s", got, tc.wantTrace)
			}
			if got := sp.Parent().SpanID().String(); got != tc.wantPar || !sp.Parent().IsRemote() {
				t.Errorf("server span parent %s (remote %v), want the legacy span %s", got, sp.Parent().IsRemote(), tc.wantPar)
			}
		})
	}
}

// A client with ClientSuite → a legacy server (either version): what the
// legacy server reads from metainfo is the client span.
func TestClientSuiteToLegacyServer(t *testing.T) {
	for _, key := range []string{opentracing.SpanContextKeyV003, opentracing.SpanContextKey} {
		t.Run(key, func(t *testing.T) {
			r := newRecorder(t)
			srv, err := testservice.Start("legacy", testservice.Thrift, &testservice.Handler{
				// What tracer-opentracing's server middleware reads.
				TraceID: func(ctx context.Context) string {
					v, _ := metainfo.GetValue(ctx, key)
					raw := []byte(v)
					if key == opentracing.SpanContextKey {
						raw, _ = base64.StdEncoding.DecodeString(v)
					}
					if len(raw) < 33 {
						return "missing: " + hex.EncodeToString(raw)
					}
					return hex.EncodeToString(raw[:24]) + "/" + hex.EncodeToString(raw[32:33])
				},
			}, server.WithMetaHandler(transmeta.ServerTTHeaderHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			call, err := testservice.NewForward(testservice.Thrift, "legacy", srv.Addr,
				client.WithSuite(opentracing.ClientSuite(opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := call(context.Background(), &testservice.Request{Message: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			sp := r.wait(t, 1)[0]
			want := sp.SpanContext().TraceID().String() + sp.SpanContext().SpanID().String() + "/01"
			if resp.TraceIDs[0] != want {
				t.Fatalf("legacy server read %s, want the client span %s", resp.TraceIDs[0], want)
			}
		})
	}
}

// The drop-in constructors take tracer-opentracing's formOperationName:
// it names the spans on both sides (here from the caller's identity, as
// CallerOperationName does).
func TestFormOperationNameNamesBothSpans(t *testing.T) {
	r := newRecorder(t)
	name := func(ctx context.Context) string { return "named::" + opentracing.CallerOperationName(ctx) }
	srv, err := testservice.Start("A", testservice.Thrift, &testservice.Handler{},
		server.WithSuite(opentracing.ServerSuite(opentracing.WithOperationName(name), opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	call, err := testservice.NewForward(testservice.Thrift, "A", srv.Addr, client.WithSuite(opentracing.ClientSuite(
		opentracing.WithOperationName(name), opentracing.WithTracingOptions(tracing.WithTracerProvider(r.tp)))),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "caller"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(context.Background(), &testservice.Request{Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	got := map[trace.SpanKind]string{}
	for _, s := range r.wait(t, 2) {
		got[s.SpanKind()] = s.Name()
	}
	// The caller's identity on both sides: its service, and the method of
	// the handler the call is made in (none here, a top-level call).
	if got[trace.SpanKindClient] != "named::caller::" || got[trace.SpanKindServer] != "named::caller::" {
		t.Fatalf("span names %v, want named::caller:: on both", got)
	}
}
