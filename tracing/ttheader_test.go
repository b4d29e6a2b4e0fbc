package tracing_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/endpoint"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/remote"
	remotetransmeta "github.com/cloudwego/kitex/pkg/remote/transmeta"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// The server Suite stands in for Kitex's ServerTTHeaderHandler (which it
// used to install): a client with Kitex's ClientTTHeaderHandler and no
// tracing must get what that handler gave it, and the server must read
// what the client's handler sent.
func TestServerSuiteSpeaksKitexTTHeader(t *testing.T) {
	e := newEnv(t)
	type seen struct {
		caller, method string
		timeout        time.Duration
	}
	var got atomic.Pointer[seen]
	record := server.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req, resp interface{}) error {
			ri := rpcinfo.GetRPCInfo(ctx)
			got.Store(&seen{ri.From().ServiceName(), ri.From().Method(), ri.Config().RPCTimeout()})
			return next(ctx, req, resp)
		}
	})
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{}, server.WithSuite(tracing.NewServerSuite(e.opt...)), record)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svr.Stop() })
	c, err := echoservice.NewClient("backend", client.WithHostPorts(svr.Addr),
		client.WithTransportProtocol(transport.TTHeader), client.WithMetaHandler(transmeta.ClientTTHeaderHandler),
		client.WithRPCTimeout(1234*time.Millisecond),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "plain-client", Method: "Caller"}))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	want := seen{"plain-client", "Caller", 1234 * time.Millisecond}
	if s := got.Load(); s == nil || *s != want {
		t.Fatalf("server saw %+v, want %+v", s, want)
	}

	_, err = c.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionBizError})
	be, ok := kerrors.FromBizStatusError(err)
	if !ok {
		t.Fatalf("plain Kitex client got %v, want the handler's business status error", err)
	}
	if be.BizStatusCode() != testservice.BizCode || be.BizMessage() != "not found" || be.BizExtra()[testservice.BizExtraKey] != testservice.BizExtraValue {
		t.Fatalf("business status error %d %q %v, want %d %q with %s=%s", be.BizStatusCode(), be.BizMessage(), be.BizExtra(),
			testservice.BizCode, "not found", testservice.BizExtraKey, testservice.BizExtraValue)
	}
}

// badTimeout sends a malformed caller timeout, as a broken or hostile peer
// might.
type badTimeout struct{}

func (badTimeout) WriteMeta(ctx context.Context, msg remote.Message) (context.Context, error) {
	msg.TransInfo().TransIntInfo()[remotetransmeta.RPCTimeout] = "soon"
	return ctx, nil
}

func (badTimeout) ReadMeta(ctx context.Context, _ remote.Message) (context.Context, error) {
	return ctx, nil
}

// A caller without Kitex's TTHeader handler sends no timeout: the server
// keeps its own configuration. A malformed one is ignored, as Kitex's
// handler ignores it, and the call is served.
func TestServerSuiteCallerTimeoutAbsentOrMalformed(t *testing.T) {
	for name, extra := range map[string][]client.Option{
		"absent":    nil,
		"malformed": {client.WithRPCTimeout(time.Second), client.WithMetaHandler(badTimeout{})},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			var timeout atomic.Int64
			timeout.Store(-1)
			record := server.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
				return func(ctx context.Context, req, resp interface{}) error {
					timeout.Store(int64(rpcinfo.GetRPCInfo(ctx).Config().RPCTimeout()))
					return next(ctx, req, resp)
				}
			})
			svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{}, server.WithSuite(tracing.NewServerSuite(e.opt...)), record)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = svr.Stop() })
			opts := append([]client.Option{client.WithHostPorts(svr.Addr), client.WithSuite(tracing.NewClientSuite(e.opt...))}, extra...)
			c, err := echoservice.NewClient("backend", opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "hi"}); err != nil {
				t.Fatal(err)
			}
			if got := time.Duration(timeout.Load()); got != 0 {
				t.Fatalf("server's RPC timeout is %v, want 0 (the caller sent none it could read)", got)
			}
		})
	}
}

// The client Suite does Kitex's ClientTTHeaderHandler's and
// ClientHTTP2Handler's work: the server sees the caller's name on both
// transports and, on TTHeader, the RPC timeout the caller set.
func TestClientSuiteSendsIdentityAndTimeout(t *testing.T) {
	for _, tc := range unaryTransports {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var caller atomic.Value
			var timeout atomic.Int64
			record := server.WithMiddleware(func(next endpoint.Endpoint) endpoint.Endpoint {
				return func(ctx context.Context, req, resp interface{}) error {
					ri := rpcinfo.GetRPCInfo(ctx)
					caller.Store(ri.From().ServiceName())
					timeout.Store(int64(ri.Config().RPCTimeout()))
					return next(ctx, req, resp)
				}
			})
			svr, err := testservice.Start("backend", tc.codec, &testservice.Handler{}, server.WithSuite(tracing.NewServerSuite(e.opt...)), record)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = svr.Stop() })
			fwd, err := testservice.NewForward(tc.codec, "backend", svr.Addr, client.WithSuite(tracing.NewClientSuite(e.opt...)),
				client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "frontend"}),
				client.WithRPCTimeout(1500*time.Millisecond), client.WithTransportProtocol(tc.tp))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fwd(context.Background(), &testservice.Request{Message: "hi"}); err != nil {
				t.Fatal(err)
			}
			if got, _ := caller.Load().(string); got != "frontend" {
				t.Errorf("server saw caller %q, want frontend", got)
			}
			if tc.codec == testservice.Thrift {
				if got := time.Duration(timeout.Load()); got != 1500*time.Millisecond {
					t.Errorf("server's RPC timeout %v, want the caller's 1.5s", got)
				}
			}
		})
	}
}
