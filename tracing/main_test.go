package tracing_test

import (
	"os"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice/leakcheck"
)

func TestMain(m *testing.M) {
	if os.Getenv(gracefulServerEnv) != "" {
		klog.SetLevel(klog.LevelWarn)
		os.Exit(runGracefulServer())
	}
	// Kitex logs every server start and stop at Info; keep test output readable.
	klog.SetLevel(klog.LevelWarn)
	goleak.VerifyTestMain(m, leakcheck.KitexOptions()...)
}
