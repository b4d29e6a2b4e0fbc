package testservice

import (
	"context"
	"fmt"
	"time"
)

// FinishSignal is a Kitex stats.Tracer that sends a token each time a call
// finishes. Installed before the Suites under test, it finishes after them
// (Kitex finishes tracers in reverse order), so a token means they have
// recorded the call: tests wait on it instead of sleeping, since a Kitex
// server records after it has replied.
type FinishSignal chan struct{}

// NewFinishSignal returns a FinishSignal buffering up to n tokens.
func NewFinishSignal(n int) FinishSignal { return make(FinishSignal, n) }

// Start implements stats.Tracer.
func (f FinishSignal) Start(ctx context.Context) context.Context { return ctx }

// Finish implements stats.Tracer.
func (f FinishSignal) Finish(context.Context) { f <- struct{}{} }

// Wait waits for n tokens, or fails after timeout.
func (f FinishSignal) Wait(n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for i := 0; i < n; i++ {
		select {
		case <-f:
		case <-deadline:
			return fmt.Errorf("only %d of %d calls finished within %v", i, n, timeout)
		}
	}
	return nil
}
