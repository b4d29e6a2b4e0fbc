package kitexzap

import (
	"os"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kitexsuite/suite/logging"
)

// Option configures a Logger.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	logger         *zap.Logger  // the user's logger; nil: see core
	core           zapcore.Core // the user's core; nil with logger nil: JSON to the output
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

// WithLogger logs through zl: its core, name, caller and stack trace
// options and its own level (which applies after the Logger's) all hold.
// Its fatal hook does not: Fatal never exits through zap, it calls the exit
// function (WithExitFunc). zap's caller annotation, when zl has AddCaller,
// points at the caller of the Logger's method. With WithLogger, SetOutput
// has no effect. WithLogger and WithCore replace each other: the last one
// given holds.
func WithLogger(zl *zap.Logger) Option {
	return optionFunc(func(c *config) {
		if zl != nil {
			c.logger, c.core = zl, nil
		}
	})
}

// WithCore logs through core (its level still applies, after the
// Logger's). Without WithCore or WithLogger the Logger writes JSON to
// standard error, or to what SetOutput gives it; with either, SetOutput has
// no effect. A core of your own prints the klog Notice level as zap's info
// level (zap has no level between Info and Warn) and Trace as LevelTrace,
// which zapcore's encoders print as "LEVEL(-2)" unless the encoder config
// uses LevelEncoder (NewEncoderConfig does).
func WithCore(core zapcore.Core) Option {
	return optionFunc(func(c *config) {
		if core != nil {
			c.core, c.logger = core, nil
		}
	})
}

// WithLevel sets the starting level (default klog.LevelInfo); SetLevel
// changes it. The level is a klog level, as in every kitexsuite adapter.
func WithLevel(l klog.Level) Option {
	return optionFunc(func(c *config) { c.level = l })
}

// WithFieldNames renames the trace correlation fields; empty names keep the
// default (logging.DefaultFieldNames).
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
// LoggerProvider through the otelzap bridge, with the trace context of the
// call attached and the fields of With as attributes.
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
