package otelsetup

import (
	"strconv"
	"strings"
	"time"
)

// envSource reads OTEL_* variables through the lookup injected with WithEnv
// (os.Getenv by default). Every variable New honours goes through it, never
// through os.Getenv directly, so tests can configure a Setup without touching
// the process environment.
type envSource struct {
	lookup func(string) string
}

// get returns the trimmed value of name. Values pasted into YAML or shell
// files often carry stray whitespace, which the spec says to ignore.
func (e envSource) get(name string) string {
	return strings.TrimSpace(e.lookup(name))
}

// first returns the first of names that has a non-empty value, with that
// name. Callers list the signal-specific variable (..._TRACES_...) first
// because the spec gives it precedence over the generic one.
func (e envSource) first(names ...string) (name, value string) {
	for _, n := range names {
		if v := e.get(n); v != "" {
			return n, v
		}
	}
	return "", ""
}

// parseBool accepts only "true" and "false" (any case). The spec treats every
// other value as false with a warning; we reject it instead so that "1" or
// "yes" does not silently mean false.
func parseBool(name, value string) (bool, error) {
	switch strings.ToLower(value) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &ConfigError{Var: name, Value: value, Reason: `want "true" or "false"`}
}

// parseMillis parses a non-negative integer number of milliseconds, the unit
// the spec uses for every OTEL_* duration.
func parseMillis(name, value string) (time.Duration, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 {
		return 0, &ConfigError{
			Var: name, Value: value,
			Reason: "want a non-negative integer number of milliseconds", Err: err,
		}
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parsePositiveInt parses an integer greater than zero (queue and batch sizes).
func parsePositiveInt(name, value string) (int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n <= 0 {
		return 0, &ConfigError{Var: name, Value: value, Reason: "want a positive integer", Err: err}
	}
	return n, nil
}
