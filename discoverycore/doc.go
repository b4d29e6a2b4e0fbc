// Package discoverycore is the backend-independent half of kitexsuite's
// service discovery: the watch-fed snapshot that the etcd, Consul and
// Kubernetes resolvers share, the Diff that notices weight and tag changes,
// the balancer option that makes Kitex see changes in well under a second,
// and the backoff and self-metrics they all use.
//
// # How a resolver works
//
// An adapter implements [Source]: given a target (a service name), it lists
// the instances once and then watches the backend, handing every complete
// instance set to a [Sink]. [NewResolver] turns a Source into a Kitex
// discovery.Resolver. The first Resolve of a target starts one watch for it
// and waits for the first list; every later Resolve — Kitex calls it every
// refresh interval for every client — is a map read with no I/O. A watch is
// shared by every client of the process that resolves the target through
// the same Resolver (Kitex also caches balancers by [Resolver.Name], which
// is unique to each Resolver: share one Resolver per backend among the
// process's clients), and stops when nobody has resolved
// the target for the idle timeout, because Kitex gives resolvers no close
// signal.
//
// # Empty is not unknown
//
// A backend that answers "zero instances" is delivered as an empty result,
// so calls fail fast with Kitex's no-instance error. A backend that cannot
// be reached is different: the watch breaks, the resolver keeps serving the
// last set it knew, logs the transition once, counts a watch restart and
// retries with backoff, forever.
//
// # Seeing changes quickly
//
// Kitex polls Resolve every 5 s by default (lbcache). [WithFastRefresh]
// returns a client option that polls every [DefaultRefreshInterval]
// (100 ms); since Resolve is a map read and [Diff] short-circuits on an
// unchanged snapshot, this costs nothing measurable and a registration
// reaches the balancer in well under a second.
//
// # Self-metrics
//
// With [WithMeterProvider], a Resolver reports through the OpenTelemetry
// metric API, per target: kitexsuite.discovery.instances (gauge),
// kitexsuite.discovery.watch.restarts (counter) and
// kitexsuite.discovery.sync.age (seconds since the backend last confirmed
// the set). Without it the instruments are no-ops.
package discoverycore
