package tracing

// ScopeName is the instrumentation scope of the spans this package creates.
const ScopeName = "github.com/kitexsuite/suite/tracing"

// Version is the version of this module, reported as the instrumentation
// scope version.
const Version = "0.1.0"
