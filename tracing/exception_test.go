package tracing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoexc"
	excservice "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoexc/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

// A Thrift exception the IDL declares travels as a successful call; both
// spans report it as error.type "exception" (client status Error, server
// status Unset: the application's own answer), a success stays a success.
func TestDeclaredExceptionIsReported(t *testing.T) {
	e := newEnv(t)
	svr, err := testservice.Start("backend", testservice.Exception, nil, server.WithSuite(tracing.NewServerSuite(e.opt...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svr.Stop() })
	c, err := excservice.NewClient("backend", client.WithHostPorts(svr.Addr), client.WithSuite(tracing.NewClientSuite(e.opt...)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Echo(context.Background(), testservice.ExceptionFail)
	var exc *echoexc.EchoError
	if !errors.As(err, &exc) {
		t.Fatalf("client got %v, want the declared EchoError", err)
	}
	spans := e.waitSpans(2)
	cl, sv := kindSpan(t, spans, trace.SpanKindClient), kindSpan(t, spans, trace.SpanKindServer)
	wantAttr(t, cl, "error.type", "exception")
	wantAttr(t, sv, "error.type", "exception")
	wantAttr(t, cl, "rpc.response.status_code", "exception")
	if cl.Status().Code != codes.Error || sv.Status().Code != codes.Unset {
		t.Errorf("status client %v server %v, want Error and Unset", cl.Status(), sv.Status())
	}

	e.rec.Reset()
	if _, err := c.Echo(context.Background(), "ok"); err != nil {
		t.Fatal(err)
	}
	spans = e.waitSpans(2)
	for _, s := range spans {
		noAttr(t, s, "error.type")
		wantAttr(t, s, "rpc.response.status_code", "OK")
	}
}
