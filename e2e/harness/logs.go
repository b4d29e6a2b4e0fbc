package harness

import (
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logLines is how many of a server's last log lines a failed test shows.
const logLines = 200

// logRing keeps the last lines a server logged, to show when a test fails.
// It is a zapcore.WriteSyncer safe for concurrent use.
type logRing struct {
	mu    sync.Mutex
	lines []string // at most logLines, oldest first
}

// Write stores p, one entry per line, dropping the oldest beyond logLines.
func (r *logRing) Write(p []byte) (int, error) {
	text := strings.TrimRight(string(p), "\n")
	r.mu.Lock()
	defer r.mu.Unlock()
	for line := range strings.SplitSeq(text, "\n") {
		r.lines = append(r.lines, line)
	}
	if extra := len(r.lines) - logLines; extra > 0 {
		r.lines = append(r.lines[:0], r.lines[extra:]...)
	}
	return len(p), nil
}

// Sync does nothing: lines are stored as they are written.
func (r *logRing) Sync() error { return nil }

// String returns the stored lines, oldest first.
func (r *logRing) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// logger returns a zap logger at info level writing to r.
func (r *logRing) logger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, r, zap.InfoLevel))
}

// dumpOnFailure makes tb show the last lines of r, under title, if the test
// has failed by the time its cleanups run.
func dumpOnFailure(tb testing.TB, title string, r *logRing) {
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("%s log, last %d lines at most:\n%s", title, logLines, r)
		}
	})
}
