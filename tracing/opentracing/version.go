package opentracing

// Version is the version of this module, reported as the instrumentation
// scope version of the bridge's spans.
const Version = "0.1.0"
