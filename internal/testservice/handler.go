package testservice

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cloudwego/kitex/pkg/kerrors"

	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb"
)

// Actions a request can ask the handler to take instead of echoing.
const (
	ActionBizError = "biz_error" // return kerrors.NewBizStatusError(BizCode, "not found")
	ActionPanic    = "panic"     // panic in the handler
	ActionError    = "error"     // return a plain error
	ActionSleep    = "sleep"     // sleep SleepMs before answering
)

// BizCode is the business status code ActionBizError returns.
const BizCode = 404

// Forward sends a request one hop further and returns what the next hops saw.
type Forward func(ctx context.Context, req *Request) (*Response, error)

// Request and Response are the codec-neutral shapes of the Echo messages, so
// a Thrift hop can forward to a Protobuf hop and back.
type Request struct {
	Message string
	Hops    int32
	Action  string
	SleepMs int64
}

// Response is what Echo returns: the trace id seen by each hop's server,
// outermost first, and the baggage the last hop saw.
type Response struct {
	Message  string
	TraceIDs []string
	Baggage  map[string]string
}

// Handler is the service logic shared by the Thrift and Protobuf servers.
type Handler struct {
	// Next forwards to the next hop while Request.Hops > 0; nil ends the chain.
	Next Forward
	// TraceID and Baggage report what the server sees in its context.
	TraceID func(ctx context.Context) string
	Baggage func(ctx context.Context) map[string]string
}

// Echo runs one hop. Actions apply at the last hop, so a chain shows where
// an error started.
func (h *Handler) Echo(ctx context.Context, req *Request) (*Response, error) {
	resp := &Response{Message: req.Message}
	if h.TraceID != nil {
		resp.TraceIDs = []string{h.TraceID(ctx)}
	}
	if req.Hops > 0 && h.Next != nil {
		next, err := h.Next(ctx, &Request{Message: req.Message, Hops: req.Hops - 1, Action: req.Action, SleepMs: req.SleepMs})
		if err != nil {
			return nil, err
		}
		resp.TraceIDs = append(resp.TraceIDs, next.TraceIDs...)
		resp.Baggage = next.Baggage
		return resp, nil
	}
	switch req.Action {
	case ActionBizError:
		return nil, kerrors.NewBizStatusError(BizCode, "not found")
	case ActionPanic:
		panic("testservice: panic requested")
	case ActionError:
		return nil, errors.New("testservice: error requested")
	case ActionSleep:
		select {
		case <-time.After(time.Duration(req.SleepMs) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if h.Baggage != nil {
		resp.Baggage = h.Baggage(ctx)
	}
	return resp, nil
}

func (h *Handler) traceID(ctx context.Context) string {
	if h.TraceID == nil {
		return ""
	}
	return h.TraceID(ctx)
}

// ThriftImpl adapts Handler to the generated Thrift service interface.
type ThriftImpl struct{ *Handler }

var _ echo.EchoService = (*ThriftImpl)(nil)

// Echo implements echo.EchoService.
func (t *ThriftImpl) Echo(ctx context.Context, req *echo.EchoRequest) (*echo.EchoResponse, error) {
	r, err := t.Handler.Echo(ctx, &Request{Message: req.Message, Hops: req.Hops, Action: req.Action, SleepMs: req.SleepMs})
	if err != nil {
		return nil, err
	}
	return &echo.EchoResponse{Message: r.Message, TraceIds: r.TraceIDs, Baggage: r.Baggage}, nil
}

// BidiStream echoes every message until the client closes its side.
func (t *ThriftImpl) BidiStream(stream echo.EchoService_BidiStreamServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Action == ActionError {
			return errors.New("testservice: error requested")
		}
		if err := stream.Send(&echo.EchoResponse{Message: req.Message, TraceIds: []string{t.traceID(ctx)}}); err != nil {
			return err
		}
	}
}

// ClientStream counts the messages it receives and answers once.
func (t *ThriftImpl) ClientStream(stream echo.EchoService_ClientStreamServer) error {
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&echo.EchoResponse{Message: itoa(n), TraceIds: []string{t.traceID(stream.Context())}})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// ServerStream sends req.Hops messages, or streams until the client cancels
// when req.Action is ActionSleep.
func (t *ThriftImpl) ServerStream(req *echo.EchoRequest, stream echo.EchoService_ServerStreamServer) error {
	ctx := stream.Context()
	for i := int32(0); i < req.Hops || req.Action == ActionSleep; i++ {
		if err := stream.Send(&echo.EchoResponse{Message: req.Message, TraceIds: []string{t.traceID(ctx)}}); err != nil {
			return err
		}
		if req.Action == ActionSleep {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(req.SleepMs) * time.Millisecond):
			}
		}
	}
	return nil
}

// ProtobufImpl adapts Handler to the generated Protobuf service interfaces.
type ProtobufImpl struct{ *Handler }

var (
	_ echopb.EchoService   = (*ProtobufImpl)(nil)
	_ echopb.StreamService = (*ProtobufImpl)(nil)
)

// Echo implements echopb.EchoService.
func (p *ProtobufImpl) Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	r, err := p.Handler.Echo(ctx, &Request{Message: req.Message, Hops: req.Hops, Action: req.Action, SleepMs: req.SleepMs})
	if err != nil {
		return nil, err
	}
	return &echopb.EchoResponse{Message: r.Message, TraceIds: r.TraceIDs, Baggage: r.Baggage}, nil
}

// BidiStream echoes every message until the client closes its side.
func (p *ProtobufImpl) BidiStream(stream echopb.StreamService_BidiStreamServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Action == ActionError {
			return errors.New("testservice: error requested")
		}
		if err := stream.Send(&echopb.EchoResponse{Message: req.Message, TraceIds: []string{p.traceID(ctx)}}); err != nil {
			return err
		}
	}
}

// ClientStream counts the messages it receives and answers once.
func (p *ProtobufImpl) ClientStream(stream echopb.StreamService_ClientStreamServer) error {
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&echopb.EchoResponse{Message: itoa(n), TraceIds: []string{p.traceID(stream.Context())}})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// ServerStream sends req.Hops messages, or streams until the client cancels
// when req.Action is ActionSleep.
func (p *ProtobufImpl) ServerStream(req *echopb.EchoRequest, stream echopb.StreamService_ServerStreamServer) error {
	ctx := stream.Context()
	for i := int32(0); i < req.Hops || req.Action == ActionSleep; i++ {
		if err := stream.Send(&echopb.EchoResponse{Message: req.Message, TraceIds: []string{p.traceID(ctx)}}); err != nil {
			return err
		}
		if req.Action == ActionSleep {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(req.SleepMs) * time.Millisecond):
			}
		}
	}
	return nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
