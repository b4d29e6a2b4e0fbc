package kitexzap

// otelzap sets a record's severity from the zap level, which cannot tell
// klog's Trace, Notice and Fatal apart the way the slog adapter's records
// do: the Logger hands otelzap otelseverity.Provider and writes each record
// with otelseverity.WithLevel in the context otelzap emits with (its
// "context" field).
