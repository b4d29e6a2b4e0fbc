package tracing

import (
	"context"

	"github.com/cloudwego/kitex/pkg/remote/trans/ttstream"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/propagation"
)

// TTHeader streaming (Kitex's ttstream) carries headers in its own header
// frame, outside the MetaHandler path: Kitex lets a client write extra
// string headers (OnWriteStream) and a server read them before its tracer
// starts (OnReadStream). Kitex holds one such handler per client or server,
// so these take that slot.

type ttstreamClientHeader struct{ cfg *config }

var _ ttstream.HeaderFrameWriteHandler = (*ttstreamClientHeader)(nil)

func (h *ttstreamClientHeader) OnWriteStream(ctx context.Context) (ttstream.IntHeader, ttstream.StrHeader, error) {
	hdr := ttstream.StrHeader{}
	h.cfg.propagator().Inject(ctx, propagation.MapCarrier(hdr))
	return nil, hdr, nil
}

type ttstreamServerHeader struct{ cfg *config }

var _ ttstream.HeaderFrameReadHandler = (*ttstreamServerHeader)(nil)

func (h *ttstreamServerHeader) OnReadStream(ctx context.Context, _ ttstream.IntHeader, hdr ttstream.StrHeader) (context.Context, error) {
	if len(hdr) == 0 {
		return ctx, nil
	}
	return h.cfg.extract(ctx, propagation.MapCarrier(hdr)), nil
}

// headersFirst reports whether Kitex has read the request headers before
// the server tracer starts (gRPC and TTHeader streaming), so the span can
// start in Start with its parent known.
func headersFirst(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config() != nil && ri.Config().TransportProtocol()&(transport.GRPC|transport.TTHeaderStreaming) != 0
}
