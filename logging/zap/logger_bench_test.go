package kitexzap_test

import (
	"context"
	"io"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"

	kitexzap "github.com/kitexsuite/suite/logging/zap"
)

// BenchmarkLog measures CtxInfof to the default JSON output (io.Discard),
// enabled and below the level, with and without a span in the context.
func BenchmarkLog(b *testing.B) {
	spanned, span, _ := spanCtx(b)
	defer span.End()
	for _, level := range []struct {
		name  string
		level klog.Level
	}{{"enabled", klog.LevelInfo}, {"disabled", klog.LevelWarn}} {
		for _, c := range []struct {
			name string
			ctx  context.Context
		}{{"span", spanned}, {"nospan", context.Background()}} {
			b.Run(level.name+"/"+c.name, func(b *testing.B) {
				l := kitexzap.NewLogger(kitexzap.WithLevel(level.level))
				l.SetOutput(io.Discard)
				b.ReportAllocs()
				for b.Loop() {
					l.CtxInfof(c.ctx, "request %d done in %s", 42, "1ms")
				}
			})
		}
	}
}
