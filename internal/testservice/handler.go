package testservice

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/pkg/kerrors"
)

// Actions a request can ask the handler to take instead of echoing.
const (
	ActionBizError = "biz_error" // return a business status error: BizCode, "not found", one extra
	ActionPanic    = "panic"     // panic in the handler
	ActionError    = "error"     // return a plain error
	ActionSleep    = "sleep"     // sleep SleepMs before answering
)

// BizCode is the business status code ActionBizError returns, with the
// extra BizExtraKey: BizExtraValue.
const (
	BizCode       = 404
	BizExtraKey   = "reason"
	BizExtraValue = "test"
)

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
		resp.TraceIDs = []string{h.traceID(ctx)}
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
		return nil, kerrors.NewBizStatusErrorWithExtra(BizCode, "not found", map[string]string{BizExtraKey: BizExtraValue})
	case ActionPanic:
		panic("testservice: panic requested")
	case ActionError:
		return nil, errRequested
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
