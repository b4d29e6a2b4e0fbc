// Package testservice is the Echo service the suite's tests, demo and
// benchmarks run for real over loopback: a Thrift service (unary and all
// stream kinds) and its Protobuf twin, whose handlers can forward to a next
// hop and misbehave on request (business error, panic, slow reply).
//
// It is internal to the repository: the root module stays free of any
// OpenTelemetry dependency, so what the handlers observe (trace ids,
// baggage) comes from hooks the caller supplies.
package testservice
