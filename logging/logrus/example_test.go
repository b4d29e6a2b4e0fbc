package kitexlogrus_test

import (
	"context"
	"os"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/trace"

	kitexlogrus "github.com/kitexsuite/suite/logging/logrus"
)

// A handler's log line carries the ids of the call's span. The logrus.Logger
// here is the program's own, with the package's formatter (timestamps off,
// for a stable output); without WithLogger the Logger writes the same JSON,
// with the time, to standard error.
func Example() {
	lg := logrus.New()
	lg.SetOutput(os.Stdout)
	lg.SetFormatter(kitexlogrus.NewFormatter(&logrus.JSONFormatter{DisableTimestamp: true}))
	l := kitexlogrus.NewLogger(kitexlogrus.WithLogger(lg))

	// In a Kitex handler, ctx carries the server span; here one is made up.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	l.With(logrus.Fields{"service": "orders"}).CtxNoticef(ctx, "order %d placed", 42)
	l.Infof("no span, no trace fields")
	// Output:
	// {"level":"NOTICE","msg":"order 42 placed","service":"orders","span_id":"00f067aa0ba902b7","trace_flags":"01","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
	// {"level":"INFO","msg":"no span, no trace fields"}
}

// Installing the Logger as Kitex's logger.
func ExampleNewLogger() {
	klog.SetLogger(kitexlogrus.NewLogger(kitexlogrus.WithLevel(klog.LevelInfo)))
	klog.SetLevel(klog.LevelWarn)
}
