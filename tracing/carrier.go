package tracing

import (
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
)

// grpcIncoming reads propagation fields from gRPC request metadata (keys are
// lower-case on the wire, as HTTP/2 requires and the propagators write them).
type grpcIncoming metadata.MD

func (m grpcIncoming) Get(key string) string {
	if v := m[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m grpcIncoming) Set(string, string) {}

func (m grpcIncoming) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// kvCarrier collects what a propagator injects as flat key/value pairs, for
// metadata.AppendToOutgoingContext. Only the propagator's own keys land in
// it; everything else in the outgoing metadata is left as the user set it.
type kvCarrier []string

func (c *kvCarrier) Get(string) string { return "" }

func (c *kvCarrier) Set(k, v string) { *c = append(*c, k, v) }

func (c *kvCarrier) Keys() []string {
	keys := make([]string, 0, len(*c)/2)
	for i := 0; i < len(*c); i += 2 {
		keys = append(keys, (*c)[i])
	}
	return keys
}
