package bench

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitexsuite/suite/logging"
	kitexlogrus "github.com/kitexsuite/suite/logging/logrus"
	kitexzap "github.com/kitexsuite/suite/logging/zap"
)

// loggers are what BenchmarkLog compares: the three kitexsuite adapters and
// Kitex's own default logger (which adds no trace fields). Each returns a
// call through its concrete type, as an application holding the adapter
// makes it; through klog's package functions (an interface call) the
// variadic arguments escape at the call site whatever the logger, which
// costs one 16-byte allocation before the logger is reached.
// kitex-contrib's obs-opentelemetry logging adapters are not served by the
// module proxy this project builds from, so they are not in the run.
var loggers = []struct {
	name string
	make func(level klog.Level, out io.Writer) func(ctx context.Context)
}{
	{"kitexsuite_slog", func(level klog.Level, out io.Writer) func(ctx context.Context) {
		l := logging.NewLogger(logging.WithLevel(level))
		l.SetOutput(out)
		return func(ctx context.Context) { l.CtxInfof(ctx, "order %d accepted", 42) }
	}},
	{"kitexsuite_zap", func(level klog.Level, out io.Writer) func(ctx context.Context) {
		l := kitexzap.NewLogger(kitexzap.WithLevel(level))
		l.SetOutput(out)
		return func(ctx context.Context) { l.CtxInfof(ctx, "order %d accepted", 42) }
	}},
	{"kitexsuite_logrus", func(level klog.Level, out io.Writer) func(ctx context.Context) {
		l := kitexlogrus.NewLogger(kitexlogrus.WithLevel(level))
		l.SetOutput(out)
		return func(ctx context.Context) { l.CtxInfof(ctx, "order %d accepted", 42) }
	}},
	{"kitex_default", func(level klog.Level, out io.Writer) func(ctx context.Context) {
		l := klog.DefaultLogger() // an interface: klog exports no concrete type
		l.SetLevel(level)
		l.SetOutput(out)
		return func(ctx context.Context) { l.CtxInfof(ctx, "order %d accepted", 42) }
	}},
}

// BenchmarkLog measures one CtxInfof per op, with the level enabled and
// disabled, with and without a span in the context, writing JSON (or
// Kitex's text) to io.Discard.
func BenchmarkLog(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	spanCtx, span := tp.Tracer("bench").Start(context.Background(), "op")
	defer span.End()
	defer func() { // the default logger is a global: restore what TestMain set
		klog.DefaultLogger().SetLevel(klog.LevelWarn)
		klog.DefaultLogger().SetOutput(os.Stderr)
	}()
	for _, lg := range loggers {
		for _, enabled := range []bool{true, false} {
			level, state := klog.LevelInfo, "enabled"
			if !enabled {
				level, state = klog.LevelWarn, "disabled"
			}
			for _, c := range []struct {
				name string
				ctx  context.Context
			}{{"span", spanCtx}, {"nospan", context.Background()}} {
				b.Run(lg.name+"/"+state+"/"+c.name, func(b *testing.B) {
					log := lg.make(level, io.Discard)
					b.ReportAllocs()
					for b.Loop() {
						log(c.ctx)
					}
				})
			}
		}
	}
}
