package discoverycore

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Defaults of a Resolver.
const (
	// DefaultIdleTimeout is how long a watch outlives the last Resolve of its
	// target. Kitex resolves every refresh interval while a client uses the
	// target, so only targets no client calls any more go idle.
	DefaultIdleTimeout = time.Minute
	// DefaultInitialSyncTimeout bounds how long the first Resolve of a target
	// waits for the backend's first answer.
	DefaultInitialSyncTimeout = 5 * time.Second
)

// Option configures a Resolver.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	system      string
	target      func(context.Context, rpcinfo.EndpointInfo) string
	idle        time.Duration
	initialSync time.Duration
	backoff     Backoff
	meter       metric.MeterProvider
}

func newConfig(opts []Option) config {
	c := config{
		system:      "unknown",
		target:      func(_ context.Context, ep rpcinfo.EndpointInfo) string { return ep.ServiceName() },
		idle:        DefaultIdleTimeout,
		initialSync: DefaultInitialSyncTimeout,
		backoff:     Backoff{Min: 100 * time.Millisecond, Max: 3 * time.Second},
		meter:       noop.NewMeterProvider(),
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// WithSystem names the backend ("etcd", "consul", "kubernetes") in logs and
// in the discovery.system attribute of the self-metrics. Adapters set it.
func WithSystem(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.system = name
		}
	})
}

// WithTarget sets how a client's callee becomes a watch target. The default
// is the callee's service name.
func WithTarget(f func(ctx context.Context, callee rpcinfo.EndpointInfo) string) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.target = f
		}
	})
}

// WithIdleTimeout sets how long a watch runs after the last Resolve of its
// target (default [DefaultIdleTimeout]).
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.idle = d
		}
	})
}

// WithInitialSyncTimeout bounds the first Resolve of a target (default
// [DefaultInitialSyncTimeout]).
func WithInitialSyncTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.initialSync = d
		}
	})
}

// WithRetryBackoff sets the delays between restarts of a broken watch
// (default 100 ms doubling to 3 s, jittered).
func WithRetryBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.backoff = Backoff{Min: min, Max: max} })
}

// WithMeterProvider reports the Resolver's self-metrics through mp. Without
// it they are no-ops.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meter = mp
		}
	})
}
