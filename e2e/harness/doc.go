// Package harness starts real servers inside tests, on free loopback ports,
// so that end-to-end tests exercise the kitexsuite extensions against the
// real thing rather than fakes.
//
// Today it starts etcd, embedded in the test process
// (go.etcd.io/etcd/server/v3/embed) as a single member whose data lives in a
// test's temporary directory:
//
//	func TestSomething(t *testing.T) {
//		etcd := harness.StartEtcd(t) // stopped when the test ends
//		cli := etcd.Client(t)        // closed when the test ends
//		// ... register and resolve through etcd.Endpoints() ...
//		etcd.Stop()     // an outage: clients fail until ...
//		etcd.Restart(t) // ... the same data is back on the same URL
//		etcd.Compact(t) // history before the current revision is gone
//	}
//
// A server's own log goes to a buffer, not to the test output; when a test
// fails, its last lines are shown through the test's log. A stopped server
// leaves no goroutines behind, so goroutine-leak checks keep working; any
// that a server cannot stop are listed (EtcdBackgroundGoroutines) for those
// checks to ignore.
//
// Consul and Kubernetes (API server and controller manager) servers will be
// added here, with the same shape: Start, Endpoints, Client, Stop, Restart.
package harness
