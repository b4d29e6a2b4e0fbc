package rpcmodel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/generic"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/status"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/serviceinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/transport"

	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoexc"
	"github.com/kitexsuite/suite/rpcmodel"
)

func TestClassifyError(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{kerrors.ErrRPCTimeout.WithCause(errors.New("deadline")), rpcmodel.ErrorTypeTimeout},
		{kerrors.ErrRemoteOrNetwork.WithCause(kerrors.ErrRPCTimeout), rpcmodel.ErrorTypeTimeout},
		{context.DeadlineExceeded, rpcmodel.ErrorTypeTimeout},
		{kerrors.ErrCanceledByBusiness, rpcmodel.ErrorTypeCanceled},
		{fmt.Errorf("wrapped: %w", context.Canceled), rpcmodel.ErrorTypeCanceled},
		{kerrors.ErrServiceCircuitBreak, rpcmodel.ErrorTypeCircuitBreak},
		{kerrors.ErrInstanceCircuitBreak, rpcmodel.ErrorTypeCircuitBreak},
		{kerrors.ErrACL.WithCause(errors.New("denied")), rpcmodel.ErrorTypeACL},
		{kerrors.ErrQPSOverLimit, rpcmodel.ErrorTypeOverLimit},
		{kerrors.ErrConnOverLimit, rpcmodel.ErrorTypeOverLimit},
		{kerrors.ErrNoInstance, rpcmodel.ErrorTypeServiceDiscovery},
		{kerrors.ErrNoMoreInstance, rpcmodel.ErrorTypeServiceDiscovery},
		{kerrors.ErrLoadbalance, rpcmodel.ErrorTypeServiceDiscovery},
		{kerrors.ErrGetConnection.WithCause(errors.New("refused")), rpcmodel.ErrorTypeConnection},
		{kerrors.ErrRemoteOrNetwork.WithCause(errors.New("reset")), rpcmodel.ErrorTypeRemote},
		{kerrors.ErrPanic, rpcmodel.ErrorTypePanic},
		{kerrors.ErrRoute, rpcmodel.ErrorTypeRoute},
		{kerrors.ErrPayloadValidation, rpcmodel.ErrorTypeValidation},
		{kerrors.ErrNonExistentMethod("Svc", "M"), rpcmodel.ErrorTypeInternal},
		{kerrors.NewBizStatusError(404, "nf"), rpcmodel.ErrorTypeBizError},
		{status.Err(codes.DeadlineExceeded, "slow"), rpcmodel.ErrorTypeTimeout},
		{status.Err(codes.Unimplemented, "no"), rpcmodel.ErrorTypeUnknownMethod},
		{status.Err(codes.PermissionDenied, "no"), rpcmodel.ErrorTypeACL},
		{status.Err(codes.ResourceExhausted, "no"), rpcmodel.ErrorTypeOverLimit},
		{kerrors.ErrRemoteOrNetwork.WithCause(status.Err(codes.Unavailable, "down")), rpcmodel.ErrorTypeRemote},
		{status.Err(codes.DataLoss, "x"), rpcmodel.ErrorTypeOther},
		{errors.New("something else"), rpcmodel.ErrorTypeOther},
		{errors.Join(errors.New("a"), kerrors.NewBizStatusError(1, "b")), rpcmodel.ErrorTypeBizError},
		{fmt.Errorf("ctx: %w", status.Err(codes.Canceled, "gone")), rpcmodel.ErrorTypeCanceled},
	}
	for _, tc := range cases {
		got := rpcmodel.ClassifyError(tc.err)
		if got != tc.want {
			t.Errorf("ClassifyError(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if got != "" && !slices.Contains(rpcmodel.ErrorTypes, got) {
			t.Errorf("ClassifyError(%v) = %q is not in ErrorTypes", tc.err, got)
		}
	}
}

