package opentracing_test

import (
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice/leakcheck"
)

func TestMain(m *testing.M) {
	// Kitex logs every server start and stop at Info; keep test output readable.
	klog.SetLevel(klog.LevelWarn)
	goleak.VerifyTestMain(m, leakcheck.KitexOptions()...)
}
