package metrics

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/retry"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/callctx"
	"github.com/kitexsuite/suite/rpcmodel"
)

// recorder is one side's metrics: the backends it writes to and the guards
// that keep their labels bounded.
type recorder struct {
	cfg     *config
	side    rpcmodel.Side
	prom    *promBackend // nil without WithRegisterer
	otel    *otelBackend // nil without a MeterProvider
	peer    *peerGuard
	bizCode *bizCodeGuard
	err     error // met building the backends; immutable

	// installErr is the first installation refused (ErrInstalledTwice),
	// set while Kitex applies options.
	installErr atomic.Pointer[error]

	// configs holds, per callee, the client's call configuration as read
	// before a call: a client whose RPC timed out finishes while Kitex's
	// timeout worker may still decode the late reply into the RPCConfig.
	configs sync.Map // callee -> rpcmodel.ConfigSnapshot
}

func newRecorder(side rpcmodel.Side, opts []Option) *recorder {
	cfg := newConfig(opts)
	r := &recorder{cfg: cfg, side: side, peer: newPeerGuard(cfg.peerAllow, cfg.peerLimit), bizCode: newBizCodeGuard(cfg.bizCodeLimit)}
	var errs []error
	if cfg.registerer != nil {
		b, err := newPromBackend(cfg, side)
		r.prom = b
		errs = append(errs, err)
	}
	if cfg.meterProvider != nil {
		b, err := newOTelBackend(cfg, side)
		r.otel = b
		errs = append(errs, err)
	}
	if r.err = errors.Join(errs...); r.err != nil {
		// Logged once, here; the Suite keeps recording into what it has.
		klog.Errorf("kitexsuite/metrics: %s suite: %v", side, r.err)
	}
	for _, svc := range cfg.services {
		system := rpcmodel.SystemKitex
		for name := range svc.Methods {
			method := cfg.methods.Declare(svc.GetPackageName(), svc.ServiceName, name)
			if r.prom != nil {
				r.prom.precreate(system, method)
			}
			if r.otel != nil {
				r.otel.precreate(system, method)
			}
		}
	}
	return r
}

// Finish-time recording, shared by both sides.
func (r *recorder) finish(ctx context.Context) {
	ri := rpcinfo.GetRPCInfo(ctx)
	if ri == nil {
		return
	}
	// Only a client stream has a record (see startStream); looking for one
	// in any other call's context would walk the whole chain for nothing.
	if r.side == rpcmodel.Client && isStream(ri) {
		if st := callctx.From[streamRecord](ctx, streamKey{}); st != nil {
			st.stop()
			if !st.ended.CompareAndSwap(false, true) {
				return // abandoned: already recorded
			}
		}
	}
	if r.cfg.filter != nil && !r.cfg.filter(ctx, ri) {
		return
	}
	var call rpcmodel.Call
	var snap *rpcmodel.ConfigSnapshot
	if r.side == rpcmodel.Client && kerrors.IsTimeoutError(ri.Stats().Error()) {
		if v, ok := r.configs.Load(ri.To().ServiceName()); ok {
			cs := v.(rpcmodel.ConfigSnapshot)
			snap = &cs
		}
	}
	r.cfg.methods.DeriveWith(&call, r.side, ri, nil, snap)
	timeUntimed(ctx, &call)
	r.record(ctx, &call)
}

// record writes one finished call to the backends.
func (r *recorder) record(ctx context.Context, call *rpcmodel.Call) {
	peer := call.Caller
	if r.side == rpcmodel.Client {
		peer = call.Callee
	}
	k := seriesKey{system: call.System, method: call.FullMethod, peer: r.peer.label(peer),
		outcome: call.Outcome.String(), errorType: call.ErrorType, statusCode: r.bizCode.statusCode(call)}
	if r.otel != nil {
		switch {
		case r.side == rpcmodel.Server && r.cfg.semconvOld:
			k.local = call.Callee
		case r.side == rpcmodel.Client && r.cfg.semconvCurrent:
			k.serverHost, k.serverPort = rpcmodel.HostPort(call.ServerAddr)
		}
		k.notFailed = r.side == rpcmodel.Server && call.System == rpcmodel.SystemGRPC &&
			call.Outcome == rpcmodel.Failure && !call.ServerFault()
	}
	link, linked := spanOf(ctx)
	if r.prom != nil {
		r.prom.finished(call, k, link, linked)
	}
	if r.otel != nil {
		r.otel.finished(ctx, call, k, link, linked)
	}
}

