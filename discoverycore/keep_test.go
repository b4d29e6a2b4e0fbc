package discoverycore

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// scriptedBackend plays a backend for Keep's policy: each Acquire takes the
// next scripted outcome and reports when it was called; a hold returns
// when its loss is sent.
type scriptedBackend struct {
	outcomes chan error     // what the next Acquire returns
	calls    chan time.Time // when each Acquire was called
	lose     chan error     // ends the current hold with this reason
	holding  chan struct{}  // a hold started
}

func newScriptedBackend() *scriptedBackend {
	return &scriptedBackend{outcomes: make(chan error, 16), calls: make(chan time.Time, 16), lose: make(chan error), holding: make(chan struct{}, 16)}
}

func (b *scriptedBackend) acquire(ctx context.Context) (func() error, error) {
	b.calls <- time.Now()
	var err error
	select {
	case err = <-b.outcomes:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return func() error {
		b.holding <- struct{}{}
		select {
		case why := <-b.lose:
			return why
		case <-ctx.Done():
			return nil
		}
	}, nil
}

func (b *scriptedBackend) call(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-b.calls:
		return at
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire was not called again")
		return time.Time{}
	}
}

func (b *scriptedBackend) held(t *testing.T) {
	t.Helper()
	select {
	case <-b.holding:
	case <-time.After(10 * time.Second):
		t.Fatal("no hold started")
	}
}

func keepCounters(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for name, agg := range collect(t, reader) {
		if s, ok := agg.(metricdata.Sum[int64]); ok {
			for _, dp := range s.DataPoints {
				key := name
				if v, ok := dp.Attributes.Value("error.type"); ok {
					key += "/" + v.AsString()
				}
				out[key] += dp.Value
			}
		}
	}
	return out
}

func TestKeepReturnsPermanentFirstError(t *testing.T) {
	b := newScriptedBackend()
	refused := errors.New("permission denied")
	b.outcomes <- Permanent(refused)
	k, err := Keep(KeepConfig{System: "test", Name: "svc@a"}, b.acquire)
	if k != nil || !errors.Is(err, ErrPermanent) || !errors.Is(err, refused) || err.Error() != "permission denied" {
		t.Fatalf("Keep = %v, %v; want the permanent error itself and no keeper", k, err)
	}
	select {
	case <-b.calls:
	default:
		t.Fatal("Acquire was not called")
	}
	select {
	case <-b.calls:
		t.Fatal("a permanent first error was retried")
	default:
	}
}

func TestKeepRetriesTransientFirstErrorInTheBackground(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	b := newScriptedBackend()
	b.outcomes <- errors.New("connection refused")
	b.outcomes <- errors.New("connection refused")
	b.outcomes <- nil
	k, err := Keep(KeepConfig{System: "test", Service: "svc", Name: "svc@a", Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond},
		Options: []Option{WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))}}, b.acquire)
	if err != nil {
		t.Fatalf("Keep: %v; a transient first error must not fail Register", err)
	}
	defer k.Stop()
	b.call(t)
	b.call(t)
	b.held(t) // the third attempt holds
	b.outcomes <- nil
	b.lose <- errors.New("lease expired")
	b.call(t)
	b.held(t) // held again
	k.Stop()
	got := keepCounters(t, reader)
	want := map[string]int64{
		"kitexsuite.registry.registered":                   0, // stopped
		"kitexsuite.registry.reregistrations":              1, // after the loss, not after the first failures
		"kitexsuite.registry.heartbeat.failures/transient": 2,
		"kitexsuite.registry.heartbeat.failures/lost":      1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	attrs := collect(t, reader)["kitexsuite.registry.reregistrations"].(metricdata.Sum[int64]).DataPoints[0].Attributes
	wantAttrs := attribute.NewSet(attribute.String("discovery.system", "test"), attribute.String("discovery.service", "svc"))
	if !attrs.Equals(&wantAttrs) {
		t.Errorf("attributes %v, want %v", attrs.ToSlice(), wantAttrs.ToSlice())
	}
}

// A hold that ends within Stable (a key the registry may write but not
// watch, a second writer) is written again only after a backoff: without
// it the loop rewrites the backend as fast as it answers.
func TestKeepBacksOffWhenAHoldEndsWithinStable(t *testing.T) {
	const pause = 50 * time.Millisecond
	b := newScriptedBackend()
	b.outcomes <- nil
	k, err := Keep(KeepConfig{System: "test", Name: "svc@a", Stable: time.Hour, Backoff: Backoff{Min: 2 * pause, Max: 2 * pause}}, b.acquire)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	prev := b.call(t)
	for range 3 {
		b.outcomes <- nil
		lost := time.Now()
		b.lose <- errors.New("watch of the key failed")
		next := b.call(t)
		if gap := next.Sub(lost); gap < pause { // Next draws from [Max/2, Max]
			t.Fatalf("written again %v after a hold that lasted %v: no backoff", gap, lost.Sub(prev))
		}
		prev = next
	}
}

// After a hold that lasted Stable, a loss is written again at once.
func TestKeepRegistersAgainAtOnceAfterAStableHold(t *testing.T) {
	b := newScriptedBackend()
	b.outcomes <- nil
	k, err := Keep(KeepConfig{System: "test", Name: "svc@a", Stable: time.Nanosecond, Backoff: Backoff{Min: time.Hour, Max: time.Hour}}, b.acquire)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	b.call(t)
	b.outcomes <- nil
	b.lose <- errors.New("etcd restarted")
	b.call(t) // an hour's backoff would time this out
}

// A permanent error after the registration had worked (a token revoked
// while serving) is retried every PermanentRetry, not in a loop.
func TestKeepRetriesPermanentLaterErrorSlowly(t *testing.T) {
	const every = 100 * time.Millisecond
	b := newScriptedBackend()
	b.outcomes <- nil
	k, err := Keep(KeepConfig{System: "test", Name: "svc@a", Stable: time.Nanosecond, PermanentRetry: every,
		Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond}}, b.acquire)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	b.call(t)
	b.outcomes <- Permanent(errors.New("permission denied"))
	b.outcomes <- Permanent(errors.New("permission denied"))
	b.outcomes <- nil
	b.lose <- errors.New("token revoked")
	first := b.call(t)
	second := b.call(t)
	third := b.call(t)
	if second.Sub(first) < every || third.Sub(second) < every {
		t.Fatalf("permanent errors retried after %v and %v, want every %v", second.Sub(first), third.Sub(second), every)
	}
}
