package kitexzap_test

import (
	"context"
	"fmt"
	"os"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	kitexzap "github.com/kitexsuite/suite/logging/zap"
)

func Example() {
	// In a program: klog.SetLogger(kitexzap.NewLogger()), JSON to stderr.
	// Here: the same encoder without the time, to stdout, so that the
	// output is the same on every run.
	cfg := kitexzap.NewEncoderConfig()
	cfg.TimeKey = ""
	core := zapcore.NewCore(zapcore.NewJSONEncoder(cfg), zapcore.AddSync(os.Stdout), kitexzap.LevelTrace)
	l := kitexzap.NewLogger(
		kitexzap.WithCore(core),
		kitexzap.WithLevel(klog.LevelDebug),
		kitexzap.WithExitFunc(func(code int) { fmt.Println("exit", code) }),
	)

	// The span of the call, as a tracing Suite puts it in the context.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	l.CtxInfof(ctx, "order %d accepted", 42)
	l.With(zap.String("service", "orders")).CtxWarnf(ctx, "slow")
	l.Tracef("below the level: not written")
	l.Fatal("cannot go on")
	// Output:
	// {"level":"INFO","msg":"order 42 accepted","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}
	// {"level":"WARN","msg":"slow","service":"orders","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01"}
	// {"level":"FATAL","msg":"cannot go on"}
	// exit 1
}
