package testservice

import (
	"context"

	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoexc"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echottstream"
)

func fromThrift(r *echo.EchoRequest) *Request {
	return &Request{Message: r.Message, Hops: r.Hops, Action: r.Action, SleepMs: r.SleepMs}
}

func toThrift(r *Response) *echo.EchoResponse {
	return &echo.EchoResponse{Message: r.Message, TraceIds: r.TraceIDs, Baggage: r.Baggage}
}

func fromProtobuf(r *echopb.EchoRequest) *Request {
	return &Request{Message: r.Message, Hops: r.Hops, Action: r.Action, SleepMs: r.SleepMs}
}

func toProtobuf(r *Response) *echopb.EchoResponse {
	return &echopb.EchoResponse{Message: r.Message, TraceIds: r.TraceIDs, Baggage: r.Baggage}
}

func thriftRequest(r *Request) *echo.EchoRequest {
	return &echo.EchoRequest{Message: r.Message, Hops: r.Hops, Action: r.Action, SleepMs: r.SleepMs}
}

func fromThriftResponse(r *echo.EchoResponse) *Response {
	return &Response{Message: r.Message, TraceIDs: r.TraceIds, Baggage: r.Baggage}
}

func protobufRequest(r *Request) *echopb.EchoRequest {
	return &echopb.EchoRequest{Message: r.Message, Hops: r.Hops, Action: r.Action, SleepMs: r.SleepMs}
}

func fromProtobufResponse(r *echopb.EchoResponse) *Response {
	return &Response{Message: r.Message, TraceIDs: r.TraceIds, Baggage: r.Baggage}
}

// ThriftImpl adapts Handler to the generated Thrift service (unary, and
// streams over gRPC).
type ThriftImpl struct{ *Handler }

var _ echo.EchoService = (*ThriftImpl)(nil)

// Echo implements echo.EchoService.
func (t *ThriftImpl) Echo(ctx context.Context, req *echo.EchoRequest) (*echo.EchoResponse, error) {
	r, err := t.Handler.Echo(ctx, fromThrift(req))
	if err != nil {
		return nil, err
	}
	return toThrift(r), nil
}

// BidiStream echoes every message until the client closes its side.
func (t *ThriftImpl) BidiStream(st echo.EchoService_BidiStreamServer) error {
	recv := func() (*Request, error) {
		r, err := st.Recv()
		if err != nil {
			return nil, err
		}
		return fromThrift(r), nil
	}
	return t.bidi(st.Context(), recv, func(r *Response) error { return st.Send(toThrift(r)) })
}

// ClientStream counts the messages it receives and answers once.
func (t *ThriftImpl) ClientStream(st echo.EchoService_ClientStreamServer) error {
	recv := func() error { _, err := st.Recv(); return err }
	return t.collect(st.Context(), recv, func(r *Response) error { return st.SendAndClose(toThrift(r)) })
}

// ServerStream sends req.Hops messages (or until cancelled, for ActionSleep).
func (t *ThriftImpl) ServerStream(req *echo.EchoRequest, st echo.EchoService_ServerStreamServer) error {
	return t.emit(st.Context(), fromThrift(req), func(r *Response) error { return st.Send(toThrift(r)) })
}

// ProtobufImpl adapts Handler to the generated Protobuf services.
type ProtobufImpl struct{ *Handler }

var (
	_ echopb.EchoService   = (*ProtobufImpl)(nil)
	_ echopb.StreamService = (*ProtobufImpl)(nil)
)

// Echo implements echopb.EchoService.
func (p *ProtobufImpl) Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	r, err := p.Handler.Echo(ctx, fromProtobuf(req))
	if err != nil {
		return nil, err
	}
	return toProtobuf(r), nil
}

// BidiStream echoes every message until the client closes its side.
func (p *ProtobufImpl) BidiStream(st echopb.StreamService_BidiStreamServer) error {
	recv := func() (*Request, error) {
		r, err := st.Recv()
		if err != nil {
			return nil, err
		}
		return fromProtobuf(r), nil
	}
	return p.bidi(st.Context(), recv, func(r *Response) error { return st.Send(toProtobuf(r)) })
}

// ClientStream counts the messages it receives and answers once.
func (p *ProtobufImpl) ClientStream(st echopb.StreamService_ClientStreamServer) error {
	recv := func() error { _, err := st.Recv(); return err }
	return p.collect(st.Context(), recv, func(r *Response) error { return st.SendAndClose(toProtobuf(r)) })
}

// ServerStream sends req.Hops messages (or until cancelled, for ActionSleep).
func (p *ProtobufImpl) ServerStream(req *echopb.EchoRequest, st echopb.StreamService_ServerStreamServer) error {
	return p.emit(st.Context(), fromProtobuf(req), func(r *Response) error { return st.Send(toProtobuf(r)) })
}

// TTStreamImpl adapts Handler to the streams generated for Kitex's TTHeader
// streaming (kitex -streamx), whose handlers get the context as an argument.
type TTStreamImpl struct{ *Handler }

var _ echottstream.EchoService = (*TTStreamImpl)(nil)

// BidiStream echoes every message until the client closes its side.
func (t *TTStreamImpl) BidiStream(ctx context.Context, st echottstream.EchoService_BidiStreamServer) error {
	recv := func() (*Request, error) {
		r, err := st.Recv(ctx)
		if err != nil {
			return nil, err
		}
		return fromThrift(r), nil
	}
	return t.bidi(ctx, recv, func(r *Response) error { return st.Send(ctx, toThrift(r)) })
}

// ClientStream counts the messages it receives and answers once.
func (t *TTStreamImpl) ClientStream(ctx context.Context, st echottstream.EchoService_ClientStreamServer) error {
	recv := func() error { _, err := st.Recv(ctx); return err }
	return t.collect(ctx, recv, func(r *Response) error { return st.SendAndClose(ctx, toThrift(r)) })
}

// ServerStream sends req.Hops messages (or until cancelled, for ActionSleep).
func (t *TTStreamImpl) ServerStream(ctx context.Context, req *echo.EchoRequest, st echottstream.EchoService_ServerStreamServer) error {
	return t.emit(ctx, fromThrift(req), func(r *Response) error { return st.Send(ctx, toThrift(r)) })
}

// ExceptionFail is the message ExceptionImpl answers with its declared
// exception, an echoexc.EchoError with Reason "declared".
const ExceptionFail = "fail"

// ExceptionImpl is the echoexc service: it echoes the message, or returns
// the exception its IDL declares for ExceptionFail.
type ExceptionImpl struct{}

// Echo implements echoexc.EchoService.
func (*ExceptionImpl) Echo(_ context.Context, message string) (string, error) {
	if message == ExceptionFail {
		return "", &echoexc.EchoError{Reason: "declared"}
	}
	return message, nil
}
