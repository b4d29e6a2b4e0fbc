package metrics

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/cloudwego/kitex/pkg/klog"
)

// ErrInstalledTwice is reported (by Err, wrapped, and logged once) by a
// Suite Kitex was asked to install on a server or client that already has a
// metrics Suite recording into the same Prometheus registry or MeterProvider:
// server.WithSuite(s) given twice, or two Suites sharing a backend. That
// installation is skipped, so no call is counted twice.
var ErrInstalledTwice = errors.New("metrics Suite installed twice on one Kitex server or client")

// A Suite's Options are applied once per server.WithSuite or
// client.WithSuite, to the Options struct of the server or client being
// built: that struct is the identity of the Kitex instance. installed maps
// a weak pointer to it (so a stopped server's entry goes with it) to the
// backends metrics Suites on that instance record into.
var installed sync.Map // weak.Pointer[server.Options or client.Options] -> *instanceSinks

type instanceSinks struct {
	mu    sync.Mutex
	sinks []any
}

// sinks are the identities of what r records into: two Suites sharing one
// of them on one Kitex instance would count each call twice. Prometheus
// Suites on one Registerer share collectors (the calls counter names the
// set); an OTel MeterProvider hands both the same instruments.
func (r *recorder) sinks() []any {
	s := []any{r}
	if r.prom != nil {
		s = append(s, r.prom.calls)
	}
	if r.otel != nil {
		if mp := reflect.ValueOf(r.cfg.meterProvider); mp.Comparable() {
			s = append(s, r.cfg.meterProvider)
		}
	}
	return s
}

// claim records that r is being installed on the Kitex instance whose
// options are o. It returns false, having reported ErrInstalledTwice, when
// a metrics Suite already installed there records into one of r's sinks.
func claim[T any](r *recorder, o *T) bool {
	key := weak.Make(o)
	v, loaded := installed.LoadOrStore(key, &instanceSinks{})
	if !loaded {
		runtime.AddCleanup(o, func(k weak.Pointer[T]) { installed.Delete(k) }, key)
	}
	inst := v.(*instanceSinks)
	inst.mu.Lock()
	defer inst.mu.Unlock()
	mine := r.sinks()
	for _, s := range mine {
		if slices.Contains(inst.sinks, s) {
			r.refuse(s)
			return false
		}
	}
	inst.sinks = append(inst.sinks, mine...)
	return true
}

// refuse reports an installation skipped because sink is taken: logged each
// time (each is one misconfigured server or client), kept for Err once.
func (r *recorder) refuse(sink any) {
	var why string
	switch {
	case sink == any(r):
		why = "this Suite is already installed there"
	case r.prom != nil && sink == any(r.prom.calls):
		why = "another metrics Suite there records into the same Prometheus Registerer"
	default:
		why = "another metrics Suite there records into the same MeterProvider"
	}
	err := fmt.Errorf("%w (%s): %s; this installation is skipped and records nothing", ErrInstalledTwice, r.side, why)
	r.installErr.CompareAndSwap(nil, &err)
	klog.Errorf("kitexsuite/metrics: %v", err)
}
