package metrics_test

import (
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/internal/testservice/leakcheck"
)

func TestMain(m *testing.M) {
	klog.SetLevel(klog.LevelWarn) // Kitex logs every server start and stop at Info
	goleak.VerifyTestMain(m, leakcheck.KitexOptions()...)
}
