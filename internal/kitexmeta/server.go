package kitexmeta

import (
	"context"
	"strconv"
	"time"

	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/metadata"
	"github.com/cloudwego/kitex/pkg/remote/transmeta"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/utils"
)

// Server is the server meta handler; pass it to server.WithMetaHandler. It
// does the work of Kitex's ServerTTHeaderHandler and ServerHTTP2Handler
// that what a server reports depends on: the caller's identity and RPC
// timeout in, the business status error and the graceful shutdown's
// connection-reset mark out.
var Server = serverHandler{}

type serverHandler struct{}

var (
	_ remote.MetaHandler          = serverHandler{}
	_ remote.StreamingMetaHandler = serverHandler{}
)

func (serverHandler) ReadMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	if ti := msg.TransInfo(); ti != nil && IsTTHeader(msg.RPCInfo()) {
		ReadServerTTHeader(msg.RPCInfo(), ti.TransIntInfo())
	}
	return ctx, nil
}

func (serverHandler) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	if ti := msg.TransInfo(); ti != nil && IsTTHeader(msg.RPCInfo()) {
		WriteServerTTHeader(msg.RPCInfo(), ti.TransStrInfo())
	}
	return ctx, nil
}

func (serverHandler) OnConnectStream(ctx context.Context) (context.Context, error) { return ctx, nil }

// OnReadStream reads the caller's identity from the gRPC metadata, as
// Kitex's ServerHTTP2Handler does.
func (serverHandler) OnReadStream(ctx context.Context) (context.Context, error) {
	ri := rpcinfo.GetRPCInfo(ctx)
	if !IsGRPC(ri) {
		return ctx, nil
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ReadGRPCIdentity(ri, md)
	}
	return ctx, nil
}

// ReadServerTTHeader does what Kitex's ServerTTHeaderHandler.ReadMeta
// does: the caller's service and method into the RPCInfo, and the caller's
// RPC timeout into its config (it matters with
// server.WithEnableContextTimeout). Unlike Kitex's handler it parses the
// timeout only when the caller sent one: strconv.Atoi("") allocates its
// error, on every call of a client that sends none.
func ReadServerTTHeader(ri rpcinfo.RPCInfo, intInfo map[uint16]string) {
	if ci := rpcinfo.AsMutableEndpointInfo(ri.From()); ci != nil {
		if v := intInfo[transmeta.FromService]; v != "" {
			ci.SetServiceName(v)
		}
		if v := intInfo[transmeta.FromMethod]; v != "" {
			ci.SetMethod(v)
		}
	}
	if v := intInfo[transmeta.RPCTimeout]; v != "" {
		if cfg := rpcinfo.AsMutableRPCConfig(ri.Config()); cfg != nil {
			if ms, err := strconv.Atoi(v); err == nil {
				cfg.SetRPCTimeout(time.Duration(ms) * time.Millisecond)
			}
		}
	}
}

// WriteServerTTHeader does what Kitex's ServerTTHeaderHandler.WriteMeta
// does for a Kitex client: the handler's business status error (read back
// by Client and by Kitex's ClientTTHeaderHandler), and the graceful
// shutdown's connection-reset mark. It leaves out the message-type header,
// which no Kitex client reads, so a reply without either carries no header
// for the client to decode. Writing twice writes the same values.
func WriteServerTTHeader(ri rpcinfo.RPCInfo, strInfo map[string]string) {
	if inv := ri.Invocation(); inv != nil {
		if bizErr := inv.BizStatusErr(); bizErr != nil {
			strInfo[BizStatusHeader] = strconv.Itoa(int(bizErr.BizStatusCode()))
			strInfo[BizMessageHeader] = bizErr.BizMessage()
			if extra := bizErr.BizExtra(); len(extra) != 0 {
				// A map[string]string always encodes.
				strInfo[BizExtraHeader], _ = utils.Map2JSONStr(extra)
			}
		}
	}
	if to := ri.To(); to != nil {
		if v, ok := to.Tag(rpcinfo.ConnResetTag); ok {
			strInfo[transmeta.HeaderConnectionReadyToReset] = v
		}
	}
}

// ReadGRPCIdentity reads the caller's service and method from a gRPC
// request's metadata, the keys SetGRPCIdentity writes.
func ReadGRPCIdentity(ri rpcinfo.RPCInfo, md metadata.MD) {
	ci := rpcinfo.AsMutableEndpointInfo(ri.From())
	if ci == nil {
		return
	}
	if v := md[transmeta.HTTPSourceService]; len(v) != 0 {
		ci.SetServiceName(v[0])
	}
	if v := md[transmeta.HTTPSourceMethod]; len(v) != 0 {
		ci.SetMethod(v[0])
	}
}
