package opentracing

// JaegerBinary is jaegerBinary for the external tests.
var JaegerBinary = jaegerBinary
