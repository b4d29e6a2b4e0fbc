package etcd

import (
	"strings"
	"time"

	"github.com/kitexsuite/suite/discoverycore"
)

// Defaults of the registry and resolver.
const (
	// DefaultPrefix is where instances live: {prefix}/{service}/{host:port}.
	DefaultPrefix = "kitexsuite/services"
	// ContribPrefix is kitex-contrib registry-etcd's prefix, for migration.
	ContribPrefix = "kitex/registry-etcd"
	// DefaultTTL is the lease TTL: how long a crashed server stays listed.
	DefaultTTL = 10 * time.Second
	// DefaultDrainDelay is how long Deregister waits, after the key is gone,
	// before Kitex closes the listener: enough for clients using
	// discoverycore.WithFastRefresh (100 ms) to drop the server. Clients on
	// Kitex's default 5 s refresh need WithDrainDelay of 6 s or more.
	DefaultDrainDelay = 2 * time.Second
	// DefaultMaxValueSize bounds an instance value; larger ones are skipped.
	DefaultMaxValueSize = 64 << 10
	// requestTimeout bounds each etcd request of the registry.
	requestTimeout = 3 * time.Second
	// DefaultProgressInterval is how often a resolver asks etcd to confirm
	// its watches are current, which is what the sync-age self-metric
	// measures: on a quiet cluster the age stays below about twice this.
	DefaultProgressInterval = 5 * time.Second
	// minProgressInterval bounds WithProgressInterval from below.
	minProgressInterval = 100 * time.Millisecond
)

// Option configures a Registry or a Resolver; options that concern only one
// of them are ignored by the other.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	prefix       string
	ttl          time.Duration
	drain        time.Duration
	contribRead  bool
	contribWrite bool
	maxValue     int
	progress     time.Duration
	core         []discoverycore.Option
}

func newConfig(opts []Option) config {
	c := config{prefix: DefaultPrefix, ttl: DefaultTTL, drain: DefaultDrainDelay, maxValue: DefaultMaxValueSize, progress: DefaultProgressInterval}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// WithPrefix sets the key prefix (default [DefaultPrefix]) for both sides.
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) {
		if p := strings.Trim(prefix, "/"); p != "" {
			c.prefix = p
		}
	})
}

// WithTTL sets the registration lease TTL (default [DefaultTTL]); etcd
// rounds it up to whole seconds and to its own minimum.
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) {
		if ttl > 0 {
			c.ttl = ttl
		}
	})
}

// WithDrainDelay sets how long Deregister waits after removing the key
// (default [DefaultDrainDelay]); 0 disables the wait.
func WithDrainDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.drain = max(d, 0) })
}

// WithContribLayoutRead makes the resolver also read servers registered by
// kitex-contrib registry-etcd (kitex/registry-etcd/{service}/{host:port});
// where both layouts list an address, ours wins.
func WithContribLayoutRead() Option {
	return optionFunc(func(c *config) { c.contribRead = true })
}

// WithContribLayoutWrite makes the registry also write the kitex-contrib
// registry-etcd key, under the same lease, so clients still on registry-etcd
// find this server.
func WithContribLayoutWrite() Option {
	return optionFunc(func(c *config) { c.contribWrite = true })
}

// WithMaxValueSize bounds the instance values the resolver accepts (default
// [DefaultMaxValueSize]); larger values are skipped and logged once.
func WithMaxValueSize(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxValue = n
		}
	})
}

// WithProgressInterval sets how often the resolver asks etcd to confirm its
// watches are current (default [DefaultProgressInterval], at least 100 ms).
// One request per interval serves every target of the resolver: etcd
// answers it on the client's shared watch stream, to every watch on it.
func WithProgressInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.progress = max(d, minProgressInterval)
		}
	})
}

// WithDiscoveryOptions passes options to the shared discovery core
// (idle timeout, retry backoff, self-metrics MeterProvider, target naming).
func WithDiscoveryOptions(opts ...discoverycore.Option) Option {
	return optionFunc(func(c *config) { c.core = append(c.core, opts...) })
}
