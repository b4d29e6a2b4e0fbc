package opentracing

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The Kitex metainfo keys kitex-contrib/tracer-opentracing carries its span
// context under. Kitex sends them as RPC_TRANSIT_<key> TTHeader headers
// (case kept) and rpc-transit-jaegerspancontext gRPC metadata.
const (
	// SpanContextKey is tracer-opentracing's key on its main branch
	// (2022, untagged): the span context in jaeger-client's binary form,
	// base64 (standard encoding), so that it survives gRPC.
	SpanContextKey = "JAEGERSPANCONTEXT"
	// SpanContextKeyV003 is its key in v0.0.3, the version kitex-examples
	// used: the binary form as raw bytes, which only TTHeader carries.
	SpanContextKeyV003 = "JaegerSpanContext"
)

// LegacyFormat says which of tracer-opentracing's forms LegacyPropagator
// writes. Both are always read.
type LegacyFormat uint8

const (
	// LegacyReadOnly writes neither form: for servers whose callers are
	// legacy, but whose callees are not.
	LegacyReadOnly LegacyFormat = 0
	// LegacyBase64 writes SpanContextKey, base64: what tracer-opentracing's
	// main branch reads.
	LegacyBase64 LegacyFormat = 1
	// LegacyRaw writes SpanContextKeyV003, raw: what v0.0.3 reads. It is
	// written only on TTHeader; gRPC cannot carry its bytes (Kitex drops,
	// or its HTTP/2 reader rejects, header values with control bytes).
	LegacyRaw LegacyFormat = 2
	// LegacyBoth writes both, so either version of a legacy server
	// continues the trace (the default).
	LegacyBoth = LegacyBase64 | LegacyRaw
)

// jaeger-client's limits on binary baggage (propagation.go): more items, or
// a longer key and value, make it reject the whole span context.
const (
	maxBinaryBaggageItems = 180
	maxBinaryBaggageBytes = 4096
)

// jaeger-client's span context flags.
const (
	flagSampled = 1
	flagDebug   = 2
)

// ErrMalformedSpanContext wraps every reason a legacy span context cannot
// be read. LegacyPropagator logs the first one and starts a new root; it
// never fails the call.
var ErrMalformedSpanContext = errors.New("malformed tracer-opentracing span context")

// LegacyOption configures LegacyPropagator.
type LegacyOption func(*legacyPropagator)

// WithLegacyWrite chooses the forms written (default LegacyBoth).
func WithLegacyWrite(f LegacyFormat) LegacyOption {
	return func(p *legacyPropagator) { p.write = f }
}

// LegacyPropagator returns an OpenTelemetry propagator for the span
// context kitex-contrib/tracer-opentracing propagates: jaeger-client's
// binary form under SpanContextKey (base64) or SpanContextKeyV003 (raw),
// read from both TTHeader and gRPC, trace ids of 64 and 128 bits, the
// sampled and debug flags, and binary baggage (merged into the context's
// W3C baggage). A malformed value leaves the context as it is — the span
// becomes a new root — and is logged once per propagator.
//
// On inject it writes the forms WithLegacyWrite chose, in Kitex metainfo's
// form (RPC_TRANSIT_<key>), which is all a legacy server reads, with the
// context's W3C baggage as binary baggage.
func LegacyPropagator(opts ...LegacyOption) propagation.TextMapPropagator {
	p := &legacyPropagator{write: LegacyBoth}
	for _, o := range opts {
		o(p)
	}
	return p
}

type legacyPropagator struct {
	write  LegacyFormat
	logged atomic.Bool
}

// transitCarrier is what the carriers of this suite's tracing Suites
// offer beyond propagation.TextMapCarrier: writing a key in Kitex
// metainfo's form only, and whether a value may hold any byte (TTHeader)
// or only header characters (gRPC).
type transitCarrier interface {
	SetTransit(key, value string)
	BinarySafe() bool
}

func (p *legacyPropagator) Fields() []string {
	return []string{SpanContextKey, SpanContextKeyV003}
}

