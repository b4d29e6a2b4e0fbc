package logging_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitexsuite/suite/logging"
)

// BenchmarkLog: one CtxInfof per op, enabled or below the level, with or
// without a span in the context, beside plain slog and Kitex's own default
// logger doing the same.
func BenchmarkLog(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	spanCtx, span := tp.Tracer("bench").Start(context.Background(), "op")
	defer span.End()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"span", spanCtx}, {"nospan", context.Background()}} {
		for _, enabled := range []bool{true, false} {
			level := klog.LevelInfo
			if !enabled {
				level = klog.LevelWarn
			}
			state := map[bool]string{true: "enabled", false: "disabled"}[enabled]
			b.Run("kitexsuite_slog/"+state+"/"+c.name, func(b *testing.B) {
				l := logging.NewLogger(logging.WithLevel(level))
				l.SetOutput(io.Discard)
				b.ReportAllocs()
				for b.Loop() {
					l.CtxInfof(c.ctx, "order %d accepted", 42)
				}
			})
			b.Run("plain_slog/"+state+"/"+c.name, func(b *testing.B) {
				lv := slog.LevelInfo
				if !enabled {
					lv = slog.LevelWarn
				}
				l := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: lv}))
				b.ReportAllocs()
				for b.Loop() {
					l.InfoContext(c.ctx, "order accepted", "n", 42)
				}
			})
			b.Run("kitex_default_klog/"+state+"/"+c.name, func(b *testing.B) {
				l := klog.DefaultLogger()
				l.SetOutput(io.Discard)
				l.SetLevel(level)
				defer l.SetLevel(klog.LevelTrace)
				b.ReportAllocs()
				for b.Loop() {
					l.CtxInfof(c.ctx, "order %d accepted", 42)
				}
			})
		}
	}
}
