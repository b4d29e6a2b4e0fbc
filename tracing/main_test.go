package tracing_test

import (
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice"
)

func TestMain(m *testing.M) {
	// Kitex logs every server start and stop at Info; keep test output readable.
	klog.SetLevel(klog.LevelWarn)
	var opts []goleak.Option
	for _, fn := range testservice.KitexBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	for _, fn := range testservice.KitexBackgroundStacks {
		opts = append(opts, goleak.IgnoreAnyFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}
