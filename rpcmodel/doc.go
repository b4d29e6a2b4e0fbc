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
// A [Methods] table decides which methods are reported by name; each Suite
// holds its own. A method the service's IDL declares is always named. A
// call to a method the service does not know reports [OtherMethod]
// ("_OTHER") and keeps the name it asked for in [Call.OriginalMethod], as
// the OpenTelemetry RPC semantic conventions require. Kitex's binary
// generic services answer any name a caller sends: each such service gets a
// pool of [DefaultGenericMethods] names per table (plus the names given to
// [NewMethods] as known), so its callers can neither grow a label without
// limit nor change how another service's methods are named. The
// package-level functions use a table of the package's own.
package rpcmodel