// streamRecord is kept for client streams only: Kitex finishes a client
// stream on a failed Recv or Send or at its end, never when the caller
// cancels and walks away; abandon records the call then, once.
type streamRecord struct {
	ended atomic.Bool
	stop  func() bool
}

type streamKey struct{}

// startStream arranges for an abandoned client stream to be recorded when
// its context ends, with what is known without the RPCInfo.
func (r *recorder) startStream(ctx context.Context, ri rpcinfo.RPCInfo) context.Context {
	ctx, st := callctx.With[streamRecord](ctx, streamKey{})
	call := rpcmodel.Call{Side: rpcmodel.Client, System: rpcmodel.SystemOf(ri), Callee: ri.To().ServiceName(),
		Outcome: rpcmodel.Failure, Start: time.Now()}
	call.FullMethod = r.cfg.methods.FullMethod(ri)
	call.Method = ri.Invocation().MethodName()
	st.stop = context.AfterFunc(ctx, func() {
		if !st.ended.CompareAndSwap(false, true) {
			return
		}
		c := call
		c.End, c.Err = time.Now(), ctx.Err()
		c.ErrorType = rpcmodel.ClassifyError(c.Err)
		r.record(ctx, &c)
	})
	return ctx
}

// spanOf finds the call's own span: as a tracing Suite published it, else
// in ctx as OTel put it. The order matters on the server: Kitex's server
// tracer may see the caller's (remote) span context in ctx, never the
// server span the tracing Suite started for the handler.
func spanOf(ctx context.Context) (rpcmodel.TraceLink, bool) {
	if l, ok := rpcmodel.TraceLinkFrom(ctx); ok {
		return l, true
	}
	// A local span (the client's own call span from other instrumentation);
	// a remote one is the caller's span, not this call's.
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsRemote() {
		return rpcmodel.TraceLink{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Sampled: sc.IsSampled()}, true
	}
	return rpcmodel.TraceLink{}, false
}

// inFlight wraps the handler (server) or each attempt (client): it runs with
// the method known, which Kitex's server tracer Start does not see.
func (r *recorder) inFlight(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req, resp interface{}) error {
		ri := rpcinfo.GetRPCInfo(ctx)
		if ri == nil || (r.cfg.filter != nil && !r.cfg.filter(ctx, ri)) {
			return next(ctx, req, resp)
		}
		system, method := rpcmodel.SystemOf(ri), r.cfg.methods.FullMethod(ri)
		if r.side == rpcmodel.Client {
			if callee := ri.To().ServiceName(); callee != "" {
				if _, seen := r.configs.Load(callee); !seen {
					r.configs.Store(callee, rpcmodel.SnapshotConfig(ri))
				}
			}
		}
		if r.side == rpcmodel.Client && retry.IsLocalRetryRequest(ctx) {
			peer := r.peer.label(ri.To().ServiceName())
			if r.prom != nil {
				r.prom.retry(system, method, peer)
			}
			if r.otel != nil {
				r.otel.retry(ctx, system, method, peer)
			}
		}
		r.addInFlight(ctx, system, method, 1)
		defer r.addInFlight(ctx, system, method, -1)
		return next(ctx, req, resp)
	}
}

func (r *recorder) addInFlight(ctx context.Context, system, method string, d int64) {
	if r.prom != nil {
		r.prom.inFlightAdd(system, method, float64(d))
	}
	if r.otel != nil {
		r.otel.inFlightAdd(ctx, system, method, d)
	}
}

// onStreamSend and onStreamRecv are the stream event handlers of both
// sides: Kitex's client and server handler structs take the same signatures.
func (r *recorder) onStreamSend(ctx context.Context, ri rpcinfo.RPCInfo, e rpcinfo.StreamSendEvent) {
	r.streamMessage(ctx, ri, e.Err, true)
}

func (r *recorder) onStreamRecv(ctx context.Context, ri rpcinfo.RPCInfo, e rpcinfo.StreamRecvEvent) {
	r.streamMessage(ctx, ri, e.Err, false)
}

func (r *recorder) streamMessage(ctx context.Context, ri rpcinfo.RPCInfo, err error, sent bool) {
	if err != nil || ri == nil {
		return
	}
	system, method := rpcmodel.SystemOf(ri), r.cfg.methods.FullMethod(ri)
	if r.prom != nil {
		r.prom.message(system, method, sent)
	}
	if r.otel != nil {
		r.otel.message(ctx, system, method, sent)
	}
}
