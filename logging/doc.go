// Package logging adapts log/slog to Kitex's klog.FullLogger, with trace
// correlation: the Ctx* methods add the trace_id, span_id and trace_flags of
// the span in the context (nothing when there is none), so a log line of a
// handler carries the id of its call's server span.
//
//	klog.SetLogger(logging.NewLogger(logging.WithHandler(slog.NewJSONHandler(os.Stdout, nil))))
//
// The zap and logrus adapters (modules logging/zap and logging/logrus)
// behave the same: same field names by default, same level mapping, same
// Fatal, same options; the field extraction they share is TraceFields.
//
// # Levels
//
// klog levels map to slog levels: Trace -8, Debug -4, Info 0, Notice 2,
// Warn 4, Error 8, Fatal 12 (LevelTrace ... LevelFatal here). A call below
// the logger's level returns before any formatting or allocation.
//
// # With and groups
//
// With and WithGroup return Loggers whose records still get the trace
// fields: the fields are added by a handler wrapping yours, which every
// derived handler keeps (under a group, they land in the group, as any slog
// attribute does).
//
// # Fatal
//
// Fatal, Fatalf and CtxFatalf log at LevelFatal and then call the exit
// function, os.Exit(1) by default, as Kitex's own default logger does. The
// exit function is an option (WithExitFunc), so a program (or a test) that
// must not exit can say so. The adapters never exit on their own.
//
// # Optional behaviour
//
//   - WithErrorMarksSpan: an Error-level (or Fatal) log through a Ctx method
//     sets the span's status to Error with the message. Off by default: a
//     logged error is not always a failed call.
//   - WithLoggerProvider: records also go to an OpenTelemetry LoggerProvider
//     (go.opentelemetry.io/otel/log) with the trace context attached, so
//     logs travel over OTLP next to the traces.
package logging
