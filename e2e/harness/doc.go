// Package harness starts real servers inside tests, on free loopback ports,
// so that end-to-end tests exercise the kitexsuite extensions against the
// real thing rather than fakes.
//
// It starts etcd, embedded in the test process
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
// It also runs a real Consul agent (v1.22.0, `consul agent -dev`: a single
// server keeping its state in memory) as a child process. The binary is
// built once, outside the repository, by scripts/build-consul.sh
// (ConsulBinary says where; KITEXSUITE_CONSUL overrides it). Options turn
// on ACLs (default deny, a management token) and an HTTPS-only API with a
// CA made for the test:
//
//	func TestSomethingElse(t *testing.T) {
//		consul := harness.StartConsul(t, harness.WithConsulACL()) // stopped when the test ends
//		cli := consul.Client(t) // management token; consul.Config() for another
//		ro := consul.Token(t, "read echo", `service "echo" { policy = "read" }`)
//		// ... register and resolve through consul.Address() ...
//		consul.Stop()     // an outage: clients fail until ...
//		consul.Restart(t) // ... an agent is back on the same address, with
//		                  // every service forgotten (dev mode), ro included
//	}
//
// The agent runs in a process group of its own, which Stop (and the test's
// cleanup) terminates, and which dies with the test process.
//
// A server's own log goes to a buffer, not to the test output; when a test
// fails, its last lines are shown through the test's log. A stopped server
// leaves no goroutines behind, so goroutine-leak checks keep working; any
// that a server cannot stop are listed (EtcdBackgroundGoroutines) for those
// checks to ignore. The HTTP clients of Consul.Config close their idle
// connections when the agent's test ends.
//
// Kubernetes (API server and controller manager) servers will be added
// here, with the same shape: Start, Endpoints, Client, Stop, Restart.
package harness
