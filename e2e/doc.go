// Package e2e holds the tests that need more than one kitexsuite module, or
// real servers the harness starts: here, tracing and metrics on the same
// Kitex calls, checking the signals agree (metrics exact whatever the
// sampler says, exemplars pointing at the spans tracing produced).
package e2e
