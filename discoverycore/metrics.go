package discoverycore

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const meterName = "github.com/kitexsuite/suite/discoverycore"

// selfMetrics reports a Resolver's health through the OTel metric API.
type selfMetrics struct {
	system   attribute.KeyValue
	restarts metric.Int64Counter
	reg      metric.Registration
}

func newSelfMetrics(r *Resolver) *selfMetrics {
	m := r.cfg.meter.Meter(meterName)
	s := &selfMetrics{system: attribute.String("discovery.system", r.cfg.system)}
	// Instrument errors only come from invalid names or units, which are
	// constants here; the returned instruments are then no-ops, never nil.
	s.restarts, _ = m.Int64Counter("kitexsuite.discovery.watch.restarts",
		metric.WithDescription("Times a target's watch broke (or had to re-list) and was started again."),
		metric.WithUnit("{restart}"))
	instances, _ := m.Int64ObservableGauge("kitexsuite.discovery.instances",
		metric.WithDescription("Instances in a target's current snapshot."),
		metric.WithUnit("{instance}"))
	age, _ := m.Float64ObservableGauge("kitexsuite.discovery.sync.age",
		metric.WithDescription("Seconds since the backend last confirmed a target's instance set."),
		metric.WithUnit("s"))
	s.reg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now().UnixNano()
		r.mu.RLock()
		defer r.mu.RUnlock()
		for target, w := range r.watches {
			set := metric.WithAttributes(s.system, attribute.String("discovery.target", target))
			o.ObserveInt64(instances, int64(w.size()), set)
			if last := w.lastSync.Load(); last != 0 {
				o.ObserveFloat64(age, time.Duration(now-last).Seconds(), set)
			}
		}
		return nil
	}, instances, age)
	return s
}

func (s *selfMetrics) restart(target string) {
	s.restarts.Add(context.Background(), 1, metric.WithAttributes(s.system, attribute.String("discovery.target", target)))
}

func (s *selfMetrics) close() error {
	if s.reg == nil {
		return nil
	}
	return s.reg.Unregister()
}
