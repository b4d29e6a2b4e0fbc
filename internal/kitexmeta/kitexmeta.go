// Package kitexmeta does the work of Kitex's header handlers
// (transmeta.ClientTTHeaderHandler, ClientHTTP2Handler and their server
// counterparts) for the kitexsuite Suites, without their per-call
// allocations.
//
// A Kitex client without those handlers sends no caller identity and no RPC
// timeout, never sees the handler's business status error, and keeps
// reusing a pooled connection the server marked for reset during a graceful
// shutdown; a server without them sees no caller name. Any Suite that
// reports what those carry (tracing, metrics) therefore installs [Client]
// or [Server] itself, so its labels do not depend on which other Suites are
// installed; installing them twice is harmless (every write is idempotent,
// a business error already read is not parsed again).
package kitexmeta

import (
	"context"
	"strconv"

	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/pkg/remote/transmeta"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	ktransmeta "github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/transport"
)

// The TTHeader string keys a business status error travels under, as
// Kitex's TTHeader handlers write and read them.
const (
	BizStatusHeader  = "biz-status"
	BizMessageHeader = "biz-message"
	BizExtraHeader   = "biz-extra"
)

// Client is the client meta handler; pass it to client.WithMetaHandler.
var Client = clientHandler{}

type clientHandler struct{}

var (
	_ remote.MetaHandler          = clientHandler{}
	_ remote.StreamingMetaHandler = clientHandler{}
)

// WriteMeta writes what Kitex's ClientTTHeaderHandler writes that a Kitex
// server reads: the caller's service and method, and the RPC timeout when
// the call has one set (server.WithEnableContextTimeout applies it).
func (clientHandler) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ri := msg.RPCInfo()
	if ti := msg.TransInfo(); ti != nil && IsTTHeader(ri) {
		WriteTTHeader(ri, ti.TransIntInfo())
	}
	return ctx, nil
}

// ReadMeta reads the reply's business status error and connection-reset
// mark, as Kitex's ClientTTHeaderHandler does.
func (clientHandler) ReadMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	ri := msg.RPCInfo()
	if ti := msg.TransInfo(); ti != nil && IsTTHeader(ri) {
		return ctx, ReadTTHeader(ri, ti.TransStrInfo())
	}
	return ctx, nil
}

// OnConnectStream names the caller and callee in the request's HTTP/2
// metadata on the gRPC transport, as Kitex's ClientHTTP2Handler does.
func (clientHandler) OnConnectStream(ctx context.Context) (context.Context, error) {
	ri := rpcinfo.GetRPCInfo(ctx)
	if !IsGRPC(ri) {
		return ctx, nil
	}
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		md = make(metadata.MD, 4)
	}
	SetGRPCIdentity(ri, md)
	return metadata.NewOutgoingContext(ctx, md), nil
}

func (clientHandler) OnReadStream(ctx context.Context) (context.Context, error) { return ctx, nil }

// WriteTTHeader puts the caller's identity and the call's RPC timeout into
// a TTHeader request's integer headers: what a Kitex server reads
// (ServerTTHeaderHandler, or this package's Server).
//
// Unlike Kitex's ClientTTHeaderHandler it does not send the callee's
// service and method (ToService, ToMethod): no Kitex server reads them,
// only a TTHeader proxy that routes on them, and a request carrying any
// integer header costs the server a header map and a string per value to
// decode, 4 allocations per call for those two in the repository's
// BenchmarkEcho (26 against bare Kitex's 22). Behind such a proxy, install
// transmeta.ClientTTHeaderHandler beside the Suites.
func WriteTTHeader(ri rpcinfo.RPCInfo, intInfo map[uint16]string) {
	if intInfo == nil {
		return
	}
	if from := ri.From(); from != nil {
		if v := from.ServiceName(); v != "" {
			intInfo[transmeta.FromService] = v
		}
		if v := from.Method(); v != "" {
			intInfo[transmeta.FromMethod] = v
		}
	}
	// As Kitex: only a timeout the caller set (a locked one) is sent.
	if cfg := rpcinfo.AsMutableRPCConfig(ri.Config()); cfg != nil && cfg.IsRPCTimeoutLocked() {
		if ms := ri.Config().RPCTimeout().Milliseconds(); ms > 0 {
			intInfo[transmeta.RPCTimeout] = strconv.FormatInt(ms, 10)
		}
	}
}

// ReadTTHeader reads a TTHeader reply's business status error into the
// invocation and its connection-reset mark into the callee's tags, so the
// long pool closes a connection a gracefully stopping server will close.
func ReadTTHeader(ri rpcinfo.RPCInfo, strInfo map[string]string) error {
	if v, ok := strInfo[transmeta.HeaderConnectionReadyToReset]; ok {
		if ei := rpcinfo.AsTaggable(ri.To()); ei != nil {
			ei.SetTag(rpcinfo.ConnResetTag, v)
		}
	}
	if strInfo[BizStatusHeader] == "" { // parsing "" would allocate an error
		return nil
	}
	inv := ri.Invocation()
	if inv == nil || inv.BizStatusErr() != nil { // already read (a second Suite)
		return nil
	}
	bizErr, err := ktransmeta.ParseBizStatusErr(strInfo)
	if err != nil {
		return err
	}
	if setter, ok := inv.(rpcinfo.InvocationSetter); ok && bizErr != nil {
		setter.SetBizStatusErr(bizErr)
	}
	return nil
}

// SetGRPCIdentity sets (never appends) the caller and callee names in md,
// the keys Kitex's ServerHTTP2Handler reads.
func SetGRPCIdentity(ri rpcinfo.RPCInfo, md metadata.MD) {
	if to := ri.To(); to != nil {
		md[transmeta.HTTPDestService] = []string{to.ServiceName()}
		md[transmeta.HTTPDestMethod] = []string{to.Method()}
	}
	if from := ri.From(); from != nil {
		md[transmeta.HTTPSourceService] = []string{from.ServiceName()}
		md[transmeta.HTTPSourceMethod] = []string{from.Method()}
	}
}

// IsGRPC reports whether the call runs on Kitex's gRPC transport.
func IsGRPC(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config() != nil && ri.Config().TransportProtocol()&transport.GRPC != 0
}

// IsTTHeader reports whether the call carries TTHeader headers.
func IsTTHeader(ri rpcinfo.RPCInfo) bool {
	return ri != nil && ri.Config() != nil && ri.Config().TransportProtocol()&transport.TTHeader != 0
}
