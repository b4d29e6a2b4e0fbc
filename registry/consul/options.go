package consul

import (
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/discoverycore"
)

// Defaults of the registry and resolver.
const (
	// DefaultTTL is the TTL of the check the registry heartbeats (every
	// third of it): how long a hung server stays passing.
	DefaultTTL = 10 * time.Second
	// DefaultDeregisterCriticalAfter is how long Consul keeps a service
	// whose check is critical before removing it.
	DefaultDeregisterCriticalAfter = time.Minute
	// DefaultDrainDelay is how long Deregister waits between taking the
	// service out of the passing set and removing it: enough for clients
	// using discoverycore.WithFastRefresh. Clients on Kitex's default 5 s
	// refresh need WithDrainDelay of 6 s or more.
	DefaultDrainDelay = 2 * time.Second
	// DefaultWaitTime bounds each blocking query; an unchanged answer
	// confirms the snapshot (the sync-age self-metric).
	DefaultWaitTime = 30 * time.Second
	// DefaultResetSettle is how long the resolver keeps instances an agent
	// restart hides (their node's serfHealth failing, then the services
	// gone; or the index going backwards): one default TTL, three
	// heartbeats, for the servers to register again.
	DefaultResetSettle = 10 * time.Second
	// requestTimeout bounds the registry's non-blocking requests.
	requestTimeout = 3 * time.Second
	// confirmTimeout bounds how long Deregister waits to see the instance
	// leave the passing set before it starts the drain delay anyway.
	confirmTimeout = 5 * time.Second
)

// Option configures a Registry or a Resolver; options that concern only one
// of them are ignored by the other.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	errs          []error // invalid options, reported by Register
	ttl           time.Duration
	deregAfter    time.Duration
	check         *api.AgentServiceCheck // nil: TTL check heartbeated by the registry
	checkInterval time.Duration          // how often the registry verifies a non-TTL registration
	drain         time.Duration
	datacenter    string
	tags          []string
	stale         bool
	consistent    bool
	wait          time.Duration
	settle        time.Duration
	core          []discoverycore.Option
}

func newConfig(opts []Option) config {
	c := config{ttl: DefaultTTL, deregAfter: DefaultDeregisterCriticalAfter, drain: DefaultDrainDelay, wait: DefaultWaitTime, settle: DefaultResetSettle}
	for _, o := range opts {
		o.apply(&c)
	}
	if c.checkInterval <= 0 {
		c.checkInterval = c.ttl / 3
	}
	return c
}

// MinTTL is the shortest TTL WithTTL accepts: the registry heartbeats every
// third of it, and below that one slow agent round trip fails the check.
const MinTTL = 2 * time.Second

// WithTTL sets the TTL of the registry's heartbeated check (default
// [DefaultTTL]); it heartbeats every third of it. A TTL below [MinTTL] is
// not raised silently: Register fails with [ErrInvalidConfig].
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) {
		if ttl < MinTTL {
			c.errs = append(c.errs, fmt.Errorf("%w: WithTTL(%v) is below the minimum %v", ErrInvalidConfig, ttl, MinTTL))
			return
		}
		c.ttl = ttl
	})
}

// WithDeregisterCriticalAfter sets Consul's DeregisterCriticalServiceAfter
// for the check (default [DefaultDeregisterCriticalAfter]).
func WithDeregisterCriticalAfter(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.deregAfter = d
		}
	})
}

// WithCheck replaces the heartbeated TTL check with check (TCP, HTTP, gRPC,
// ...), run by the agent. The registry then verifies every interval that
// the agent still knows the service. An empty check.TCP is filled with the
// server's address, as kitex-contrib registry-consul does.
func WithCheck(check *api.AgentServiceCheck, interval time.Duration) Option {
	return optionFunc(func(c *config) {
		if check != nil {
			c.check, c.checkInterval = check, interval
		}
	})
}

// WithTCPCheck has the agent dial the server every interval instead of the
// registry heartbeating a TTL check: kitex-contrib registry-consul's style.
func WithTCPCheck(interval time.Duration) Option {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return WithCheck(&api.AgentServiceCheck{Interval: interval.String(), Timeout: interval.String()}, interval)
}

// WithDrainDelay sets how long Deregister keeps the service in maintenance
// (out of the passing set) before removing it (default
// [DefaultDrainDelay]); 0 disables the wait.
func WithDrainDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.drain = max(d, 0) })
}

// WithDatacenter makes the resolver query dc instead of the agent's own.
func WithDatacenter(dc string) Option {
	return optionFunc(func(c *config) { c.datacenter = dc })
}

// WithTags makes the resolver return only instances carrying every tag
// (Kitex tags are stored as "key:value" Consul tags, so "zone:a" filters on
// the Kitex tag zone=a).
func WithTags(tags ...string) Option {
	return optionFunc(func(c *config) { c.tags = append(c.tags, tags...) })
}

// WithStaleReads lets any Consul server answer the resolver's queries
// (lower latency and load, possibly slightly stale).
func WithStaleReads() Option {
	return optionFunc(func(c *config) { c.stale, c.consistent = true, false })
}

// WithConsistentReads makes the leader confirm its leadership for each of
// the resolver's queries.
func WithConsistentReads() Option {
	return optionFunc(func(c *config) { c.consistent, c.stale = true, false })
}

// WithWaitTime bounds each blocking query (default [DefaultWaitTime]).
func WithWaitTime(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.wait = d
		}
	})
}

// WithResetSettle sets how long the resolver keeps instances an agent
// restart hides (default [DefaultResetSettle]); 0 applies every answer at
// once.
func WithResetSettle(d time.Duration) Option {
	return optionFunc(func(c *config) { c.settle = max(d, 0) })
}

// WithDiscoveryOptions passes options to the shared discovery core
// (idle timeout, retry backoff, self-metrics MeterProvider, target naming).
func WithDiscoveryOptions(opts ...discoverycore.Option) Option {
	return optionFunc(func(c *config) { c.core = append(c.core, opts...) })
}
