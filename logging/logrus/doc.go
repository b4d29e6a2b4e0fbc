// Package kitexlogrus adapts github.com/sirupsen/logrus to Kitex's
// klog.FullLogger, with trace correlation: the Ctx* methods add the
// trace_id, span_id and trace_flags of the span in the context (nothing when
// there is none), so a log line of a handler carries the id of its call's
// server span.
//
//	klog.SetLogger(kitexlogrus.NewLogger())
//
// Its import path is github.com/kitexsuite/suite/logging/logrus. It behaves
// as the log/slog adapter (github.com/kitexsuite/suite/logging) does: same
// options, same field names (logging.DefaultFieldNames, with the values of
// logging.TraceFields), same level names, same Fatal; the differences logrus
// forces are listed at the end.
//
// # Output
//
// Without WithLogger the Logger writes through a logrus.Logger of its own:
// JSON to standard error (SetOutput changes where), one object a line, with
// the keys time (RFC 3339, milliseconds), level and msg, and the level
// names TRACE, DEBUG, INFO, NOTICE, WARN, ERROR and FATAL: the lines the
// slog adapter prints, but for the order of the keys (logrus sorts them).
//
// logrus cannot rename its levels (logrus.JSONFormatter writes
// Level.String(): "info", "warning", ...) and has no Notice level, so the
// formatter (NewFormatter) wraps a logrus.JSONFormatter: it writes the klog
// name under the level key itself, as a field, and has the JSONFormatter
// write logrus's own name under a placeholder key that it then cuts from
// the line. Notice records are logged at logrus.InfoLevel with a mark in
// the entry's Context, which the formatter reads to print NOTICE. A program
// that brings its own logrus.Logger can give it NewFormatter to get the same
// lines.
//
// # Levels
//
// klog levels map to logrus levels (LogrusLevel): Trace→TraceLevel,
// Debug→DebugLevel, Info and Notice→InfoLevel, Warn→WarnLevel,
// Error→ErrorLevel, Fatal→FatalLevel. The Logger keeps its klog level
// itself and checks it first: a call below it returns before any formatting
// or allocation (so Info is dropped at level Notice although both are
// logrus's InfoLevel). SetLevel sets that level and, on the Logger's own
// logrus.Logger, the mapped logrus level.
//
// # A logrus.Logger of your own
//
// WithLogger(lg) logs through lg: its formatter, hooks, output and level
// (which applies after the Logger's) stay yours, as a handler given to the
// slog adapter's WithHandler does. SetOutput and SetLevel then leave lg
// alone: SetOutput has no effect and SetLevel changes only the Logger's own
// level check.
//
// # With
//
// With returns a Logger adding fields to every record; the trace fields are
// added at each call, so derived Loggers keep them. Derived Loggers share
// the level and the output of the Logger they come from.
//
// # Fatal
//
// Fatal, Fatalf and CtxFatalf log at logrus.FatalLevel and then call the
// exit function, os.Exit(1) by default, as Kitex's own default logger does.
// They log through logrus.Entry.Log, which never exits (the logrus.Logger's
// ExitFunc is not called), so WithExitFunc alone decides: a program (or a
// test) that must not exit can say so. The Logger never exits on its own.
//
// # Optional behaviour
//
//   - WithErrorMarksSpan: an Error-level (or Fatal) log through a Ctx method
//     sets the span's status to Error with the message. Off by default: a
//     logged error is not always a failed call.
//   - WithLoggerProvider: records also go to an OpenTelemetry LoggerProvider
//     (go.opentelemetry.io/otel/log), through the contrib otellogrus bridge,
//     with the trace context attached, so logs travel over OTLP next to the
//     traces. The With fields become attributes; the trace fields do not
//     (the record carries the trace context itself). The severities and
//     their texts are those of the slog adapter's records (TRACE for Trace,
//     INFO3 for Notice, FATAL for Fatal; texts "DEBUG-4", "INFO+2",
//     "ERROR+4" for those three), not logrus's: the bridge is given a
//     LoggerProvider wrapping yours that sets them from the klog level.
//
// # Differences from the slog adapter
//
//   - No groups (logrus has none): there is no WithGroup.
//   - With takes logrus.Fields; a trace field named like a With field wins
//     (logrus fields are a map, slog would print both).
//   - A field named like the level key is printed as "fields.level", as
//     logrus does with clashing fields.
//   - With logrus's ReportCaller on, the caller logrus reports is the first
//     frame outside logrus, which is in this package, not the caller of the
//     klog method.
//   - A logrus.Logger given with WithLogger prints its own level names
//     (Notice as its info) unless it is given NewFormatter.
package kitexlogrus
