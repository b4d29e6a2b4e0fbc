package e2e

// The grpc-go side of the gRPC interop chain (interop_grpc_test.go): the
// echopb.EchoService that protoc-gen-go-grpc would generate, written by
// hand over the Kitex-generated messages.

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb"
)

// echoFullMethod is the gRPC path of echopb.EchoService/Echo, the method
// every hop of the interop chain serves or calls.
const echoFullMethod = "/echopb.EchoService/Echo"

// actionNotFound makes the grpc-go server answer with a NOT_FOUND status;
// the Kitex hop forwards the action untouched.
const actionNotFound = "grpc_not_found"

// prutalCodec lets grpc-go carry the Kitex-generated echopb messages, which
// marshal themselves with prutal: grpc-go has no generated code here. Its
// name is "proto", the content subtype a Kitex gRPC peer expects.
type prutalCodec struct{}

type prutalMessage interface {
	Marshal(in []byte) ([]byte, error)
	Unmarshal(in []byte) error
}

func (prutalCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(prutalMessage)
	if !ok {
		return nil, fmt.Errorf("prutalCodec: %T is not a prutal message", v)
	}
	return m.Marshal(nil)
}

func (prutalCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(prutalMessage)
	if !ok {
		return fmt.Errorf("prutalCodec: %T is not a prutal message", v)
	}
	return m.Unmarshal(data)
}

func (prutalCodec) Name() string { return "proto" }

// echoServiceDesc is what protoc-gen-go-grpc would generate for
// echopb.EchoService, written by hand.
var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: "echopb.EchoService",
	HandlerType: (*echopb.EchoService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			req := new(echopb.EchoRequest)
			if err := dec(req); err != nil {
				return nil, err
			}
			echo := func(ctx context.Context, req any) (any, error) {
				return srv.(echopb.EchoService).Echo(ctx, req.(*echopb.EchoRequest))
			}
			if interceptor == nil {
				return echo(ctx, req)
			}
			return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: echoFullMethod}, echo)
		},
	}},
	Metadata: "echo.proto",
}

// grpcEcho is the grpc-go server's echopb.EchoService: the test service's
// handler (reporting the trace id and baggage it sees), or a NOT_FOUND
// status when asked.
type grpcEcho struct{ impl *testservice.ProtobufImpl }

func (g grpcEcho) Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	if req.Action == actionNotFound {
		return nil, status.Error(codes.NotFound, "no such echo")
	}
	return g.impl.Echo(ctx, req)
}

// rpcEnds is a grpc-go stats handler sending a token on every stats.End.
// grpc-go calls its stats handlers in order, so installed after otelgrpc's
// it fires once otelgrpc has ended its span and recorded its duration.
type rpcEnds chan struct{}

func (rpcEnds) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (rpcEnds) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (rpcEnds) HandleConn(context.Context, stats.ConnStats)                       {}
func (e rpcEnds) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.End); ok {
		e <- struct{}{}
	}
}
