package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// ConflictError reports a Suite whose Prometheus histogram differs (in its
// buckets or native-histogram setting) from the one another Suite already
// registered under the same name with the same Registerer. A registry can
// hold only one of them: the Suite records into the registered histogram,
// with that histogram's buckets, and reports this from Err.
type ConflictError struct {
	Metric    string // the histogram's name, e.g. kitex_server_call_duration_seconds
	Existing  string // the registered histogram's settings
	Requested string // this Suite's settings, which are not used
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s is already registered with %s; this Suite's %s are not used (give Suites sharing a Registerer the same buckets and histogram options)",
		e.Metric, e.Existing, e.Requested)
}

// register registers c with r, or returns the collector already registered
// under the same description: many Suites may share one registry.
func register[T prometheus.Collector](r prometheus.Registerer, c T) (T, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// shapedHistogram is a HistogramVec that remembers the settings it was
// built with. Prometheus identifies a collector by name and labels only, so
// a second Suite with other buckets would be handed the first one's
// histogram without a word; the shape lets it notice.
type shapedHistogram struct {
	*prometheus.HistogramVec
	shape string
}

// histogramShape describes the settings that make two histograms of one
// name differ.
func histogramShape(buckets []float64, native bool) string {
	if native {
		return fmt.Sprintf("buckets %v and native histograms", buckets)
	}
	return fmt.Sprintf("buckets %v", buckets)
}

// registerHistogram registers a histogram of opts, or returns the one
// already registered under its name: with a *ConflictError if that one was
// built with other settings.
func registerHistogram(r prometheus.Registerer, opts prometheus.HistogramOpts, labels []string) (*prometheus.HistogramVec, error) {
	shape := histogramShape(opts.Buckets, opts.NativeHistogramBucketFactor > 0)
	h, err := register(r, &shapedHistogram{HistogramVec: prometheus.NewHistogramVec(opts, labels), shape: shape})
	if err == nil && h.shape != shape {
		err = &ConflictError{Metric: opts.Name, Existing: h.shape, Requested: shape}
	}
	return h.HistogramVec, err
}

// promRegistrar registers a backend's collectors with one Registerer,
// reusing those other Suites registered, and keeps the errors.
type promRegistrar struct {
	r    prometheus.Registerer
	errs []error
}

func (p *promRegistrar) keep(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

func (p *promRegistrar) counter(name, help string, labels []string) *prometheus.CounterVec {
	c, err := register(p.r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	p.keep(err)
	return c
}

func (p *promRegistrar) gauge(name, help string, labels []string) *prometheus.GaugeVec {
	g, err := register(p.r, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
	p.keep(err)
	return g
}

func (p *promRegistrar) histogram(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec {
	h, err := registerHistogram(p.r, opts, labels)
	p.keep(err)
	return h
}
