// Package etcd registers Kitex servers in etcd and resolves them for Kitex
// clients, on top of kitexsuite's shared discovery core.
//
// Server side, [NewRegistry] is a registry.Registry for server.WithRegistry.
// Each instance is a JSON value at {prefix}/{service}/{host:port} (prefix
// [DefaultPrefix]) under a lease with a short TTL ([DefaultTTL]) kept alive
// by the client. When the registration is lost — the lease expired while
// etcd was unreachable, an operator deleted the key or revoked the lease —
// the registry writes it again with backoff, forever, logging each
// transition once. Deregister, which Kitex calls first thing in Stop,
// revokes the lease so the key vanishes at once, then waits the drain delay
// ([DefaultDrainDelay], [WithDrainDelay]) so clients stop sending before
// Kitex closes the listener.
//
// Client side, [NewResolver] is a discovery.Resolver for client.WithResolver.
// The first Resolve of a service lists its keys, then watches them from
// the list's revision; one progress request per [WithProgressInterval]
// confirms every watch of the resolver, which is what the sync-age metric
// measures. Resolve is a read of the in-memory snapshot
// that the watch keeps current. When the watch's revision is compacted the
// resolver lists again; when etcd is unreachable it serves the last known
// set. Values that are not valid instances (not JSON, wrong types, a bad
// address, larger than [WithMaxValueSize]) are skipped and logged once,
// never a panic. Pair it with discoverycore.WithFastRefresh so changes reach
// Kitex's balancer in well under a second rather than on its 5 s poll:
//
//	r := etcd.NewResolver(cli)
//	defer r.Close()
//	c, err := echoservice.NewClient("echo", client.WithResolver(r),
//		discoverycore.WithFastRefresh(nil, 0))
//
// # Connecting
//
// Both constructors take your *clientv3.Client, so TLS (clientv3.Config.TLS),
// username and password (clientv3.Config.Username/Password), dial timeouts
// and keepalives are configured the etcd way, once, and shared by the
// registry and the resolver.
//
// Cap gRPC's reconnect backoff on that client. Its default grows to two
// minutes, so after a long etcd outage the client may not even try to
// reconnect — and the registry cannot register again — for that long:
//
//	cli, err := clientv3.New(clientv3.Config{
//		Endpoints:   endpoints,
//		DialTimeout: 5 * time.Second,
//		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
//			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
//			MinConnectTimeout: time.Second,
//		})},
//	})
//
// With it, servers are registered again within a second of etcd returning
// after a 30 s outage (TestEtcdOutageServesLastKnownGood in the e2e module).
//
// # Migrating from kitex-contrib registry-etcd
//
// Our value is a superset of registry-etcd's (network, address, weight,
// tags; plus start_time and warmup, which it ignores). [WithContribLayoutRead]
// makes the resolver also read kitex/registry-etcd/{service}/{host:port}, so
// clients moved to kitexsuite find servers still on registry-etcd;
// [WithContribLayoutWrite] makes the registry also write that key under the
// same lease, so clients still on registry-etcd find servers moved to
// kitexsuite. Move services one at a time, then drop the options.
package etcd
