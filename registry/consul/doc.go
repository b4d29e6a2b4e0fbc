// Package consul registers Kitex servers with a Consul agent and resolves
// them for Kitex clients, on top of kitexsuite's shared discovery core. It
// has the same shape as registry/etcd: a reader who knows one knows both.
//
// Server side, [NewRegistry] is a registry.Registry for server.WithRegistry.
// Each server is an agent service with the ID "{service}:{host}:{port}",
// its Kitex tags as "key:value" Consul tags, its weight as the passing
// weight, and its start time and warm-up in service meta. By default its
// check is a TTL check ([DefaultTTL]) the registry heartbeats every third
// of the TTL, so a hung process leaves the passing set on its own;
// [WithTCPCheck] or [WithCheck] let the agent run the check instead. When
// the agent has forgotten the service (it restarted; the heartbeat fails),
// the registry registers it again with backoff, forever, logging each
// transition once. Deregister, which Kitex calls first thing in Stop, puts
// the service in maintenance — it leaves the passing set at once — waits
// the drain delay ([DefaultDrainDelay], [WithDrainDelay]) so clients stop
// sending, then removes it.
//
// Client side, [NewResolver] is a discovery.Resolver for client.WithResolver.
// Each target is followed by blocking queries on the health endpoint
// (passing instances only) from the last index; Resolve reads the shared
// in-memory snapshot. An agent that cannot be reached leaves the last known
// set serving; an authoritative empty answer is delivered as empty. An
// agent that restarted and lost its registrations (its index went
// backwards) is not authoritative until servers had time to register again:
// for [DefaultResetSettle] after such a reset, missing instances are kept
// ([WithResetSettle]). Entries
// with a bogus address or port, an empty tag key or malformed meta are
// skipped and logged once, never a panic. [WithDatacenter], [WithTags],
// [WithStaleReads] and [WithConsistentReads] shape the query. Pair it with
// discoverycore.WithFastRefresh:
//
//	r := consul.NewResolver(cli)
//	defer r.Close()
//	c, err := echoservice.NewClient("echo", client.WithResolver(r),
//		discoverycore.WithFastRefresh(nil, 0))
//
// # Connecting, ACLs and TLS
//
// Both constructors take your *api.Client: address, ACL token
// (api.Config.Token) and TLS (api.Config.TLSConfig) are configured the
// Consul way. The registry's token needs service:write on its services
// and node:read on its agent's node (Deregister reads the catalog to see
// the instance leave the passing set before the drain delay starts; a
// token without it drains on the delay alone and says so, once per
// Deregister); the resolver's needs service:read on its targets and
// node:read on their nodes. A request Consul's ACLs refuse becomes a [*PermissionError] naming
// the permission: Register returns it (the server does not start
// unregistered), the resolver reports it and keeps its last known set. A
// health answer Consul filtered by ACLs is treated the same way, rather than
// served as if it were complete.
//
// # Migrating from kitex-contrib registry-consul
//
// The service ID, the "key:value" tag format and the passing-only health
// query are registry-consul v0.2.0's, so servers registered by either are
// found by the other's resolver without options. registry-consul lets the
// agent dial the server (a TCP check); [WithTCPCheck] keeps that check
// style during a migration.
package consul
