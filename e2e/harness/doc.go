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
// The topologies production runs are there too. StartEtcdCluster: three
// embedded members, each on a loopback address of its own, TLS for
// clients and peers, authentication and auto-compaction on; members stop
// and start from their data dirs, and Isolate cuts one off from the
// others (its peers reach it through proxies that tell members apart by
// the CommonName of their peer certificates) while it keeps serving its
// clients. StartConsulCluster: three Consul servers and two client agents
// with data dirs (WithConsulACL: default deny, an agent token per client
// agent, ClientForToken for least-privilege clients); a client agent
// restarts with its data dir kept or wiped, the leader server can be
// killed.
//
// It runs a real Kubernetes control plane (v1.37.2): kube-apiserver (RBAC
// on, a static admin token, certificates made for the test) and
// kube-controller-manager (EndpointSlice, ServiceAccount, namespace and
// garbage-collector controllers, among others) as child processes, backed
// by an etcd from StartEtcd. The binaries are built once, outside the
// repository, by scripts/build-kubernetes.sh (KubeBinaries says where;
// KITEXSUITE_KUBE_DIR overrides it). There is no kubelet and no scheduler:
// the test plays the kubelet, and the controllers do the rest:
//
//	func TestDiscovery(t *testing.T) {
//		kube := harness.StartKube(t)   // stopped when the test ends
//		hosts := harness.StartTestHosts(t)
//		kube.CreateNode(t, "node-a", "zone-a")
//		kube.CreateNamespace(t, "shop")
//		cs := kube.Clientset(t)        // admin; kube.AdminConfig() for a rest.Config
//		// ... create a Service and a Pod on node-a (spec.nodeName) ...
//		ip := hosts.AddIP(t)           // an address outside loopback
//		ln := hosts.ListenPort(t, ip, 8888)
//		kube.SetPodReady(t, "shop", "echo-1", ip, true) // an EndpointSlice lists ip
//		kube.MarkPodTerminating(t, "shop", "echo-1")    // ... as terminating
//		token := kube.ServiceAccountToken(t, "shop", "reader")
//		ro := kube.ConfigForToken(token) // what RBAC grants "reader", only
//		kube.RestartAPIServer(t)       // an outage; etcd keeps every object
//	}
//
// EndpointSlices may not list loopback addresses, so the "pods" get theirs
// from TestHosts: a network namespace of the test's own (ip netns, as
// root), joined to the root namespace by a veth pair whose root end is
// 198.18.0.1/16. AddIP adds an address of 198.18.0.0/16 to the namespace's
// end; Listen and ListenPort open a socket inside the namespace, which
// serves clients in the root namespace from any goroutine. The test hosts
// of a process share one namespace; processes take turns (a file lock in
// /run/lock), and the first removes what crashed runs left.
//
// For the end-to-end scenarios it runs Prometheus (Debian's package,
// exemplar storage on; StartPrometheus, SetTargets, AwaitScrapedAfter,
// Query) and Jaeger v2 (built by scripts/build-jaeger.sh; StartJaeger,
// OTLPGRPCAddr, Trace, Stop, Restart), and any program as a child process
// (StartProcess, NewProcess; Stop with SIGTERM, Kill with SIGKILL),
// optionally inside the test hosts' namespace, where TestHosts.Forward
// makes a loopback address of the test (an API server, a trace receiver)
// answer too.
//
// The agent and the Kubernetes processes run in process groups of their
// own, which Stop (and the test's cleanup) terminates, and which die with
// the test process.
//
// A server's own log goes to a buffer, not to the test output; when a test
// fails, its last lines are shown through the test's log. A stopped server
// leaves no goroutines behind, so goroutine-leak checks keep working; any
// that a server cannot stop are listed (EtcdBackgroundGoroutines,
// KubeBackgroundGoroutines) for those checks to ignore. The HTTP clients of
// Consul.Config close their idle connections when the agent's test ends;
// so do those of Kube.Clientset, and those of Kube.AdminConfig and
// ConfigForToken when the control plane stops.
package harness
