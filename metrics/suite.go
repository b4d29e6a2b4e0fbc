package metrics

import (
	"context"
	"errors"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/pkg/utils"
	"github.com/cloudwego/kitex/server"

	"github.com/kitexsuite/suite/internal/kitexmeta"
	"github.com/kitexsuite/suite/internal/stack"
	"github.com/kitexsuite/suite/rpcmodel"
)

// tracer adapts a recorder to Kitex's stats.Tracer: everything at Finish.
// At Start, a unary call Kitex times gets no per-call state and no
// allocation; one it does not time gets a start time (see markStart), a
// client stream a record for when it is abandoned.
type tracer struct{ r *recorder }

var _ stats.Tracer = tracer{}

func (t tracer) Start(ctx context.Context) context.Context {
	ri := rpcinfo.GetRPCInfo(ctx)
	if ri == nil {
		return ctx
	}
	ctx = markStart(ctx, ri)
	if t.r.side == rpcmodel.Client && isStream(ri) && (t.r.cfg.filter == nil || t.r.cfg.filter(ctx, ri)) {
		return t.r.startStream(ctx, ri)
	}
	return ctx
}

func (t tracer) Finish(ctx context.Context) { t.r.finish(ctx) }

func isStream(ri rpcinfo.RPCInfo) bool {
	if inv := ri.Invocation(); inv != nil {
		if mi := inv.MethodInfo(); mi != nil {
			return mi.IsStreaming()
		}
	}
	return false
}

// ServerSuite records the metrics of a Kitex server; pass it to
// server.WithSuite.
type ServerSuite struct{ r *recorder }

var _ server.Suite = (*ServerSuite)(nil)

// NewServerSuite returns a server Suite recording as the options say.
func NewServerSuite(opts ...Option) *ServerSuite {
	return &ServerSuite{r: newRecorder(rpcmodel.Server, opts)}
}

// Err reports a registration or instrument error met when the Suite was
// built (a *ConflictError among them), or an installation Kitex was asked
// to make and the Suite skipped (ErrInstalledTwice); each is also logged
// once. nil when everything is recording.
func (s *ServerSuite) Err() error { return s.r.errs() }

// Options implements server.Suite. It is one option that, applied to a
// server, installs the Suite unless a metrics Suite sharing its backend is
// already installed there (see ErrInstalledTwice).
func (s *ServerSuite) Options() []server.Option {
	r := s.r
	opts := []server.Option{
		server.WithTracer(tracer{r}),
		// Kitex records detailed stats (a clock read per event) whenever a
		// tracer is installed; metrics need only the start and finish.
		server.WithStatsLevel(stats.LevelBase),
		server.WithMiddleware(r.inFlight),
		// The caller's name and the business status Kitex's TTHeader and
		// HTTP/2 handlers carry, so the labels do not depend on whether a
		// tracing Suite (which installs the same) is there too.
		server.WithMetaHandler(kitexmeta.Server),
		// Grows the request goroutine's stack before Kitex decodes, where
		// that is cheap, not under Finish's recording (see internal/stack).
		server.WithBoundHandler(stack.Inbound{Owner: "metrics"}),
		server.WithStreamOptions(server.WithStreamEventHandler(rpcinfo.ServerStreamEventHandler{
			HandleStreamSendEvent: r.onStreamSend, HandleStreamRecvEvent: r.onStreamRecv,
		})),
	}
	return []server.Option{{F: func(o *server.Options, di *utils.Slice) {
		if !claim(r, o) {
			di.Push(skipped)
			return
		}
		for _, opt := range opts {
			opt.F(o, di)
		}
	}}}
}

// skipped is the debug info of an installation claim refused.
const skipped = "kitexsuite/metrics: skipped, installed twice"

// ClientSuite records the metrics of a Kitex client; pass it to
// client.WithSuite.
type ClientSuite struct{ r *recorder }

var _ client.Suite = (*ClientSuite)(nil)

// NewClientSuite returns a client Suite recording as the options say.
func NewClientSuite(opts ...Option) *ClientSuite {
	return &ClientSuite{r: newRecorder(rpcmodel.Client, opts)}
}

// Err reports what ServerSuite.Err does, for a client.
func (s *ClientSuite) Err() error { return s.r.errs() }

// Options implements client.Suite, as ServerSuite.Options does.
func (s *ClientSuite) Options() []client.Option {
	r := s.r
	opts := []client.Option{
		client.WithTracer(tracer{r}),
		client.WithStatsLevel(stats.LevelBase), // see ServerSuite.Options
		client.WithMiddleware(r.inFlight),
		client.WithMetaHandler(kitexmeta.Client), // see ServerSuite.Options
		client.WithStreamOptions(client.WithStreamEventHandler(rpcinfo.ClientStreamEventHandler{
			HandleStreamSendEvent: r.onStreamSend, HandleStreamRecvEvent: r.onStreamRecv,
		})),
	}
	return []client.Option{{F: func(o *client.Options, di *utils.Slice) {
		if !claim(r, o) {
			di.Push(skipped)
			return
		}
		for _, opt := range opts {
			opt.F(o, di)
		}
	}}}
}

// errs is what Err reports.
func (r *recorder) errs() error {
	if e := r.installErr.Load(); e != nil {
		return errors.Join(r.err, *e)
	}
	return r.err
}
