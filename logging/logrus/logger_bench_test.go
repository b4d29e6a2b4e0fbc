package kitexlogrus_test

import (
	"context"
	"io"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"

	kitexlogrus "github.com/kitexsuite/suite/logging/logrus"
)

// BenchmarkLog measures CtxInfof enabled (JSON to io.Discard) and disabled
// (level Warn), with and without a span in the context.
func BenchmarkLog(b *testing.B) {
	spanned, span, _ := spanCtx(b)
	defer span.End()
	for _, enabled := range []bool{true, false} {
		for _, withSpan := range []bool{true, false} {
			name := "disabled"
			if enabled {
				name = "enabled"
			}
			if withSpan {
				name += "/span"
			} else {
				name += "/nospan"
			}
			b.Run(name, func(b *testing.B) {
				l := kitexlogrus.NewLogger()
				l.SetOutput(io.Discard)
				if !enabled {
					l.SetLevel(klog.LevelWarn)
				}
				ctx := context.Background()
				if withSpan {
					ctx = spanned
				}
				b.ReportAllocs()
				for b.Loop() {
					l.CtxInfof(ctx, "request %d from %s", 42, "client")
				}
			})
		}
	}
}