// newRI builds a real Kitex RPCInfo the way a client call would have it at
// Finish: known method, stats with start and finish events.
func newRI(method string, known bool, tp transport.Protocol) rpcinfo.RPCInfo {
	inv := rpcinfo.NewInvocation("EchoService", method, "echo")
	if known {
		inv.SetMethodInfo(serviceinfo.NewMethodInfo(nil, nil, nil, false))
	}
	cfg := rpcinfo.NewRPCConfig()
	rpcinfo.AsMutableRPCConfig(cfg).SetTransportProtocol(tp)
	rpcinfo.AsMutableRPCConfig(cfg).SetPayloadCodec(serviceinfo.Thrift)
	st := rpcinfo.NewRPCStats()
	ms := rpcinfo.AsMutableRPCStats(st)
	ms.SetLevel(stats.LevelBase)
	ms.SetSendSize(10)
	ms.SetRecvSize(20)
	st.Record(context.Background(), stats.RPCStart, stats.StatusInfo, "")
	st.Record(context.Background(), stats.RPCFinish, stats.StatusInfo, "")
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8888}
	return rpcinfo.NewRPCInfo(
		rpcinfo.NewEndpointInfo("caller", "", nil, nil),
		rpcinfo.NewEndpointInfo("callee", method, addr, nil),
		inv, cfg, st)
}

func TestDeriveSuccess(t *testing.T) {
	var c rpcmodel.Call
	rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.TTHeaderFramed), nil)
	if c.Outcome != rpcmodel.Success || c.ErrorType != "" || c.StatusCode() != "OK" {
		t.Errorf("outcome %v, error type %q, status %q; want success", c.Outcome, c.ErrorType, c.StatusCode())
	}
	if c.System != "kitex" || c.FullMethod != "echo.EchoService/Echo" || c.Method != "Echo" {
		t.Errorf("system %q method %q full %q", c.System, c.Method, c.FullMethod)
	}
	if c.Caller != "caller" || c.Callee != "callee" || c.Protocol != "ttheader_framed" || c.Codec != "thrift" {
		t.Errorf("caller %q callee %q protocol %q codec %q", c.Caller, c.Callee, c.Protocol, c.Codec)
	}
	if host, port := rpcmodel.HostPort(c.ServerAddr); host != "127.0.0.1" || port != 8888 {
		t.Errorf("server %s:%d", host, port)
	}
	if c.RequestSize != 10 || c.ResponseSize != 20 {
		t.Errorf("client sizes req %d resp %d, want 10 and 20", c.RequestSize, c.ResponseSize)
	}
	if c.Start.IsZero() || c.End.IsZero() || c.Duration() < 0 {
		t.Errorf("times %v..%v", c.Start, c.End)
	}
	rpcmodel.Derive(&c, rpcmodel.Server, newRI("Echo", true, transport.GRPC), nil)
	if c.System != "grpc" || c.RequestSize != 20 || c.ResponseSize != 10 {
		t.Errorf("server on gRPC: system %q req %d resp %d", c.System, c.RequestSize, c.ResponseSize)
	}
}

func TestDeriveOutcomes(t *testing.T) {
	var c rpcmodel.Call
	ri := newRI("Echo", true, transport.TTHeader)
	ri.Invocation().(rpcinfo.InvocationSetter).SetBizStatusErr(kerrors.NewBizStatusError(7, "seven"))
	rpcmodel.Derive(&c, rpcmodel.Server, ri, nil)
	if c.Outcome != rpcmodel.BizError || c.BizCode != 7 || c.BizMessage != "seven" || c.ErrorType != "" || c.StatusCode() != "7" {
		t.Errorf("biz: %+v", c)
	}

	rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.TTHeader), kerrors.ErrRPCTimeout)
	if c.Outcome != rpcmodel.Failure || c.ErrorType != rpcmodel.ErrorTypeTimeout || c.StatusCode() != "timeout" {
		t.Errorf("timeout: outcome %v type %q", c.Outcome, c.ErrorType)
	}

	rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.GRPC), status.Err(codes.NotFound, "gone"))
	if c.StatusCode() != "NOT_FOUND" {
		t.Errorf("gRPC status code %q, want the peer's NOT_FOUND", c.StatusCode())
	}
	for err, want := range map[error]string{
		kerrors.ErrRPCTimeout:     "DEADLINE_EXCEEDED", // local failures carry no status:
		context.Canceled:          "CANCELLED",         // the canonical code of their class
		kerrors.ErrNoMoreInstance: "UNAVAILABLE",
		errors.New("other"):       "UNKNOWN",
	} {
		rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.GRPC), err)
		if c.StatusCode() != want {
			t.Errorf("gRPC status code for %v = %q, want %q", err, c.StatusCode(), want)
		}
	}

	ri = newRI("Echo", true, transport.TTHeader)
	rpcinfo.AsMutableRPCStats(ri.Stats()).SetPanicked("boom")
	rpcmodel.Derive(&c, rpcmodel.Server, ri, nil)
	if c.Outcome != rpcmodel.Failure || c.ErrorType != rpcmodel.ErrorTypePanic || !c.Panicked {
		t.Errorf("panic: outcome %v type %q", c.Outcome, c.ErrorType)
	}

	ri = newRI("Nope", false, transport.TTHeader)
	rpcmodel.Derive(&c, rpcmodel.Server, ri, kerrors.ErrInternalException.WithCause(errors.New("unknown method")))
	if c.Method != rpcmodel.OtherMethod || c.FullMethod != rpcmodel.OtherMethod || c.OriginalMethod != "Nope" ||
		c.ErrorType != rpcmodel.ErrorTypeUnknownMethod {
		t.Errorf("unknown method: method %q full %q original %q type %q", c.Method, c.FullMethod, c.OriginalMethod, c.ErrorType)
	}

	rpcmodel.Derive(&c, rpcmodel.Client, nil, errors.New("x"))
	if c.Outcome != rpcmodel.Failure || c.Method != rpcmodel.OtherMethod {
		t.Errorf("nil ri: %+v", c)
	}
}

