package logging

import (
	"log/slog"
	"os"

	"github.com/cloudwego/kitex/pkg/klog"

	"go.opentelemetry.io/otel/log"
)

// Option configures a Logger.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	handler        slog.Handler // nil: JSON to the output
	level          slog.Level
	names          FieldNames
	errorMarksSpan bool
	loggerProvider log.LoggerProvider
	exit           func(code int)
}

func newConfig(opts []Option) *config {
	c := &config{level: slog.LevelInfo, names: DefaultFieldNames, exit: os.Exit}
	for _, o := range opts {
		o.apply(c)
	}
	return c
}

// WithHandler logs through h (its own level still applies, after the
// Logger's). Without it the Logger writes JSON to standard error, or to what
// SetOutput gives it; with it, SetOutput has no effect.
func WithHandler(h slog.Handler) Option {
	return optionFunc(func(c *config) { c.handler = h })
}

// WithLevel sets the starting level (default klog.LevelInfo); SetLevel
// changes it. The same option, with klog levels, exists in every adapter.
func WithLevel(l klog.Level) Option {
	return optionFunc(func(c *config) { c.level = SlogLevel(l) })
}

// WithFieldNames renames the trace correlation fields; empty names keep the
// default.
func WithFieldNames(n FieldNames) Option {
	return optionFunc(func(c *config) {
		c.names = c.names.Override(n)
	})
}

// WithErrorMarksSpan makes Error and Fatal logs through the Ctx methods set
// the status of the span in the context to Error. Off by default.
func WithErrorMarksSpan() Option {
	return optionFunc(func(c *config) { c.errorMarksSpan = true })
}

// WithLoggerProvider also sends every record to an OpenTelemetry
// LoggerProvider, with the trace context of the call attached.
func WithLoggerProvider(lp log.LoggerProvider) Option {
	return optionFunc(func(c *config) { c.loggerProvider = lp })
}

// WithExitFunc replaces os.Exit as what Fatal calls after logging.
func WithExitFunc(exit func(code int)) Option {
	return optionFunc(func(c *config) {
		if exit != nil {
			c.exit = exit
		}
	})
}
