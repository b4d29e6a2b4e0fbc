package consul

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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
//
// A nil client panics here, at once, with a message saying so: a
// programmer error caught at startup, never a nil dereference later in a
// background goroutine.
func NewResolver(cli *api.Client, opts ...Option) *discoverycore.Resolver {
	if cli == nil {
		panic("kitexsuite/registry/consul: NewResolver needs an *api.Client, got nil")
	}
	cfg := newConfig(opts)
	src := &source{cli: cli, cfg: cfg, targets: map[string]*targetState{}}
	// The name says what the resolver reads (for Kitex's debug output);
	// discoverycore adds a number unique to the resolver, since Kitex
	// caches balancers by resolver name.
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

	mu      sync.Mutex
	logged  discoverycore.LogOnce   // malformed service ID -> modify index logged
	targets map[string]*targetState // survives watch restarts
}

// requestSlack is what a blocking query may take beyond Consul's own bound
// (the wait plus wait/16) before the watch gives it up: network and agent
// latency.
const requestSlack = 2 * time.Second

// targetState is what a target's watch remembers across restarts: the
// last index seen and the last set published.
type targetState struct {
	index uint64
	last  []discovery.Instance
}

func (s *source) Name() string { return s.name }

// Watch implements discoverycore.Source.
//
// A Consul index that goes backwards means the agent (or the cluster)
// restarted and may have lost its registrations; registries register again
// within their heartbeat interval. For the settle period after such a
// reset, instances missing from the answers are kept (new ones are added at
// once), so a restart of the agent does not empty the clients' balancers.
func (s *source) Watch(ctx context.Context, target string, sink discoverycore.Sink) error {
	st := s.state(target) // a copy: written back under the lock below
	defer func() {
		if ctx.Err() != nil { // idle or closed: forget the target
			s.mu.Lock()
			delete(s.targets, target)
			s.mu.Unlock()
		}
	}()
	var index uint64 // 0: list first, also after a restart of the watch
	var settleUntil time.Time
	for {
		wait := s.cfg.wait
		if rest := time.Until(settleUntil); rest > 0 {
			wait = min(wait, rest+10*time.Millisecond) // wake up when the settle period ends
		}
		q := &api.QueryOptions{
			WaitIndex: index, WaitTime: wait, Datacenter: s.cfg.datacenter,
			AllowStale: s.cfg.stale, RequireConsistent: s.cfg.consistent,
		}
		// consul/api's HTTP client has no timeout: a connection that went
		// half-open (a server gone behind a ClusterIP, a dropped conntrack
		// entry) would stall the watch for as long as the kernel keeps it.
		// Consul answers a blocking query within the wait plus up to
		// wait/16 of jitter, so a request unanswered after that and some
		// slack is abandoned, and the watch restarts on a new connection.
		limit := wait + wait/16 + requestSlack
		qctx, cancel := context.WithTimeout(ctx, limit)
		entries, meta, err := s.cli.Health().ServiceMultipleTags(target, s.cfg.tags, true, q.WithContext(qctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) || qctx.Err() != nil {
				return fmt.Errorf("kitexsuite/consul: blocking query for %q unanswered after %v (wait %v; a half-open connection?): %w", target, limit, wait, err)
			}
			return permission(err, "resolve "+target, fmt.Sprintf("service:read on %q", target))
		}
		if meta.ResultsFilteredByACLs {
			// A filtered answer is not the authoritative set: serving it
			// would silently drop instances.
			return &PermissionError{Op: "resolve " + target, Permission: fmt.Sprintf("service:read on %q and node:read on its nodes", target),
				Err: fmt.Errorf("consul filtered the result by ACLs")}
		}
		if meta.LastIndex < st.index && s.cfg.settle > 0 {
			settleUntil = time.Now().Add(s.cfg.settle)
			klog.Warnf("kitexsuite/consul: index of %q went back from %d to %d (agent restarted?); keeping missing instances for %v while servers register again",
				target, st.index, meta.LastIndex, s.cfg.settle)
		}
		unchanged := index != 0 && meta.LastIndex == index
		index, st.index = meta.LastIndex, meta.LastIndex
		if index == 0 {
			index = 1 // Consul's advice: never block on index 0
		}
		settling := time.Now().Before(settleUntil)
		if unchanged && !settling && st.last != nil && !s.justSettled(&settleUntil) {
			sink.Alive() // the wait ended with nothing new
			continue
		}
		set := s.decode(entries)
		if settling {
			set = union(set, st.last)
		}
		st.last = set
		s.save(target, st)
		sink.Set(set)
	}
}

// justSettled reports (once) that a settle period has just ended, so the
// real set is published even if the index did not move.
func (s *source) justSettled(until *time.Time) bool {
	if until.IsZero() {
		return false
	}
	*until = time.Time{}
	return true
}

// state returns a copy of what the target's earlier watches remembered.
func (s *source) state(target string) targetState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.targets[target]; st != nil {
		return *st
	}
	return targetState{}
}

func (s *source) save(target string, st targetState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[target] = &st
}

// union is next plus the instances of prev it lacks.
func union(next, prev []discovery.Instance) []discovery.Instance {
	have := make(map[string]struct{}, len(next))
	for _, ins := range next {
		have[ins.Address().String()] = struct{}{}
	}
	out := next
	for _, ins := range prev {
		if _, ok := have[ins.Address().String()]; !ok {
			out = append(out, ins)
		}
	}
	return out
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
		if s.logged.First(id, strconv.FormatUint(idx, 10)) {
			klog.Warnf("%v", err)
		}
	}
	return out
}
