package consul

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/discoverycore"
)

// NewResolver returns a Kitex resolver (for client.WithResolver) that
// follows each target's passing instances with blocking queries on the
// health endpoint and serves Resolve from the shared in-memory snapshot.
// The ACL token (it needs service:read on the targets and node:read on
// their nodes), TLS and address are configured on cli. Close the resolver
// at shutdown to stop its watches.
func NewResolver(cli *api.Client, opts ...Option) *discoverycore.Resolver {
	cfg := newConfig(opts)
	src := &source{cli: cli, cfg: cfg, logged: map[string]uint64{}}
	// Kitex caches balancers by resolver name, so the name carries
	// everything that changes what Resolve returns, including the client.
	src.name = fmt.Sprintf("kitexsuite-consul(dc=%s;tags=%s;stale=%t;consistent=%t;%p)",
		cfg.datacenter, strings.Join(cfg.tags, ","), cfg.stale, cfg.consistent, cli)
	core := append([]discoverycore.Option{discoverycore.WithSystem("consul")}, cfg.core...)
	return discoverycore.NewResolver(src, core...)
}

// source is the Consul side of a resolver: blocking health queries.
type source struct {
	cli  *api.Client
	cfg  config
	name string

	mu     sync.Mutex
	logged map[string]uint64 // malformed service ID -> modify index already logged
}

func (s *source) Name() string { return s.name }

// Watch implements discoverycore.Source.
func (s *source) Watch(ctx context.Context, target string, sink discoverycore.Sink) error {
	var index uint64
	for {
		q := &api.QueryOptions{
			WaitIndex: index, WaitTime: s.cfg.wait, Datacenter: s.cfg.datacenter,
			AllowStale: s.cfg.stale, RequireConsistent: s.cfg.consistent,
		}
		entries, meta, err := s.cli.Health().ServiceMultipleTags(target, s.cfg.tags, true, q.WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return permission(err, "resolve "+target, fmt.Sprintf("service:read on %q", target))
		}
		if meta.ResultsFilteredByACLs {
			// A filtered answer is not the authoritative set: serving it
			// would silently drop instances.
			return &PermissionError{Op: "resolve " + target, Permission: fmt.Sprintf("service:read on %q and node:read on its nodes", target),
				Err: fmt.Errorf("consul filtered the result by ACLs")}
		}
		switch {
		case meta.LastIndex < index || meta.LastIndex == 0:
			index = 0 // the index went backwards (a snapshot restore): list again
			sink.Set(s.decode(entries))
		case meta.LastIndex == index:
			sink.Alive() // the wait ended with nothing new
		default:
			index = meta.LastIndex
			sink.Set(s.decode(entries))
		}
	}
}

// decode keeps the usable entries, logging each bad one once per version.
func (s *source) decode(entries []*api.ServiceEntry) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(entries))
	for _, e := range entries {
		ins, err := decode(e)
		if err == nil {
			out = append(out, ins)
			continue
		}
		id, idx := "?", uint64(0)
		if e != nil && e.Service != nil {
			id, idx = e.Service.ID, e.Service.ModifyIndex
		}
		s.mu.Lock()
		seen, ok := s.logged[id]
		s.logged[id] = idx
		s.mu.Unlock()
		if !ok || seen != idx {
			klog.Warnf("%v", err)
		}
	}
	return out
}
