package e2e

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/cloudwego/kitex/pkg/klog"
)

// Kitex's logger is a process global that klog.SetLogger writes without
// synchronisation, and Kitex reads it from netpoll's goroutines, including
// those of servers and connections a previous test is still closing. So
// the package installs one logger, once, before any server starts
// (TestMain), and a test that wants its own adapter switches what that
// logger forwards to, atomically: useLogger.
type switchLogger struct {
	cur atomic.Pointer[klog.FullLogger]
}

var kitexLogger = &switchLogger{}

// installKitexLogger makes kitexLogger Kitex's logger, forwarding to the
// logger Kitex had.
func installKitexLogger() {
	l := klog.DefaultLogger()
	kitexLogger.cur.Store(&l)
	klog.SetLogger(kitexLogger)
}

// useLogger forwards Kitex's logging to l until the test ends.
func useLogger(t *testing.T, l klog.FullLogger) {
	t.Helper()
	prev := kitexLogger.cur.Swap(&l)
	t.Cleanup(func() { kitexLogger.cur.Store(prev) })
}

func (s *switchLogger) l() klog.FullLogger { return *s.cur.Load() }

func (s *switchLogger) Trace(v ...any)             { s.l().Trace(v...) }
func (s *switchLogger) Debug(v ...any)             { s.l().Debug(v...) }
func (s *switchLogger) Info(v ...any)              { s.l().Info(v...) }
func (s *switchLogger) Notice(v ...any)            { s.l().Notice(v...) }
func (s *switchLogger) Warn(v ...any)              { s.l().Warn(v...) }
func (s *switchLogger) Error(v ...any)             { s.l().Error(v...) }
func (s *switchLogger) Fatal(v ...any)             { s.l().Fatal(v...) }
func (s *switchLogger) Tracef(f string, v ...any)  { s.l().Tracef(f, v...) }
func (s *switchLogger) Debugf(f string, v ...any)  { s.l().Debugf(f, v...) }
func (s *switchLogger) Infof(f string, v ...any)   { s.l().Infof(f, v...) }
func (s *switchLogger) Noticef(f string, v ...any) { s.l().Noticef(f, v...) }
func (s *switchLogger) Warnf(f string, v ...any)   { s.l().Warnf(f, v...) }
func (s *switchLogger) Errorf(f string, v ...any)  { s.l().Errorf(f, v...) }
func (s *switchLogger) Fatalf(f string, v ...any)  { s.l().Fatalf(f, v...) }
func (s *switchLogger) SetLevel(lv klog.Level)     { s.l().SetLevel(lv) }
func (s *switchLogger) SetOutput(w io.Writer)      { s.l().SetOutput(w) }
func (s *switchLogger) CtxTracef(ctx context.Context, f string, v ...any) {
	s.l().CtxTracef(ctx, f, v...)
}
func (s *switchLogger) CtxDebugf(ctx context.Context, f string, v ...any) {
	s.l().CtxDebugf(ctx, f, v...)
}
func (s *switchLogger) CtxInfof(ctx context.Context, f string, v ...any) {
	s.l().CtxInfof(ctx, f, v...)
}
func (s *switchLogger) CtxNoticef(ctx context.Context, f string, v ...any) {
	s.l().CtxNoticef(ctx, f, v...)
}
func (s *switchLogger) CtxWarnf(ctx context.Context, f string, v ...any) {
	s.l().CtxWarnf(ctx, f, v...)
}
func (s *switchLogger) CtxErrorf(ctx context.Context, f string, v ...any) {
	s.l().CtxErrorf(ctx, f, v...)
}
func (s *switchLogger) CtxFatalf(ctx context.Context, f string, v ...any) {
	s.l().CtxFatalf(ctx, f, v...)
}
