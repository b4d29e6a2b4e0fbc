package otelsetup

import "fmt"

// redacted replaces values that may carry credentials (OTLP headers usually hold
// API keys) so that a ConfigError can be logged safely.
const redacted = "<redacted>"

// ConfigError reports an OTEL_* environment variable whose value New cannot
// honour.
//
// New returns it rather than logging and falling back to a default, as the
// SDK does, so that a typo in deployment configuration fails at start-up
// instead of silently changing what is sampled or where spans go. When several
// variables are wrong, New joins one ConfigError per variable (errors.Join);
// use errors.As to reach them.
type ConfigError struct {
	// Var is the environment variable holding the bad value, for example
	// "OTEL_TRACES_SAMPLER".
	Var string
	// Value is the value as read. For header variables, which carry
	// credentials, it is "<redacted>".
	Value string
	// Reason says what is wrong with Value and what would be accepted.
	Reason string
	// Err is the underlying parse or I/O error, if any.
	Err error
}

// Error implements error. The message names the variable first so that it can
// be found in deployment manifests with a plain text search.
func (e *ConfigError) Error() string {
	msg := fmt.Sprintf("otelsetup: %s=%q: %s", e.Var, e.Value, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying parse or I/O error, if any.
func (e *ConfigError) Unwrap() error { return e.Err }
