package tracing

import (
	"strings"

	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
)

// Kitex metainfo's wire prefixes for transient values: obs-opentelemetry
// writes the trace context as metainfo, which Kitex sends as
// RPC_TRANSIT_<key> in TTHeader string headers and as
// rpc-transit-<key> (lower case, '_' as '-') in gRPC metadata.
const (
	ttheaderTransit = "RPC_TRANSIT_"
	grpcTransit     = "rpc-transit-"
)

// transitKeys holds the metainfo form of the fields the common propagators
// use, so reading or writing them costs no string building per call.
var transitKeys = func() map[string][2]string {
	m := map[string][2]string{}
	for _, f := range []string{
		"traceparent", "tracestate", "baggage", // W3C
		"b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "x-b3-parentspanid", // B3
		"uber-trace-id", "jaeger-baggage", // Jaeger
		"ot-tracer-traceid", "ot-tracer-spanid", "ot-tracer-sampled", // OT
		"JAEGERSPANCONTEXT", "JaegerSpanContext", // kitex-contrib/tracer-opentracing
	} {
		m[f] = [2]string{ttheaderTransit + f, grpcTransit + strings.ReplaceAll(strings.ToLower(f), "_", "-")}
	}
	return m
}()

// grpcTraceTransit is the set of gRPC metainfo keys (rpc-transit-<field>,
// lower case) of the trace fields transitKeys lists.
var grpcTraceTransit = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range transitKeys {
		m[k[1]] = true
	}
	return m
}()

// dropStaleTransit deletes from md the metainfo form of every trace field
// (and of jaeger-client's and OT's per-item baggage fields) before this
// hop's propagator writes its own. In Kitex's default gRPC metainfo mode
// the transient values a server received are sent on by every call it
// makes, so without this a next hop that reads the metainfo form
// (obs-opentelemetry, tracer-opentracing) would parent on this hop's
// caller instead of this call.
func dropStaleTransit(md metadata.MD) {
	for k := range md {
		if len(k) <= len(grpcTransit) || !strings.EqualFold(k[:len(grpcTransit)], grpcTransit) {
			continue
		}
		lk := strings.ToLower(k)
		field := lk[len(grpcTransit):]
		if grpcTraceTransit[lk] || strings.HasPrefix(field, "uberctx-") || strings.HasPrefix(field, "ot-baggage-") {
			delete(md, k)
		}
	}
}

// ttheaderTransitKey and grpcTransitKey name key's metainfo form, built
// only for a field outside transitKeys.
func ttheaderTransitKey(key string) string {
	if k, ok := transitKeys[key]; ok {
		return k[0]
	}
	return ttheaderTransit + key
}

func grpcTransitKey(key string) string {
	if k, ok := transitKeys[key]; ok {
		return k[1]
	}
	return grpcTransit + strings.ReplaceAll(strings.ToLower(key), "_", "-")
}

// ttheaderIncoming reads propagation fields from a TTHeader request's string
// headers: the bare key a kitexsuite (or any W3C) client writes, else its
// metainfo form, which obs-opentelemetry writes. The bare form wins.
type ttheaderIncoming map[string]string

func (m ttheaderIncoming) Get(key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	if len(m) == 0 {
		return ""
	}
	if k, ok := transitKeys[key]; ok {
		return m[k[0]]
	}
	if !m.hasTransit() {
		return ""
	}
	return m[ttheaderTransit+key]
}

// hasTransit reports whether any key has the metainfo prefix, so a field
// outside transitKeys costs a string only when metainfo is on the wire.
func (m ttheaderIncoming) hasTransit() bool {
	for k := range m {
		if strings.HasPrefix(k, ttheaderTransit) {
			return true
		}
	}
	return false
}

func (m ttheaderIncoming) Set(string, string) {}

func (m ttheaderIncoming) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, strings.TrimPrefix(k, ttheaderTransit))
	}
	return keys
}

// ttheaderOutgoing writes propagation fields into a TTHeader request's
// string headers, and with metainfo also in obs-opentelemetry's form.
type ttheaderOutgoing struct {
	m        map[string]string
	metainfo bool
}

func (c ttheaderOutgoing) Get(key string) string { return c.m[key] }

func (c ttheaderOutgoing) Set(key, value string) {
	c.m[key] = value
	if c.metainfo {
		c.m[ttheaderTransitKey(key)] = value
	}
}

// SetTransit writes key in Kitex metainfo's form only (RPC_TRANSIT_<key>),
// which is all a metainfo reader such as kitex-contrib/tracer-opentracing
// looks at. Propagators for such peers (package tracing/opentracing) find
// it by interface.
func (c ttheaderOutgoing) SetTransit(key, value string) { c.m[ttheaderTransitKey(key)] = value }

// BinarySafe reports that a TTHeader string header carries any byte.
func (c ttheaderOutgoing) BinarySafe() bool { return true }

func (c ttheaderOutgoing) Keys() []string {
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	return keys
}

// grpcIncoming reads propagation fields from gRPC request metadata. Keys
// are matched case-insensitively, as Kitex's own MD.Get does (HTTP/2 keys
// arrive lower-case; metadata built in-process may not be); the bare key
// wins over the metainfo form.
type grpcIncoming metadata.MD

func (m grpcIncoming) Get(key string) string {
	if v := m.lookup(key); v != "" {
		return v
	}
	if len(m) == 0 {
		return ""
	}
	return m.lookup(grpcTransitKey(key))
}

func (m grpcIncoming) lookup(key string) string {
	if v := m[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range m {
		if len(v) > 0 && len(k) == len(key) && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

func (m grpcIncoming) Set(string, string) {}

func (m grpcIncoming) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, strings.TrimPrefix(strings.ToLower(k), grpcTransit))
	}
	return keys
}

// grpcOutgoing writes propagation fields into a copy of the call's outgoing
// gRPC metadata. A key is set, never appended: a gateway forwarding its
// caller's headers may already have put a (stale) traceparent there, and the
// server reads the first value. Any case variant of the key goes too.
type grpcOutgoing struct {
	md       metadata.MD
	metainfo bool
}

func (c grpcOutgoing) Get(key string) string { return grpcIncoming(c.md).lookup(key) }

func (c grpcOutgoing) Set(key, value string) {
	c.set(strings.ToLower(key), value)
	if c.metainfo {
		c.set(grpcTransitKey(key), value)
	}
}

func (c grpcOutgoing) set(key, value string) {
	for k := range c.md {
		if k != key && strings.EqualFold(k, key) {
			delete(c.md, k)
		}
	}
	c.md[key] = []string{value}
}

// SetTransit writes key in Kitex metainfo's gRPC form only
// (rpc-transit-<key>).
func (c grpcOutgoing) SetTransit(key, value string) { c.set(grpcTransitKey(key), value) }

// BinarySafe reports that gRPC metadata carries header characters only:
// Kitex drops, and its HTTP/2 reader rejects, values with control bytes.
func (c grpcOutgoing) BinarySafe() bool { return false }

func (c grpcOutgoing) Keys() []string {
	keys := make([]string, 0, len(c.md))
	for k := range c.md {
		keys = append(keys, k)
	}
	return keys
}
