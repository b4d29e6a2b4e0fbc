package tracing_test

import (
	"os"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
)

func TestMain(m *testing.M) {
	// Kitex logs every server start and stop at Info; keep test output readable.
	klog.SetLevel(klog.LevelWarn)
	os.Exit(m.Run())
}
