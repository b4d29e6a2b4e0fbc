package opentracing

import (
	"context"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
)

// uberctxPrefix is jaeger-client's baggage prefix in TextMap and HTTP
// headers: one uberctx-<key> field per item.
const uberctxPrefix = "uberctx-"

// UberctxBaggage returns a propagator for jaeger-client's baggage fields
// (uberctx-<key>: value), which no OpenTelemetry Go propagator reads: the
// contrib jaeger propagator carries uber-trace-id only. Extract merges the
// items into the context's baggage (an item already there keeps its
// value), so it may come before or after W3C baggage; values are
// URL-unescaped as jaeger-client's HTTP header propagator escapes them
// (a value that does not unescape is taken as it is). Inject writes every
// baggage item as uberctx-<key>, escaped.
//
// Over gRPC, Kitex carries metadata keys in lower case and, through
// metainfo, turns '_' into '-': uberctx-user_id arrives as
// uberctx-user-id. Baggage keys with '_' or capitals do not survive a
// gRPC hop unchanged.
func UberctxBaggage() propagation.TextMapPropagator { return uberctx{} }

type uberctx struct{}

// Fields is empty: the fields are per item, not fixed names.
func (uberctx) Fields() []string { return nil }

func (uberctx) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	for _, m := range baggage.FromContext(ctx).Members() {
		c.Set(uberctxPrefix+m.Key(), url.QueryEscape(m.Value()))
	}
}

func (uberctx) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	var members []baggage.Member
	for _, k := range c.Keys() {
		lower := strings.ToLower(k)
		if !strings.HasPrefix(lower, uberctxPrefix) || len(lower) == len(uberctxPrefix) {
			continue
		}
		v := c.Get(k)
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		m, err := baggage.NewMemberRaw(lower[len(uberctxPrefix):], v)
		if err != nil {
			continue // a key W3C baggage cannot hold
		}
		members = append(members, m)
	}
	if len(members) == 0 {
		return ctx
	}
	return mergeBaggage(ctx, members)
}
