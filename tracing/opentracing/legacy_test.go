package opentracing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// jaegerBinary builds a span context in jaeger-client's BinaryPropagator
// layout, field by field, as its Inject writes it (binary.Write,
// big-endian).
func jaegerBinary(high, low, span, parent uint64, flags byte, bag ...string) []byte {
	var b bytes.Buffer
	for _, v := range []uint64{high, low, span, parent} {
		_ = binary.Write(&b, binary.BigEndian, v)
	}
	b.WriteByte(flags)
	_ = binary.Write(&b, binary.BigEndian, int32(len(bag)/2))
	for _, s := range bag {
		_ = binary.Write(&b, binary.BigEndian, int32(len(s)))
		b.WriteString(s)
	}
	return b.Bytes()
}

func TestLegacyExtractBothFormsAndIdWidths(t *testing.T) {
	for _, tc := range []struct {
		name      string
		key       string
		value     string
		traceID   string
		spanID    string
		sampled   bool
		baggageKV map[string]string
	}{
		{"v0.0.3 raw, 64-bit, sampled", SpanContextKeyV003, string(jaegerBinary(0, 0x1122334455667788, 0xaabbccdd00112233, 0x42, 1)),
			"00000000000000001122334455667788", "aabbccdd00112233", true, nil},
		{"main base64, 128-bit, unsampled", SpanContextKey, base64.StdEncoding.EncodeToString(jaegerBinary(0x0102030405060708, 0x1122334455667788, 7, 0, 0)),
			"01020304050607081122334455667788", "0000000000000007", false, nil},
		{"debug is sampled", SpanContextKey, base64.StdEncoding.EncodeToString(jaegerBinary(0, 9, 8, 0, 2)),
			"00000000000000000000000000000009", "0000000000000008", true, nil},
		{"binary baggage", SpanContextKeyV003, string(jaegerBinary(0, 9, 8, 0, 1, "user", "alice", "tenant", "t-1")),
			"00000000000000000000000000000009", "0000000000000008", true, map[string]string{"user": "alice", "tenant": "t-1"}},
		// Over gRPC both keys arrive under one name: the value, not the key,
		// says which form it is.
		{"base64 under the raw key", SpanContextKeyV003, base64.StdEncoding.EncodeToString(jaegerBinary(0, 5, 6, 0, 1)),
			"00000000000000000000000000000005", "0000000000000006", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := LegacyPropagator().Extract(context.Background(), propagation.MapCarrier{tc.key: tc.value})
			sc := trace.SpanContextFromContext(ctx)
			if !sc.IsValid() || !sc.IsRemote() {
				t.Fatalf("extracted %+v, want a valid remote span context", sc)
			}
			if got := sc.TraceID().String(); got != tc.traceID {
				t.Errorf("trace id %s, want %s", got, tc.traceID)
			}
			if got := sc.SpanID().String(); got != tc.spanID {
				t.Errorf("span id %s, want %s", got, tc.spanID)
			}
			if sc.IsSampled() != tc.sampled {
				t.Errorf("sampled %v, want %v", sc.IsSampled(), tc.sampled)
			}
			bag := baggage.FromContext(ctx)
			if bag.Len() != len(tc.baggageKV) {
				t.Errorf("baggage %s, want %v", bag, tc.baggageKV)
			}
			for k, v := range tc.baggageKV {
				if got := bag.Member(k).Value(); got != v {
					t.Errorf("baggage %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// W3C baggage already in the context keeps its value; binary items add to
// it.
func TestLegacyExtractMergesBaggage(t *testing.T) {
	m, _ := baggage.NewMemberRaw("user", "from-w3c")
	bag, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(context.Background(), bag)
	ctx = LegacyPropagator().Extract(ctx, propagation.MapCarrier{SpanContextKeyV003: string(jaegerBinary(0, 9, 8, 0, 1, "user", "alice", "tenant", "t-1"))})
	got := baggage.FromContext(ctx)
	if got.Member("user").Value() != "from-w3c" || got.Member("tenant").Value() != "t-1" || got.Len() != 2 {
		t.Fatalf("baggage %s, want user=from-w3c,tenant=t-1", got)
	}
}

// syncLog collects what klog writes.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestLegacyMalformedStartsANewRootLoggedOnce(t *testing.T) {
	valid := jaegerBinary(0, 9, 8, 0, 1, "k", "v")
	negative := bytes.Clone(valid)
	binary.BigEndian.PutUint32(negative[37:], 0xffffffff) // key length -1
	huge := bytes.Clone(valid)
	binary.BigEndian.PutUint32(huge[37:], 0x7fffffff)
	manyItems := bytes.Clone(valid)
	binary.BigEndian.PutUint32(manyItems[33:], 1<<30)
	for _, tc := range []struct {
		name  string
		value string
		why   string
	}{
		{"too short", string(valid[:20]), "20 bytes"},
		{"zero ids", string(jaegerBinary(0, 0, 0, 0, 1)), "zero trace or span id"},
		{"negative length", string(negative), "baggage string of -1 bytes"},
		{"length past the end", string(huge), "baggage string of 2147483647 bytes"},
		{"count past the end", string(manyItems), "1073741824 baggage items"},
		{"trailing bytes", string(append(bytes.Clone(valid), 0)), "1 bytes after the baggage"},
		{"not base64, not binary", "not-a-span-context", "bytes, want at least"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeValue(tc.value)
			if !errors.Is(err, ErrMalformedSpanContext) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("decode: %v, want ErrMalformedSpanContext saying %q", err, tc.why)
			}
			var log syncLog
			klog.SetOutput(&log)
			defer klog.SetOutput(os.Stderr)
			p := LegacyPropagator()
			parent := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}}))
			for range 3 {
				ctx := p.Extract(parent, propagation.MapCarrier{SpanContextKey: tc.value})
				if got := trace.SpanContextFromContext(ctx); !got.Equal(trace.SpanContextFromContext(parent)) {
					t.Fatalf("a malformed value changed the span context to %+v", got)
				}
			}
			if n := strings.Count(log.String(), "tracer-opentracing span context"); n != 1 {
				t.Fatalf("logged %d times, want once:\n%s", n, log.String())
			}
		})
	}
}