func TestProtocolName(t *testing.T) {
	cases := map[transport.Protocol]string{
		transport.PurePayload:                     "buffered",
		transport.Framed:                          "framed",
		transport.TTHeader:                        "ttheader",
		transport.TTHeaderFramed:                  "ttheader_framed",
		transport.GRPC:                            "grpc",
		transport.GRPC | transport.TTHeaderFramed: "grpc",
		transport.TTHeaderStreaming:               "ttheader_streaming",
		transport.HTTP:                            "http",
	}
	for tp, want := range cases {
		if got := rpcmodel.ProtocolName(tp); got != want {
			t.Errorf("ProtocolName(%v) = %q, want %q", tp, got, want)
		}
	}
}

// Deriving a finished call must not allocate: it runs on every RPC of every
// signal. The full method is interned after the first call.
func TestDeriveAllocatesNothing(t *testing.T) {
	ri := newRI("Echo", true, transport.TTHeaderFramed)
	var c rpcmodel.Call
	rpcmodel.Derive(&c, rpcmodel.Client, ri, nil)
	if n := testing.AllocsPerRun(100, func() { rpcmodel.Derive(&c, rpcmodel.Client, ri, nil) }); n != 0 {
		t.Errorf("Derive allocates %.0f times per call, want 0", n)
	}
	biz := kerrors.NewBizStatusError(1, "x")
	if n := testing.AllocsPerRun(100, func() { rpcmodel.Derive(&c, rpcmodel.Client, ri, biz) }); n != 0 {
		t.Errorf("Derive of a business error allocates %.0f times, want 0", n)
	}
}

func TestDurationUnknownIsZero(t *testing.T) {
	c := rpcmodel.Call{Start: time.Now()}
	if c.Duration() != 0 {
		t.Error("Duration with no End must be 0")
	}
}

// genericRI is a call to a binary generic service, which answers any
// method name: its MethodInfo's arguments are Kitex's generic.Args.
func genericRI(svc, method string) rpcinfo.RPCInfo {
	ri := newRI(method, false, transport.TTHeader)
	inv := ri.Invocation().(rpcinfo.InvocationSetter)
	inv.SetServiceName(svc)
	inv.SetMethodInfo(serviceinfo.NewMethodInfo(nil, func() interface{} { return &generic.Args{} }, nil, false))
	return ri
}

