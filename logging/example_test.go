package logging_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/cloudwego/kitex/pkg/klog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/logging"
)

// A Logger writing text to standard output; a Ctx call under a span carries
// its ids. (klog.SetLogger(l) would make it Kitex's own logger.)
func Example() {
	dropTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{} // keep the example's output stable
		}
		return a
	}
	l := logging.NewLogger(logging.WithHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: dropTime})),
		logging.WithLevel(klog.LevelInfo))

	tp := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(fixedIDs{}))
	ctx, span := tp.Tracer("example").Start(context.Background(), "handle")
	l.CtxInfof(ctx, "order %d accepted", 42)
	l.CtxDebugf(ctx, "below the level: not formatted, not written")
	span.End()
	l.Infof("no span, no ids")
	// Output:
	// level=INFO msg="order 42 accepted" trace_id=0102030405060708090a0b0c0d0e0f10 span_id=0102030405060708 trace_flags=01
	// level=INFO msg="no span, no ids"
}

// fixedIDs makes the example's ids predictable.
type fixedIDs struct{}

func (fixedIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	return trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
}

func (fixedIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	return trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
}
