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
// last index seen, the last set published, and the instances it keeps
// while their agent restarts.
type targetState struct {
	index uint64
	last  []discovery.Instance
	kept  map[string]time.Time // address -> until when it is kept
	ours  map[string]bool      // addresses registered by this module's registry
}

func (s *source) Name() string { return s.name }

// Watch implements discoverycore.Source.
//
// An agent restart must not empty the clients' balancers while the Kitex
// servers behind it run on: the registries register again within a
// heartbeat. Two restarts look different from here, and both are covered
// for the settle period ([WithResetSettle]), during which the instances
// they hide are kept (new ones are added at once):
//
//   - an instance failing only on node checks (serfHealth: its agent is
//     down or restarting), or whose checks a restarted agent restored from
//     its data dir as critical, not heartbeaten yet, is kept, and so is its
//     later disappearance;
//   - an instance registered by this module's registry that disappears
//     without going through maintenance (which Deregister always sets
//     first) is kept: its agent forgot it — a client agent restarted
//     without its data dir, whose services anti-entropy removes from the
//     catalog with the index moving forward, even when the restart was too
//     quick for serfHealth to fail;
//   - an index that goes backwards in an answer from the leader (a dev
//     agent or a whole cluster restarted and lost its state) keeps every
//     instance missing from the answer. A stale read from a follower
//     (WithStale) can be behind the last answer without any restart, and
//     does not count.
//
// An instance whose own check fails — a crashed server whose TTL ran out,
// or the maintenance mode the registry sets before it drains — leaves at
// once, and so does one deregistered while its node is healthy (a
// kitex-contrib registry-consul server stopping).
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
	for {
		wait := s.cfg.wait
		next := earliest(st.kept)
		if rest := time.Until(next); !next.IsZero() && rest > 0 {
			wait = min(wait, rest+10*time.Millisecond) // wake up when a kept instance is due
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
		// All instances, not only passing ones: why an instance is not
		// passing (its own check, or its node's) decides whether it leaves.
		entries, meta, err := s.cli.Health().ServiceMultipleTags(target, s.cfg.tags, false, q.WithContext(qctx))
		// Read before cancel: after it, qctx.Err() is never nil, and every
		// error (an ACL refusal too) would read as a lost answer.
		unanswered := errors.Is(qctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if unanswered {
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
		now := time.Now()
		reset := meta.LastIndex < st.index && meta.LastContact == 0 && s.cfg.settle > 0
		unchanged := index != 0 && meta.LastIndex == index
		index, st.index = meta.LastIndex, meta.LastIndex
		if index == 0 {
			index = 1 // Consul's advice: never block on index 0
		}
		if unchanged && st.last != nil && (next.IsZero() || now.Before(next)) {
			sink.Alive() // the wait ended with nothing new
			continue
		}
		set := s.apply(target, &st, entries, reset, now)
		s.save(target, st)
		sink.Set(set)
	}
}

// apply turns one answer into the set to publish at now: the passing
// instances plus those kept while their agent restarts, updating st.
func (s *source) apply(target string, st *targetState, entries []*api.ServiceEntry, reset bool, now time.Time) []discovery.Instance {
	passing, nodeDown, failing, ours := s.decode(entries)
	st.kept = s.keep(target, *st, passing, nodeDown, failing, reset, now)
	for addr := range st.kept {
		ours[addr] = ours[addr] || st.ours[addr]
	}
	st.ours = ours
	set := passing
	for _, ins := range st.last {
		if _, ok := st.kept[ins.Address().String()]; ok && !contains(set, ins) {
			set = append(set, ins)
		}
	}
	st.last = set
	return set
}

// keep returns the instances to keep at now, and until when: those hidden
// by their agent's restart (nodeDown; or, after a reset, any missing one)
// for the settle period from when it began, except those passing again or
// failing on their own checks.
func (s *source) keep(target string, st targetState, passing []discovery.Instance, nodeDown, failing map[string]bool, reset bool, now time.Time) map[string]time.Time {
	if s.cfg.settle <= 0 {
		return nil
	}
	kept := make(map[string]time.Time, len(st.kept))
	have := make(map[string]bool, len(passing))
	for _, ins := range passing {
		have[ins.Address().String()] = true
	}
	began := 0
	for _, ins := range st.last {
		addr := ins.Address().String()
		if have[addr] || failing[addr] {
			continue
		}
		until, already := st.kept[addr]
		switch {
		case already && now.Before(until):
			kept[addr] = until
		case !already && (nodeDown[addr] || reset || st.ours[addr]):
			kept[addr] = now.Add(s.cfg.settle)
			began++
		}
	}
	if began > 0 {
		why := "their agent is down or restarting, or forgot them"
		if reset {
			why = fmt.Sprintf("the index went back from %d (agent or cluster restarted?)", st.index)
		}
		klog.Warnf("kitexsuite/consul: keeping %d instances of %q for %v while their servers register again: %s", began, target, s.cfg.settle, why)
	}
	return kept
}

// earliest is the soonest of the times in m (zero when m is empty).
func earliest(m map[string]time.Time) time.Time {
	var first time.Time
	for _, t := range m {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

func contains(set []discovery.Instance, ins discovery.Instance) bool {
	addr := ins.Address().String()
	for _, x := range set {
		if x.Address().String() == addr {
			return true
		}
	}
	return false
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

// decode sorts the entries: passing instances, one per address (a server
// registered through two agents, after a reconnect to another agent, is
// listed by both), the addresses hidden by their agent (nodeDown: node
// checks failing, or own checks restored critical by a restarted agent and
// not heartbeaten yet) or failing on their own checks (failing), and the passing ones this
// module's registry registered (ours). Bad entries are logged once per
// version.
func (s *source) decode(entries []*api.ServiceEntry) (passing []discovery.Instance, nodeDown, failing, ours map[string]bool) {
	passing = make([]discovery.Instance, 0, len(entries))
	nodeDown, failing, ours = map[string]bool{}, map[string]bool{}, map[string]bool{}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		ins, err := decode(e)
		if err != nil {
			id, idx := "?", uint64(0)
			if e != nil && e.Service != nil {
				id, idx = e.Service.ID, e.Service.ModifyIndex
			}
			if s.logged.First(id, strconv.FormatUint(idx, 10)) {
				klog.Warnf("%v", err)
			}
			continue
		}
		addr := ins.Address().String()
		own, node, restored := health(e)
		switch {
		case own == api.HealthPassing && node == api.HealthPassing:
			if !seen[addr] {
				seen[addr] = true
				passing = append(passing, ins)
			}
			if _, mine := e.Service.Meta[metaStarted]; mine {
				ours[addr] = true
			}
		case own == api.HealthPassing || restored:
			nodeDown[addr] = true
		default:
			failing[addr] = true
		}
	}
	for addr := range seen { // passing through one agent is passing
		delete(nodeDown, addr)
		delete(failing, addr)
	}
	return passing, nodeDown, failing, ours
}

// nodeMaintenance is the check Consul adds to a node an operator put in
// maintenance: deliberate, so it counts as the instance's own.
const nodeMaintenance = "_node_maintenance"

// health is the aggregate status of an entry's own checks (the service's,
// its maintenance mode, its node's maintenance mode) and of its node's
// other checks (serfHealth: the agent is alive), each "passing" when it
// has none; like Consul's passing filter, a warning is not passing.
// restored says every own check that is not passing is critical with no
// output at all: a check a restarted agent loaded from its data dir and
// that has not run or been heartbeaten since (Consul restores TTL checks
// critical; one that expired says "TTL expired", one that ran says why).
func health(e *api.ServiceEntry) (own, node string, restored bool) {
	var mine, nodes api.HealthChecks
	restored = true
	for _, c := range e.Checks {
		if c.ServiceID == "" && c.CheckID != nodeMaintenance {
			nodes = append(nodes, c)
			continue
		}
		mine = append(mine, c)
		if c.Status != api.HealthPassing && (c.Status != api.HealthCritical || c.Output != "" || strings.HasPrefix(c.CheckID, "_")) {
			restored = false // a real result, or a maintenance mode
		}
	}
	own, node = mine.AggregatedStatus(), nodes.AggregatedStatus()
	return own, node, restored && own != api.HealthPassing
}
