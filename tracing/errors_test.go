package tracing_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/callopt"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	echoserviceextra "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoextra/echoservice" // same service, one method more
	"github.com/kitexsuite/suite/rpcmodel"
	"github.com/kitexsuite/suite/tracing"
)

// oneHop starts a traced Thrift server and returns a traced client to it.
func (e *env) oneHop() (echoservice.Client, string) {
	e.t.Helper()
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{}, server.WithSuite(tracing.NewServerSuite(e.opt...)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = svr.Stop() })
	c, err := echoservice.NewClient("backend", client.WithHostPorts(svr.Addr), client.WithSuite(tracing.NewClientSuite(e.opt...)),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "client"}))
	if err != nil {
		e.t.Fatal(err)
	}
	return c, svr.Addr
}

func kindSpan(t *testing.T, spans []sdkSpan, k trace.SpanKind) sdkSpan {
	t.Helper()
	got := byKind(spans, k)
	if len(got) != 1 {
		t.Fatalf("want exactly one %s span, got %v", k, names(spans))
	}
	return got[0]
}

func wantAttr(t *testing.T, s sdkSpan, key, want string) {
	t.Helper()
	got, ok := attr(s, key)
	if !ok || got != want {
		t.Errorf("%s span %q: %s = %q (present %v), want %q", s.SpanKind(), s.Name(), key, got, ok, want)
	}
}

func noAttr(t *testing.T, s sdkSpan, key string) {
	t.Helper()
	if got, ok := attr(s, key); ok {
		t.Errorf("%s span %q: %s = %q, want it absent", s.SpanKind(), s.Name(), key, got)
	}
}

func TestSuccessAttributes(t *testing.T) {
	e := newEnv(t, tracing.WithWireAttributes())
	c, addr := e.oneHop()
	if _, err := c.Echo(context.Background(), &echo.EchoRequest{Message: "hi"}); err != nil {
		t.Fatal(err)
	}
	spans := e.waitSpans(2)
	for _, s := range spans {
		if s.Name() != "echo.EchoService/Echo" {
			t.Errorf("span name %q, want echo.EchoService/Echo", s.Name())
		}
		if s.Status().Code != codes.Unset {
			t.Errorf("%s span status %v, want Unset", s.SpanKind(), s.Status())
		}
		wantAttr(t, s, "rpc.system.name", "kitex")
		wantAttr(t, s, "rpc.method", "echo.EchoService/Echo")
		wantAttr(t, s, "rpc.response.status_code", "OK")
		wantAttr(t, s, "kitex.transport", "ttheader_framed")
		noAttr(t, s, "error.type")
		noAttr(t, s, "rpc.system") // the old name only under rpc/old or rpc/dup
	}
	cl := kindSpan(t, spans, trace.SpanKindClient)
	wantAttr(t, cl, "server.address", "127.0.0.1")
	wantAttr(t, cl, "server.port", addr[len("127.0.0.1:"):])
	wantAttr(t, cl, "service.peer.name", "backend")
	wantAttr(t, kindSpan(t, spans, trace.SpanKindServer), "service.peer.name", "client")
}

func TestBusinessErrorIsNotAnRPCFailure(t *testing.T) {
	for _, asError := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "WithBizErrorAsError"}[asError], func(t *testing.T) {
			e := newEnv(t, tracing.WithBizErrorAsError(asError))
			c, _ := e.oneHop()
			_, err := c.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionBizError})
			if be, ok := kerrors.FromBizStatusError(err); !ok || be.BizStatusCode() != testservice.BizCode {
				t.Fatalf("want biz status error %d, got %v", testservice.BizCode, err)
			}
			for _, s := range e.waitSpans(2) {
				wantAttr(t, s, "kitex.biz_status.code", "404")
				wantAttr(t, s, "rpc.response.status_code", "404")
				if asError {
					wantAttr(t, s, "error.type", "biz_error")
					if s.Status().Code != codes.Error {
						t.Errorf("%s span status %v, want Error", s.SpanKind(), s.Status())
					}
				} else {
					noAttr(t, s, "error.type")
					if s.Status().Code != codes.Unset {
						t.Errorf("%s span status %v, want Unset", s.SpanKind(), s.Status())
					}
				}
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	c, _ := e.oneHop()
	_, err := c.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionSleep, SleepMs: 300},
		callopt.WithRPCTimeout(30*time.Millisecond))
	if !kerrors.IsTimeoutError(err) {
		t.Fatalf("want timeout, got %v", err)
	}
	cl := kindSpan(t, e.waitSpans(2), trace.SpanKindClient)
	wantAttr(t, cl, "error.type", rpcmodel.ErrorTypeTimeout)
	wantAttr(t, cl, "rpc.response.status_code", rpcmodel.ErrorTypeTimeout)
	if cl.Status().Code != codes.Error {
		t.Errorf("client span status %v, want Error", cl.Status())
	}
}

func TestHandlerPanic(t *testing.T) {
	e := newEnv(t)
	c, _ := e.oneHop()
	if _, err := c.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionPanic}); err == nil {
		t.Fatal("want an error from a panicking handler")
	}
	spans := e.waitSpans(2)
	sv := kindSpan(t, spans, trace.SpanKindServer)
	wantAttr(t, sv, "error.type", rpcmodel.ErrorTypePanic)
	if sv.Status().Code != codes.Error {
		t.Errorf("server span status %v, want Error", sv.Status())
	}
	cl := kindSpan(t, spans, trace.SpanKindClient)
	if et, _ := attr(cl, "error.type"); !slices.Contains(rpcmodel.ErrorTypes, et) {
		t.Errorf("client error.type %q is not in the bounded set", et)
	}
	if cl.Status().Code != codes.Error {
		t.Errorf("client span status %v, want Error", cl.Status())
	}
}

func TestUnknownMethod(t *testing.T) {
	e := newEnv(t)
	_, addr := e.oneHop()
	newer, err := echoserviceextra.NewClient("backend", client.WithHostPorts(addr), client.WithSuite(tracing.NewClientSuite(e.opt...)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newer.Missing(context.Background(), &echo.EchoRequest{}); err == nil {
		t.Fatal("want an error calling a method the server does not define")
	}
	spans := e.waitSpans(2)
	sv := kindSpan(t, spans, trace.SpanKindServer)
	if sv.Name() != "kitex" {
		t.Errorf("server span for an unknown method is named %q, want the system name %q", sv.Name(), "kitex")
	}
	wantAttr(t, sv, "rpc.method", "_OTHER")
	wantAttr(t, sv, "rpc.method_original", "Missing")
	wantAttr(t, sv, "error.type", rpcmodel.ErrorTypeUnknownMethod)
	if sv.Status().Code != codes.Unset {
		t.Errorf("server span status %v: an unknown method is the caller's fault, want Unset", sv.Status())
	}
	cl := kindSpan(t, spans, trace.SpanKindClient)
	if cl.Status().Code != codes.Error {
		t.Errorf("client span status %v, want Error", cl.Status())
	}
}
