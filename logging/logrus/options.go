package kitexlogrus

import (
	"os"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/sirupsen/logrus"
	"go.opentelemetry.io/otel/log"

	"github.com/kitexsuite/suite/logging"
)

// Option configures a Logger.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	logger         *logrus.Logger // nil: one of the Logger's own
	level          klog.Level
	names          logging.FieldNames
	errorMarksSpan bool
	loggerProvider log.LoggerProvider
	exit           func(code int)
}

func newConfig(opts []Option) *config {
	c := &config{level: klog.LevelInfo, names: logging.DefaultFieldNames, exit: os.Exit}
	for _, o := range opts {
		o.apply(c)
	}
	return c
}

// WithLogger logs through lg: its formatter, hooks, output and level (which
// applies after the Logger's) stay the caller's. Without it the Logger
// writes JSON to standard error, or to what SetOutput gives it; with it,
// SetOutput has no effect and SetLevel does not touch lg. A nil lg is
// ignored.
func WithLogger(lg *logrus.Logger) Option {
	return optionFunc(func(c *config) {
		if lg != nil {
			c.logger = lg
		}
	})
}

// WithLevel sets the starting level (default klog.LevelInfo); SetLevel
// changes it. The same option, with klog levels, exists in every adapter.
func WithLevel(l klog.Level) Option {
	return optionFunc(func(c *config) { c.level = l })
}

// WithFieldNames renames the trace correlation fields; empty names keep the
// default.
func WithFieldNames(n logging.FieldNames) Option {
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
