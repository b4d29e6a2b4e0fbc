package testservice

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"
)

var errRequested = errors.New("testservice: error requested")

// The stream handlers of every codec share this logic; each codec adapts its
// generated stream types to these function values.

// bidi echoes every message until the client closes its side.
func (h *Handler) bidi(ctx context.Context, recv func() (*Request, error), send func(*Response) error) error {
	for {
		req, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Action == ActionError {
			return errRequested
		}
		if err := send(&Response{Message: req.Message, TraceIDs: []string{h.traceID(ctx)}}); err != nil {
			return err
		}
	}
}

// collect counts the messages it receives and answers once with the count.
func (h *Handler) collect(ctx context.Context, recv func() error, sendAndClose func(*Response) error) error {
	n := 0
	for {
		err := recv()
		if err == io.EOF {
			return sendAndClose(&Response{Message: strconv.Itoa(n), TraceIDs: []string{h.traceID(ctx)}})
		}
		if err != nil {
			return err
		}
		n++
	}
}

// emit sends req.Hops messages, or streams until the client cancels when
// req.Action is ActionSleep.
func (h *Handler) emit(ctx context.Context, req *Request, send func(*Response) error) error {
	for i := int32(0); i < req.Hops || req.Action == ActionSleep; i++ {
		if err := send(&Response{Message: req.Message, TraceIDs: []string{h.traceID(ctx)}}); err != nil {
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