// recordingCarrier is a carrier like the tracing Suites': it can write the
// metainfo form only, and says whether it carries any byte.
type recordingCarrier struct {
	propagation.MapCarrier
	transit    map[string]string
	binarySafe bool
}

func (c *recordingCarrier) SetTransit(key, value string) { c.transit[key] = value }
func (c *recordingCarrier) BinarySafe() bool             { return c.binarySafe }

func TestLegacyInject(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("01020304050607081122334455667788")
	sid, _ := trace.SpanIDFromHex("aabbccdd00112233")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	m, _ := baggage.NewMemberRaw("user", "alice")
	bag, _ := baggage.New(m)
	ctx = baggage.ContextWithBaggage(ctx, bag)
	want := jaegerBinary(0x0102030405060708, 0x1122334455667788, 0xaabbccdd00112233, 0, 1, "user", "alice")

	for _, tc := range []struct {
		name       string
		format     LegacyFormat
		binarySafe bool
		keys       []string
	}{
		{"both on TTHeader", LegacyBoth, true, []string{SpanContextKey, SpanContextKeyV003}},
		{"both on gRPC: no raw", LegacyBoth, false, []string{SpanContextKey}},
		{"raw only", LegacyRaw, true, []string{SpanContextKeyV003}},
		{"base64 only", LegacyBase64, true, []string{SpanContextKey}},
		{"read only", LegacyReadOnly, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &recordingCarrier{MapCarrier: propagation.MapCarrier{}, transit: map[string]string{}, binarySafe: tc.binarySafe}
			LegacyPropagator(WithLegacyWrite(tc.format)).Inject(ctx, c)
			if len(c.MapCarrier) != 0 {
				t.Errorf("wrote bare keys %v, want only the metainfo form", c.MapCarrier)
			}
			if len(c.transit) != len(tc.keys) {
				t.Fatalf("wrote %v, want keys %v", c.transit, tc.keys)
			}
			for _, k := range tc.keys {
				got := []byte(c.transit[k])
				if k == SpanContextKey {
					got, _ = base64.StdEncoding.DecodeString(c.transit[k])
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s:\n got %s\nwant %s", k, hex.EncodeToString(got), hex.EncodeToString(want))
				}
			}
		})
	}

	// A plain carrier gets both keys through Set.
	plain := propagation.MapCarrier{}
	LegacyPropagator().Inject(ctx, plain)
	if len(plain) != 2 || plain[SpanContextKeyV003] != string(want) {
		t.Fatalf("plain carrier: %q", plain)
	}
	// No span context, nothing written.
	empty := propagation.MapCarrier{}
	LegacyPropagator().Inject(context.Background(), empty)
	if len(empty) != 0 {
		t.Fatalf("wrote %v without a span context", empty)
	}
}

func FuzzDecodeSpanContext(f *testing.F) {
	f.Add(jaegerBinary(0, 9, 8, 0, 1))
	f.Add(jaegerBinary(1, 9, 8, 7, 3, "user", "alice"))
	f.Add([]byte(base64.StdEncoding.EncodeToString(jaegerBinary(1, 9, 8, 7, 3, "k", "v"))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, members, err := decodeValue(string(b))
		if err != nil {
			if !errors.Is(err, ErrMalformedSpanContext) {
				t.Fatalf("error %v is not ErrMalformedSpanContext", err)
			}
			return
		}
		if !sc.IsValid() {
			t.Fatalf("decoded an invalid span context without an error")
		}
		// What decodes re-encodes to a value that decodes the same.
		bag, _ := baggage.New(members...)
		sc2, members2, err := decodeSpanContext(encodeSpanContext(sc, bag))
		if err != nil || sc2.TraceID() != sc.TraceID() || sc2.SpanID() != sc.SpanID() || sc2.IsSampled() != sc.IsSampled() || len(members2) != bag.Len() {
			t.Fatalf("round trip: %v %+v %v, want %+v %v", err, sc2, members2, sc, members)
		}
	})
}