func (p *legacyPropagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	if p.write == LegacyReadOnly {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	raw := encodeSpanContext(sc, baggage.FromContext(ctx))
	set, binarySafe := c.Set, true
	if tc, ok := c.(transitCarrier); ok {
		set, binarySafe = tc.SetTransit, tc.BinarySafe()
	}
	if p.write&LegacyBase64 != 0 {
		set(SpanContextKey, base64.StdEncoding.EncodeToString(raw))
	}
	if p.write&LegacyRaw != 0 && binarySafe {
		set(SpanContextKeyV003, string(raw))
	}
}

func (p *legacyPropagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	v := c.Get(SpanContextKey)
	if v == "" {
		v = c.Get(SpanContextKeyV003)
	}
	if v == "" {
		return ctx
	}
	sc, members, err := decodeValue(v)
	if err != nil {
		if !p.logged.Swap(true) {
			klog.CtxWarnf(ctx, "kitexsuite/tracing/opentracing: %v; the span starts a new trace (logged once)", err)
		}
		return ctx
	}
	if len(members) > 0 {
		ctx = mergeBaggage(ctx, members)
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// decodeValue reads a value in either form. The raw form always holds NUL
// bytes (the baggage count's high bytes), which base64 never does, so the
// two cannot be mistaken for each other whatever the key said (over gRPC
// both keys arrive under one name).
func decodeValue(v string) (trace.SpanContext, []baggage.Member, error) {
	raw := []byte(v)
	if b, err := base64.StdEncoding.DecodeString(v); err == nil {
		raw = b
	}
	return decodeSpanContext(raw)
}

// decodeSpanContext reads jaeger-client's binary span context: trace id
// (high, low), span id, parent id, flags, an int32 baggage count, then
// int32-length-prefixed keys and values, all big-endian. Every length is
// checked against what is left before anything is allocated.
func decodeSpanContext(b []byte) (trace.SpanContext, []baggage.Member, error) {
	const fixed = 16 + 8 + 8 + 1 + 4
	if len(b) < fixed {
		return trace.SpanContext{}, nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformedSpanContext, len(b), fixed)
	}
	var cfg trace.SpanContextConfig
	copy(cfg.TraceID[:], b[:16])
	copy(cfg.SpanID[:], b[16:24])
	// b[24:32] is the parent id: the remote span's own parent, which an
	// OpenTelemetry span context does not carry.
	flags := b[32]
	if flags&(flagSampled|flagDebug) != 0 { // debug implies sampled in jaeger
		cfg.TraceFlags = trace.FlagsSampled
	}
	cfg.Remote = true
	if !cfg.TraceID.IsValid() || !cfg.SpanID.IsValid() {
		return trace.SpanContext{}, nil, fmt.Errorf("%w: zero trace or span id", ErrMalformedSpanContext)
	}
	count := int64(int32(binary.BigEndian.Uint32(b[33:37])))
	rest := b[fixed:]
	if count < 0 || count > maxBinaryBaggageItems || count*8 > int64(len(rest)) {
		return trace.SpanContext{}, nil, fmt.Errorf("%w: %d baggage items in %d bytes", ErrMalformedSpanContext, count, len(rest))
	}
	var members []baggage.Member
	for range count {
		k, r, err := lengthPrefixed(rest)
		if err != nil {
			return trace.SpanContext{}, nil, err
		}
		v, r, err := lengthPrefixed(r)
		if err != nil {
			return trace.SpanContext{}, nil, err
		}
		rest = r
		if len(k)+len(v) > maxBinaryBaggageBytes {
			return trace.SpanContext{}, nil, fmt.Errorf("%w: a baggage item of %d bytes", ErrMalformedSpanContext, len(k)+len(v))
		}
		m, err := baggage.NewMemberRaw(string(k), string(v))
		if err != nil { // a key W3C baggage cannot hold: the span context stands
			continue
		}
		members = append(members, m)
	}
	if len(rest) != 0 {
		return trace.SpanContext{}, nil, fmt.Errorf("%w: %d bytes after the baggage", ErrMalformedSpanContext, len(rest))
	}
	return trace.NewSpanContext(cfg), members, nil
}

// lengthPrefixed splits an int32-length-prefixed string off b.
func lengthPrefixed(b []byte) (s, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: baggage cut short", ErrMalformedSpanContext)
	}
	n := int64(int32(binary.BigEndian.Uint32(b)))
	if n < 0 || n > int64(len(b)-4) {
		return nil, nil, fmt.Errorf("%w: a baggage string of %d bytes in %d", ErrMalformedSpanContext, n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}

// encodeSpanContext writes sc and bag in jaeger-client's binary form, with
// no parent id, keeping only the baggage items jaeger-client accepts.
func encodeSpanContext(sc trace.SpanContext, bag baggage.Baggage) []byte {
	all := bag.Members() // a fresh slice: filtered in place
	members := all[:0]
	size := 16 + 8 + 8 + 1 + 4
	for _, m := range all {
		if len(members) < maxBinaryBaggageItems && len(m.Key())+len(m.Value()) <= maxBinaryBaggageBytes {
			members = append(members, m)
			size += 8 + len(m.Key()) + len(m.Value())
		}
	}
	b := make([]byte, 0, size)
	tid, sid := sc.TraceID(), sc.SpanID()
	b = append(b, tid[:]...)
	b = append(b, sid[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // parent id
	var flags byte
	if sc.IsSampled() {
		flags = flagSampled
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(len(members)))
	for _, m := range members {
		b = binary.BigEndian.AppendUint32(b, uint32(len(m.Key())))
		b = append(b, m.Key()...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(m.Value())))
		b = append(b, m.Value()...)
	}
	return b
}

// mergeBaggage adds members to the context's baggage; an item already
// there (from W3C baggage, say) keeps its value.
func mergeBaggage(ctx context.Context, members []baggage.Member) context.Context {
	bag := baggage.FromContext(ctx)
	for _, m := range members {
		if bag.Member(m.Key()).Key() != "" {
			continue
		}
		if b, err := bag.SetMember(m); err == nil {
			bag = b
		}
	}
	return baggage.ContextWithBaggage(ctx, bag)
}
