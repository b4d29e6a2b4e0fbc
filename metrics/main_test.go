package metrics_test

import (
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice"
)

func TestMain(m *testing.M) {
	klog.SetLevel(klog.LevelWarn) // Kitex logs every server start and stop at Info
	var opts []goleak.Option
	for _, fn := range testservice.KitexBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	for _, fn := range testservice.KitexBackgroundStacks {
		opts = append(opts, goleak.IgnoreAnyFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}
