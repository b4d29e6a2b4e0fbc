// Package kitexzap adapts go.uber.org/zap to Kitex's klog.FullLogger, with
// trace correlation: the Ctx* methods add the trace_id, span_id and
// trace_flags of the span in the context (nothing when there is none), so a
// log line of a handler carries the id of its call's server span.
//
// The import path is github.com/kitexsuite/suite/logging/zap; the package
// is named kitexzap so that it does not shadow go.uber.org/zap:
//
//	import kitexzap "github.com/kitexsuite/suite/logging/zap"
//
//	klog.SetLogger(kitexzap.NewLogger(kitexzap.WithLevel(klog.LevelDebug)))
//
// It behaves as the log/slog adapter (github.com/kitexsuite/suite/logging)
// does: same field names by default (logging.DefaultFieldNames, taken from
// logging.TraceFields), same level names, same Fatal, same options, with a
// zap.Logger or zapcore.Core where that one takes a slog.Handler.
//
// # Output
//
// By default a Logger writes JSON lines to standard error (SetOutput
// changes where), with zap's production encoder config under the keys
// "time" (RFC 3339, milliseconds), "level" and "msg", then the fields of
// With, then trace_id, span_id and trace_flags:
//
//	{"level":"INFO","time":"2026-05-04T10:00:00.000Z","msg":"hello","trace_id":"…","span_id":"…","trace_flags":"01"}
//
// WithLogger or WithCore log through a zap.Logger or zapcore.Core of your
// own instead; SetOutput then has no effect (NewEncoderConfig gives the
// default output's encoder config, for a core that looks the same).
//
// # Levels
//
// Every option and method takes klog levels (WithLevel, SetLevel), as in
// the other adapters. A call below the Logger's level returns before any
// formatting or allocation. zap has no Trace or Notice, so klog levels map
// to zap levels (ZapLevel) as follows:
//
//	klog    zap                      printed
//	Trace   LevelTrace (-2)          TRACE
//	Debug   zapcore.DebugLevel       DEBUG
//	Info    zapcore.InfoLevel        INFO
//	Notice  zapcore.InfoLevel        NOTICE (own output), INFO (your core)
//	Warn    zapcore.WarnLevel        WARN
//	Error   zapcore.ErrorLevel       ERROR
//	Fatal   zapcore.FatalLevel       FATAL
//
// The Logger's own output prints the names in the last column, as the slog
// adapter does (LevelEncoder). The Logger keeps its klog level itself and
// the zap level of its own core in a zap.AtomicLevel, so SetLevel(Notice)
// drops Info calls although zap cannot tell the two apart. A core of your
// own sees Notice as info.
//
// # With
//
// With returns a Logger adding zap fields to every record; its records
// still get the trace fields, which are added per call.
//
// # Fatal
//
// Fatal, Fatalf and CtxFatalf log at zapcore.FatalLevel and then call the
// exit function, os.Exit(1) by default, as Kitex's own default logger does.
// zap's own exit is replaced by a fatal hook that does nothing (also on a
// zap.Logger given with WithLogger), so the record reaches every output
// (zap syncs its core after a fatal record) before the exit function runs.
// The exit function is an option (WithExitFunc), so a program (or a test)
// that must not exit can say so.
//
// # Optional behaviour
//
//   - WithErrorMarksSpan: an Error-level (or Fatal) log through a Ctx method
//     sets the span's status to Error with the message. Off by default: a
//     logged error is not always a failed call.
//   - WithLoggerProvider: records also go to an OpenTelemetry LoggerProvider
//     (go.opentelemetry.io/otel/log) through the otelzap bridge, with the
//     trace context attached and the fields of With as attributes. The
//     severities are those of the slog adapter's records (TRACE for Trace,
//     INFO3 for Notice, FATAL for Fatal), so both export the same.
//
// # Caller
//
// A zap.Logger given with WithLogger that adds the caller (zap.AddCaller)
// reports the caller of the Logger's method. Through klog's package
// functions (klog.CtxInfof and the like) that is klog: add
// zap.AddCallerSkip(1) to that logger.
package kitexzap
