package tracing_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// rawHeaders is a client-side propagator that writes whatever the fuzzer
// chose as the W3C headers, so the server's real extract path sees it.
type rawHeaders struct{ next atomic.Pointer[[3]string] }

func (r *rawHeaders) Inject(_ context.Context, c propagation.TextMapCarrier) {
	h := r.next.Load()
	c.Set("traceparent", h[0])
	c.Set("tracestate", h[1])
	c.Set("baggage", h[2])
}
func (r *rawHeaders) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}
func (r *rawHeaders) Fields() []string { return []string{"traceparent", "tracestate", "baggage"} }

// recordUnsampled samples by the parent's flag but records what it does not
// sample, so the handler can read the parent of an unsampled server span
// too; the span's sampled flag is still the parent's.
type recordUnsampled struct{ sdktrace.Sampler }

func (s recordUnsampled) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	r := s.Sampler.ShouldSample(p)
	if r.Decision == sdktrace.Drop {
		r.Decision = sdktrace.RecordOnly
	}
	return r
}

// headerSafe drops what HTTP/2 refuses in a header value (the gRPC
// transport would fail the call before the Suite sees it).
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

// FuzzExtract sends propagation headers over real calls into the server
// Suite (TTHeader, or gRPC metadata). A valid traceparent, built from the
// fuzzed ids and flags, must be continued: the server span has its trace id,
// its span id as remote parent, and its sampled flag. Anything else (a
// wrong-length or all-zero id, or raw garbage the W3C parser rejects) must
// not fail the call and must start a new root.
func FuzzExtract(f *testing.F) {
	tid := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	f.Add(tid, sid, byte(1), "", "k=v", "tenant=acme", false)
	f.Add(tid, sid, byte(0), "", "", "", false)
	f.Add(tid, sid, byte(3), "", "", "", true)
	f.Add(tid, sid, byte(0xfe), "", "", "", true) // reserved flag bits: only sampled and random count
	f.Add(make([]byte, 16), sid, byte(1), "", "", "", false)
	f.Add(tid, make([]byte, 8), byte(1), "", "", "", true)
	f.Add(tid[:15], sid, byte(1), "", "", "", false)
	f.Add(tid, append(sid, 9), byte(1), "", "", "", true)
	f.Add(tid, sid, byte(1), "ff-0102030405060708090a0b0c0d0e0f10-0102030405060708-01", "=,=,", "a=%zz;;;", false)
	f.Add(tid, sid, byte(1), "00-0102030405060708090a0b0c0d0e0f10-0102030405060708", "\x00\xff", "k=\xff\xfe", false)
	f.Add(tid, sid, byte(1), "00-0102030405060708090A0B0C0D0E0F10-0102030405060708-01", "", "", true) // upper case
	f.Add(tid, sid, byte(1), "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-09", "", "", false)
	f.Add(tid, sid, byte(1), "01-0102030405060708090a0b0c0d0e0f10-0102030405060708-01-future", "", "", true)
	f.Add(tid, sid, byte(1), "garbage", "a=b,c", "=;=,", false)
	f.Add(tid, sid, byte(1), "", "", "k="+string(make([]byte, 9000)), false)

	base := sdktrace.ParentBased(sdktrace.AlwaysSample())
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(recordUnsampled{base}))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	svr, err := testservice.Start("fuzz", testservice.Thrift, &testservice.Handler{TraceID: seenSpan},
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(tp), tracing.WithPropagators(prop))))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = svr.Stop(); _ = tp.Shutdown(context.Background()) })
	raw := &rawHeaders{}
	clients := map[bool]echoservice.Client{}
	for _, overGRPC := range []bool{false, true} {
		// A timeout turns a call that never returns into a failure with its input.
		opts := []client.Option{client.WithHostPorts(svr.Addr), client.WithRPCTimeout(5 * time.Second),
			client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(tp), tracing.WithPropagators(raw)))}
		if overGRPC {
			opts = append(opts, client.WithTransportProtocol(transport.GRPC))
		}
		c, err := echoservice.NewClient("fuzz", opts...)
		if err != nil {
			f.Fatal(err)
		}
		clients[overGRPC] = c
	}

	f.Fuzz(func(t *testing.T, traceID, spanID []byte, flags byte, rawTraceparent, tracestate, bag string, overGRPC bool) {
		// Version 00 defines two flags (sampled, random); OTel rejects the
		// reserved bits, so those reach the server only through the raw form.
		traceparent := fmt.Sprintf("00-%x-%x-%02x", traceID, spanID, flags&0x03)
		valid := len(traceID) == 16 && len(spanID) == 8 && !allZero(traceID) && !allZero(spanID)
		var want trace.SpanContext
		if valid {
			var cfg trace.SpanContextConfig
			copy(cfg.TraceID[:], traceID)
			copy(cfg.SpanID[:], spanID)
			cfg.TraceFlags = trace.TraceFlags(flags) & trace.FlagsSampled
			want = trace.NewSpanContext(cfg)
		}
		if rawTraceparent != "" {
			// What a valid raw header holds is the W3C parser's business,
			// not the Suite's: the oracle is the propagator itself.
			traceparent = rawTraceparent
			want = trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
				propagation.MapCarrier{"traceparent": rawTraceparent}))
			valid = want.IsValid()
		}
		if overGRPC {
			traceparent, tracestate, bag = headerSafe(traceparent), headerSafe(tracestate), headerSafe(bag)
			if rawTraceparent != "" {
				want = trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
					propagation.MapCarrier{"traceparent": traceparent}))
				valid = want.IsValid()
			}
		}
		raw.next.Store(&[3]string{traceparent, tracestate, bag})
		resp, err := clients[overGRPC].Echo(context.Background(), &echo.EchoRequest{Message: "fuzz"})
		if err != nil {
			t.Fatalf("call (gRPC %v) with traceparent=%q tracestate=%q baggage=%q failed: %v", overGRPC, traceparent, tracestate, bag, err)
		}
		if len(resp.TraceIds) != 1 {
			t.Fatalf("handler reported %v, want one view", resp.TraceIds)
		}
		got := viewOf(t, resp.TraceIds[0])
		if got.Parent == "" {
			t.Fatalf("traceparent=%q: the handler's context holds no server span: %+v", traceparent, got)
		}
		if valid {
			if got.Trace != want.TraceID().String() || got.Parent != want.SpanID().String() || !got.ParentRemote {
				t.Fatalf("traceparent=%q (gRPC %v): server span %+v, want trace %s under remote parent %s",
					traceparent, overGRPC, got, want.TraceID(), want.SpanID())
			}
			if got.Sampled != want.IsSampled() {
				t.Fatalf("traceparent=%q: server span sampled %v, want the caller's %v", traceparent, got.Sampled, want.IsSampled())
			}
			return
		}
		if got.Parent != (trace.SpanID{}).String() || got.ParentRemote {
			t.Fatalf("invalid traceparent=%q (gRPC %v): server span %+v, want a new root", traceparent, overGRPC, got)
		}
		if len(traceID) == 16 && got.Trace == fmt.Sprintf("%x", traceID) {
			t.Fatalf("invalid traceparent=%q: the new root kept the rejected trace id %x", traceparent, traceID)
		}
		if !got.Sampled {
			t.Fatalf("invalid traceparent=%q: a new root is sampled under the parent-based sampler, got %+v", traceparent, got)
		}
	})
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }
