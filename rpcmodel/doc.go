// Package rpcmodel is the one place that decides what a Kitex RPC *is* for
// observability: system, service, method, caller and callee, addresses,
// transport, outcome, a bounded error class, business status and sizes.
//
// Tracing, metrics and logging in kitexsuite all read a [Call] filled by
// [Derive], so a span attribute, a metric label and a log field for the same
// call always agree. Deriving copies what it needs out of the Kitex
// rpcinfo.RPCInfo and keeps no reference to it: Kitex recycles RPCInfo on the
// server side once the call finishes.
//
// # Outcome
//
// Every call has one of three outcomes: [Success], [BizError] (the handler
// returned a kerrors.BizStatusErrorIface, which Kitex carries as business
// status rather than as a transport failure) and [Failure]. Failures carry an
// [ErrorType] drawn from the bounded set documented on [ClassifyError], so no
// label built from it can explode in cardinality.
//
// # Methods
//
// Only methods that the service definition knows are reported by name. A call
// to any other method reports [OtherMethod] ("_OTHER") as its method and keeps
// the name it asked for in [Call.OriginalMethod], as the OpenTelemetry RPC
// semantic conventions require. Kitex's binary generic services know every
// name a caller sends, so a process reports at most [MaxKnownMethods]
// distinct methods by name; the rest are _OTHER too.
package rpcmodel
