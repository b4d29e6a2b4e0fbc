package otelsetup_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: exporter
// connections, batch processors and receivers must all be shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// envOf injects m as the environment, so tests never touch the process
// environment and can run in parallel.
func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}
