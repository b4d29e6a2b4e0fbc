package discoverycore

import (
	"context"
	"errors"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ErrPermanent marks a registration error that retrying cannot fix: an
// ACL or RBAC refusal, a TLS certificate the client does not trust,
// information the backend rejects. Keep returns it from the first attempt
// (so Kitex's Run fails with it, clearly) and, when it appears later,
// retries only every KeepConfig.PermanentRetry instead of looping.
var ErrPermanent = errors.New("retrying cannot fix this")

// Permanent marks err as permanent: errors.Is(Permanent(err), ErrPermanent)
// holds and the message is err's own. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// Acquire writes a registration to the backend (a lease and its keys, an
// agent service, an EndpointSlice) and returns hold, which keeps it alive
// (keepalives, heartbeats, renewals) and returns why once it is lost, or
// nil when ctx ends. An error from Acquire itself means nothing is held.
type Acquire func(ctx context.Context) (hold func() error, err error)

// KeepConfig says how Keep holds one registration.
type KeepConfig struct {
	// System is the backend's name ("etcd", "consul", "kubernetes"), for
	// logs and the discovery.system attribute.
	System string
	// Service is the registered service (the discovery.service attribute);
	// Name is the registration (service@host:port), for logs.
	Service, Name string
	// Stable is how long a hold must last to count as healthy, usually the
	// TTL: a registration lost sooner is written again only after a
	// backoff, so a hold that always fails at once (a key it may write but
	// not watch, a second writer of the same key) cannot loop.
	Stable time.Duration
	// Backoff spaces failed attempts (zero: 200 ms doubling to 3 s).
	Backoff Backoff
	// PermanentRetry is how often a registration that failed permanently
	// after it had worked (a token revoked while serving) is tried again,
	// in case an operator fixes it (zero: one minute).
	PermanentRetry time.Duration
	// Options are the discovery options the registry was given; Keep uses
	// WithMeterProvider's provider for the registry self-metrics.
	Options []Option
}

// Keeper holds one registration in the background; Stop ends it.
type Keeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Stop stops holding the registration and waits until the background
// goroutine has returned; the backend's own removal (revoke, deregister,
// delete) is the caller's, afterwards. Stop is idempotent.
func (k *Keeper) Stop() {
	k.cancel()
	<-k.done
}

// Keep is the one registration failure policy of the three registries.
// It makes the first attempt now: a permanent error is returned and
// nothing runs; a transient one is logged once and retried in the
// background, with backoff, so a server does not fail to start because
// its backend blinked. Then it holds the registration until Stop, writing
// it again whenever it is lost (logged once per loss, each retry streak
// once), backing off when a hold ends within cfg.Stable, and reports the
// registry self-metrics: kitexsuite.registry.registered,
// kitexsuite.registry.reregistrations and
// kitexsuite.registry.heartbeat.failures.
func Keep(cfg KeepConfig, acquire Acquire) (*Keeper, error) {
	if cfg.Backoff.Min <= 0 && cfg.Backoff.Max <= 0 {
		cfg.Backoff = Backoff{Min: 200 * time.Millisecond, Max: 3 * time.Second}
	}
	if cfg.PermanentRetry <= 0 {
		cfg.PermanentRetry = time.Minute
	}
	m := newKeepMetrics(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	hold, err := acquire(ctx)
	if err != nil && errors.Is(err, ErrPermanent) {
		cancel()
		m.failure(errorTypePermanent)
		return nil, err
	}
	if err != nil {
		m.failure(errorTypeTransient)
		klog.Warnf("kitexsuite/%s: registering %s failed, retrying in the background: %v", cfg.System, cfg.Name, err)
	}
	k := &Keeper{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		keep(ctx, cfg, m, acquire, hold)
	}()
	return k, nil
}

// keep is Keep's background loop; hold is the first attempt's (nil when
// it failed).
func keep(ctx context.Context, cfg KeepConfig, m *keepMetrics, acquire Acquire, hold func() error) {
	bo := cfg.Backoff
	failing, heldOnce := hold == nil, hold != nil
	for {
		if hold == nil {
			var wait time.Duration
			hold, wait = attempt(ctx, cfg, m, acquire, &bo, failing, heldOnce)
			if hold == nil {
				failing = true
				if !Sleep(ctx, wait) {
					return
				}
				continue
			}
			if failing {
				klog.Infof("kitexsuite/%s: %s registered again", cfg.System, cfg.Name)
			}
			failing, heldOnce = false, true
		}
		m.held(1)
		started := time.Now()
		why := hold()
		m.held(-1)
		hold = nil
		if ctx.Err() != nil {
			return
		}
		m.failure(errorTypeLost)
		if why == nil {
			why = errors.New("the hold ended")
		}
		klog.Warnf("kitexsuite/%s: registration of %s lost (%v); registering again", cfg.System, cfg.Name, why)
		if time.Since(started) >= cfg.Stable {
			bo.Reset()
			continue
		}
		// Lost within a TTL of writing it: whatever ends the hold will
		// likely end the next one too.
		if !Sleep(ctx, bo.Next()) {
			return
		}
	}
}

// attempt writes the registration again after a loss; on failure it says
// how long to wait before the next attempt.
func attempt(ctx context.Context, cfg KeepConfig, m *keepMetrics, acquire Acquire, bo *Backoff, failing, heldOnce bool) (func() error, time.Duration) {
	hold, err := acquire(ctx)
	if err == nil {
		if heldOnce {
			m.reregistered()
		}
		return hold, 0
	}
	if ctx.Err() != nil {
		return nil, 0
	}
	if errors.Is(err, ErrPermanent) {
		m.failure(errorTypePermanent)
		if !failing {
			klog.Errorf("kitexsuite/%s: %s cannot be registered again: %v; trying every %v until it can", cfg.System, cfg.Name, err, cfg.PermanentRetry)
		}
		return nil, cfg.PermanentRetry
	}
	m.failure(errorTypeTransient)
	if !failing {
		klog.Warnf("kitexsuite/%s: registering %s again failed, retrying with backoff: %v", cfg.System, cfg.Name, err)
	}
	return nil, bo.Next()
}

// The error.type values of kitexsuite.registry.heartbeat.failures.
const (
	errorTypePermanent = "permanent" // an attempt refused for good (ACL, RBAC, TLS)
	errorTypeTransient = "transient" // an attempt that failed (backend unreachable, timeout)
	errorTypeLost      = "lost"      // a held registration lost (lease expired, key deleted, heartbeat failed)
)

// keepMetrics are one registration's self-metrics.
type keepMetrics struct {
	attrs       attribute.Set
	registered  metric.Int64UpDownCounter
	reregisters metric.Int64Counter
	failures    metric.Int64Counter
}

func newKeepMetrics(cfg KeepConfig) *keepMetrics {
	m := newConfig(cfg.Options).meter.Meter(meterName)
	k := &keepMetrics{attrs: attribute.NewSet(
		attribute.String("discovery.system", cfg.System), attribute.String("discovery.service", cfg.Service))}
	// Instrument errors only come from invalid names or units, which are
	// constants here; the returned instruments are then no-ops, never nil.
	k.registered, _ = m.Int64UpDownCounter("kitexsuite.registry.registered",
		metric.WithDescription("Registrations this process currently holds in the backend."),
		metric.WithUnit("{registration}"))
	k.reregisters, _ = m.Int64Counter("kitexsuite.registry.reregistrations",
		metric.WithDescription("Times a lost registration was written to the backend again."),
		metric.WithUnit("{registration}"))
	k.failures, _ = m.Int64Counter("kitexsuite.registry.heartbeat.failures",
		metric.WithDescription("Failed attempts to write a registration, and registrations lost while held (error.type: permanent, transient, lost)."),
		metric.WithUnit("{failure}"))
	// Every series exists from the start, at 0: rate() and alerts on them
	// need no "absent" special case.
	ctx := context.Background()
	k.registered.Add(ctx, 0, metric.WithAttributeSet(k.attrs))
	k.reregisters.Add(ctx, 0, metric.WithAttributeSet(k.attrs))
	for _, t := range []string{errorTypePermanent, errorTypeTransient, errorTypeLost} {
		k.failures.Add(ctx, 0, metric.WithAttributeSet(k.attrs), metric.WithAttributes(attribute.String("error.type", t)))
	}
	return k
}

func (k *keepMetrics) held(n int64) {
	k.registered.Add(context.Background(), n, metric.WithAttributeSet(k.attrs))
}

func (k *keepMetrics) reregistered() {
	k.reregisters.Add(context.Background(), 1, metric.WithAttributeSet(k.attrs))
}

func (k *keepMetrics) failure(errorType string) {
	k.failures.Add(context.Background(), 1, metric.WithAttributeSet(k.attrs),
		metric.WithAttributes(attribute.String("error.type", errorType)))
}