// A generic service's callers fill only that service's pool in that
// table: past the limit its names are _OTHER (keeping the original name),
// while another service's declared methods, the known names and another
// table are unaffected.
func TestMethodsGenericPoolIsPerServiceAndTable(t *testing.T) {
	const limit = 5
	tab := rpcmodel.NewMethods(limit, "Vip")
	var c rpcmodel.Call
	named := 0
	for i := 0; i < limit+10; i++ {
		tab.Derive(&c, rpcmodel.Server, genericRI("GenericService", fmt.Sprintf("m%d", i)), nil)
		if c.Method != rpcmodel.OtherMethod {
			named++
		} else if c.OriginalMethod != fmt.Sprintf("m%d", i) || c.FullMethod != rpcmodel.OtherMethod {
			t.Fatalf("an _OTHER method must keep its original name: %+v", c)
		}
	}
	if named != limit {
		t.Errorf("%d generic names were named, want exactly the limit %d", named, limit)
	}
	tab.Derive(&c, rpcmodel.Server, genericRI("GenericService", "Vip"), nil)
	if c.FullMethod != "echo.GenericService/Vip" {
		t.Errorf("a known name past the limit: %q, want echo.GenericService/Vip", c.FullMethod)
	}
	tab.Derive(&c, rpcmodel.Server, newRI("Echo", true, transport.TTHeader), nil)
	if c.FullMethod != "echo.EchoService/Echo" {
		t.Errorf("another service's declared method after the pool filled: %q", c.FullMethod)
	}
	tab.Derive(&c, rpcmodel.Server, genericRI("OtherGeneric", "m0"), nil)
	if c.FullMethod != "echo.OtherGeneric/m0" {
		t.Errorf("another generic service has its own pool: %q", c.FullMethod)
	}
	other := rpcmodel.NewMethods(limit)
	other.Derive(&c, rpcmodel.Server, genericRI("GenericService", "m14"), nil)
	if c.FullMethod != "echo.GenericService/m14" {
		t.Errorf("another table is not affected: %q", c.FullMethod)
	}
	// Declared methods are never bounded.
	decl := rpcmodel.NewMethods(0)
	for i := 0; i < 20; i++ {
		decl.Derive(&c, rpcmodel.Server, newRI(fmt.Sprintf("d%d", i), true, transport.TTHeader), nil)
		if c.Method == rpcmodel.OtherMethod {
			t.Fatalf("declared method d%d became _OTHER", i)
		}
	}
}

// On the client the call carries its ServiceInfo, which says whether the
// method is declared.
func TestMethodsClientUsesServiceInfo(t *testing.T) {
	tab := rpcmodel.NewMethods(0)
	var c rpcmodel.Call
	ri := newRI("Echo", true, transport.TTHeader)
	svc := &serviceinfo.ServiceInfo{ServiceName: "EchoService", Methods: map[string]serviceinfo.MethodInfo{}}
	ri.Invocation().(rpcinfo.InvocationSetter).SetExtra(rpcinfo.InvocationServiceInfoKey, svc)
	tab.Derive(&c, rpcmodel.Client, ri, nil)
	if c.Method != rpcmodel.OtherMethod {
		t.Errorf("a method the client's ServiceInfo does not declare, limit 0: %q, want _OTHER", c.FullMethod)
	}
	svc.Methods["Echo"] = ri.Invocation().MethodInfo()
	ri2 := newRI("Echo", true, transport.TTHeader)
	ri2.Invocation().(rpcinfo.InvocationSetter).SetExtra(rpcinfo.InvocationServiceInfoKey, svc)
	tab2 := rpcmodel.NewMethods(0)
	tab2.Derive(&c, rpcmodel.Client, ri2, nil)
	if c.FullMethod != "echo.EchoService/Echo" {
		t.Errorf("a declared method: %q", c.FullMethod)
	}
}

func TestSemconvOptIn(t *testing.T) {
	for v, want := range map[string][2]bool{
		"": {true, false}, "rpc": {true, false}, "rpc/old": {false, true}, "rpc/dup": {true, true},
		"http,rpc/old": {false, true}, "rpc/old, rpc/dup": {true, true},
	} {
		if cur, old := rpcmodel.SemconvOptIn(v); cur != want[0] || old != want[1] {
			t.Errorf("SemconvOptIn(%q) = %v, %v; want %v", v, cur, old, want)
		}
	}
}

