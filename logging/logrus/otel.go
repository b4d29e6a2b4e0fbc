package kitexlogrus

import (
	"context"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/contrib/bridges/otellogrus"
	"go.opentelemetry.io/otel/log"

	"github.com/kitexsuite/suite/logging/internal/otelseverity"
)

// otellogrus sets a record's severity from the logrus level, which cannot
// tell klog's Notice from Info, and its severity text is logrus's level
// name. The Logger hands otellogrus otelseverity.Provider and puts
// otelseverity.WithLevel in the entry's Context (which otellogrus emits
// with): the records are the ones the slog adapter exports.

// otelOutput sends records to a LoggerProvider through the otellogrus
// bridge; logger, the provider's logger of the same scope, answers Enabled
// before the message is built.
type otelOutput struct {
	hook   *otellogrus.Hook
	logger log.Logger
}

func newOTelOutput(lp log.LoggerProvider) *otelOutput {
	return &otelOutput{
		hook:   otellogrus.NewHook(ScopeName, otellogrus.WithLoggerProvider(otelseverity.Provider(lp))),
		logger: lp.Logger(ScopeName),
	}
}

func (o *otelOutput) enabled(ctx context.Context, lv klog.Level) bool {
	sev, _ := otelseverity.Severity(lv)
	return o.logger.Enabled(ctx, log.EnabledParameters{Severity: sev})
}
