package e2e

// What the servers of the obs-opentelemetry interop chains
// (interop_obs_test.go) received on the wire.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/trace"
)

// wireLog keeps, per server, the propagation headers its requests arrived
// with, exactly as keyed on the wire.
type wireLog struct {
	mu   sync.Mutex
	seen map[string][]string // server → "key=value"
}

func (w *wireLog) add(server, key, value string) {
	k := strings.ToLower(key)
	if !strings.Contains(k, "traceparent") && !strings.Contains(k, "tracestate") && !strings.Contains(k, "baggage") {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[server] = append(w.seen[server], key+"="+value)
}

func (w *wireLog) logTo(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range []string{"relay", "backend"} {
		slices.Sort(w.seen[s])
		t.Logf("%s received %v", s, w.seen[s])
	}
}

// checkTraceparentForms checks which traceparent keys each server received
// from its caller's client Suite (callers: server → Suite of its caller).
func (w *wireLog) checkTraceparentForms(t *testing.T, tr interopTransport, callers map[string]suiteImpl) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for server, impl := range callers {
		metainfoKey, bare := "RPC_TRANSIT_traceparent", impl == kitexsuiteImpl
		if tr.proto == transport.GRPC {
			metainfoKey, bare = "rpc-transit-traceparent", bare || tr.obsGRPCMetadata
		}
		want := []string{metainfoKey}
		if bare {
			want = append(want, "traceparent")
		}
		var got []string
		for _, kv := range w.seen[server] {
			if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(strings.ToLower(k), "traceparent") {
				got = append(got, k)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s received traceparent under %v from a %s client, want %v", server, got, impl, want)
		}
	}
}

// traceparentSpan returns the parent span id that the traceparent server
// received under key names.
func (w *wireLog) traceparentSpan(server, key string) (trace.SpanID, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, kv := range w.seen[server] {
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			continue
		}
		// version-traceid-spanid-flags
		if parts := strings.Split(v, "-"); len(parts) == 4 {
			id, err := trace.SpanIDFromHex(parts[2])
			return id, err == nil
		}
	}
	return trace.SpanID{}, false
}

// wireTap is a server meta handler feeding a wireLog: TTHeader string
// headers in ReadMeta, gRPC metadata in OnReadStream.
type wireTap struct {
	log    *wireLog
	server string
}

var (
	_ remote.MetaHandler          = wireTap{}
	_ remote.StreamingMetaHandler = wireTap{}
)

func (w wireTap) ReadMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	if ti := msg.TransInfo(); ti != nil {
		for k, v := range ti.TransStrInfo() {
			w.log.add(w.server, k, v)
		}
	}
	return ctx, nil
}

func (w wireTap) WriteMeta(ctx context.Context, _ remote.Message) (context.Context, error) {
	return ctx, nil
}

func (w wireTap) OnConnectStream(ctx context.Context) (context.Context, error) { return ctx, nil }

func (w wireTap) OnReadStream(ctx context.Context) (context.Context, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for k, vs := range md {
			for _, v := range vs {
				w.log.add(w.server, k, v)
			}
		}
	}
	return ctx, nil
}