// Outcomes as Kitex means them: the transport error wins over a business
// status; a handler's plain error is handler_error on both ends of a Kitex
// transport; on gRPC a failure with a status reports the code name.
func TestDeriveKitexSemantics(t *testing.T) {
	var c rpcmodel.Call
	ri := newRI("Echo", true, transport.TTHeader)
	ri.Invocation().(rpcinfo.InvocationSetter).SetBizStatusErr(kerrors.NewBizStatusError(7, "late"))
	rpcmodel.Derive(&c, rpcmodel.Client, ri, kerrors.ErrRPCTimeout.WithCause(errors.New("1s")))
	if c.Outcome != rpcmodel.Failure || c.ErrorType != rpcmodel.ErrorTypeTimeout {
		t.Errorf("a timed-out call whose late reply carried a business status: %v %q, want failure timeout", c.Outcome, c.ErrorType)
	}

	handlerErr := kerrors.ErrBiz.WithCause(errors.New("db down")) // what Kitex's server records
	rpcmodel.Derive(&c, rpcmodel.Server, newRI("Echo", true, transport.TTHeader), handlerErr)
	if c.ErrorType != rpcmodel.ErrorTypeHandler || c.StatusCode() != rpcmodel.ErrorTypeHandler {
		t.Errorf("server, plain handler error: type %q status %q, want handler_error", c.ErrorType, c.StatusCode())
	}
	reply := kerrors.ErrRemoteOrNetwork.WithCause(remote.NewTransErrorWithMsg(remote.InternalError, "db down"))
	rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.TTHeader), reply)
	if c.ErrorType != rpcmodel.ErrorTypeHandler {
		t.Errorf("client, internal-error exception reply: type %q, want handler_error", c.ErrorType)
	}
	unknown := kerrors.ErrRemoteOrNetwork.WithCause(remote.NewTransErrorWithMsg(remote.UnknownMethod, "nope"))
	rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.TTHeader), unknown)
	if c.ErrorType != rpcmodel.ErrorTypeUnknownMethod {
		t.Errorf("client, unknown-method exception reply: type %q, want unknown_method", c.ErrorType)
	}

	rpcmodel.Derive(&c, rpcmodel.Server, newRI("Echo", true, transport.GRPC), handlerErr)
	if c.ErrorType != "INTERNAL" || c.StatusCode() != "INTERNAL" {
		t.Errorf("gRPC server, plain handler error: type %q status %q, want INTERNAL (what Kitex sends)", c.ErrorType, c.StatusCode())
	}
	rpcmodel.Derive(&c, rpcmodel.Server, newRI("Echo", true, transport.GRPC), kerrors.ErrBiz.WithCause(status.Err(codes.NotFound, "x")))
	if c.ErrorType != "NOT_FOUND" || c.StatusCode() != "NOT_FOUND" {
		t.Errorf("gRPC server, handler status NOT_FOUND: type %q status %q", c.ErrorType, c.StatusCode())
	}
	for _, code := range []codes.Code{codes.NotFound, codes.InvalidArgument, codes.AlreadyExists, codes.Internal} {
		rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.GRPC),
			kerrors.ErrRemoteOrNetwork.WithCause(status.Err(code, "app")))
		if want := status.New(code, "").Code().String(); c.ErrorType == rpcmodel.ErrorTypeRemote || c.ErrorType != c.StatusCode() {
			t.Errorf("gRPC client, peer status %v: type %q status %q (%s)", code, c.ErrorType, c.StatusCode(), want)
		}
	}
	rpcmodel.Derive(&c, rpcmodel.Client, newRI("Echo", true, transport.GRPC), kerrors.ErrRPCTimeout)
	if c.ErrorType != rpcmodel.ErrorTypeTimeout || c.StatusCode() != "DEADLINE_EXCEEDED" {
		t.Errorf("gRPC client, local timeout: type %q status %q", c.ErrorType, c.StatusCode())
	}
}

// A result struct holding a declared exception marks the call; one holding
// a success, or none, does not.
func TestMarkException(t *testing.T) {
	var c rpcmodel.Call
	ri := newRI("Echo", true, transport.TTHeader)
	rpcmodel.MarkException(ri, &echoexc.EchoServiceEchoResult{Err: &echoexc.EchoError{Reason: "x"}})
	rpcmodel.Derive(&c, rpcmodel.Server, ri, nil)
	if c.Outcome != rpcmodel.Failure || c.ErrorType != rpcmodel.ErrorTypeException || c.StatusCode() != "exception" {
		t.Errorf("declared exception: %v %q %q", c.Outcome, c.ErrorType, c.StatusCode())
	}
	ok := "fine"
	for _, res := range []any{&echoexc.EchoServiceEchoResult{Success: &ok}, &echoexc.EchoServiceEchoResult{}, nil, 42} {
		ri := newRI("Echo", true, transport.TTHeader)
		rpcmodel.MarkException(ri, res)
		rpcmodel.Derive(&c, rpcmodel.Server, ri, nil)
		if c.Outcome != rpcmodel.Success {
			t.Errorf("result %#v: outcome %v, want success", res, c.Outcome)
		}
	}
}
