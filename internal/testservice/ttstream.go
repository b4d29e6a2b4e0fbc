package testservice

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echottstream"
)

// TTStreamImpl adapts Handler to the Echo streams generated for Kitex's
// TTHeader streaming (kitex -streamx), whose handlers get the context as an
// argument.
type TTStreamImpl struct{ *Handler }

var _ echottstream.EchoService = (*TTStreamImpl)(nil)

// BidiStream echoes every message until the client closes its side.
func (t *TTStreamImpl) BidiStream(ctx context.Context, stream echottstream.EchoService_BidiStreamServer) error {
	for {
		req, err := stream.Recv(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Action == ActionError {
			return errors.New("testservice: error requested")
		}
		if err := stream.Send(ctx, &echo.EchoResponse{Message: req.Message, TraceIds: []string{t.traceID(ctx)}}); err != nil {
			return err
		}
	}
}

// ClientStream counts the messages it receives and answers once.
func (t *TTStreamImpl) ClientStream(ctx context.Context, stream echottstream.EchoService_ClientStreamServer) error {
	n := 0
	for {
		_, err := stream.Recv(ctx)
		if err == io.EOF {
			return stream.SendAndClose(ctx, &echo.EchoResponse{Message: itoa(n), TraceIds: []string{t.traceID(ctx)}})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// ServerStream sends req.Hops messages, or streams until the client cancels
// when req.Action is ActionSleep.
func (t *TTStreamImpl) ServerStream(ctx context.Context, req *echo.EchoRequest, stream echottstream.EchoService_ServerStreamServer) error {
	for i := int32(0); i < req.Hops || req.Action == ActionSleep; i++ {
		if err := stream.Send(ctx, &echo.EchoResponse{Message: req.Message, TraceIds: []string{t.traceID(ctx)}}); err != nil {
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
