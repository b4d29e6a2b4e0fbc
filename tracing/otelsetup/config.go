package otelsetup

import (
	"os"

	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Option configures New. Options set in code take precedence over the
// environment, which takes precedence over SDK defaults.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is what the options build; New reads the environment on top of it.
type config struct {
	lookup       func(string) string
	serviceName  string
	resource     *resource.Resource
	batchOptions []sdktrace.BatchSpanProcessorOption
	setGlobal    bool
	propagators  map[string]propagation.TextMapPropagator // WithPropagator
}

func newConfig(opts []Option) config {
	// The process environment is read when New runs, not in init, so a
	// program may still adjust it before bootstrapping tracing.
	c := config{lookup: os.Getenv}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&c)
		}
	}
	return c
}

// WithServiceName sets the service.name resource attribute. It wins over
// OTEL_SERVICE_NAME and a service.name in OTEL_RESOURCE_ATTRIBUTES: a name
// chosen in code is deliberate, the environment is the fallback for services
// that do not choose one. An empty name leaves the environment in charge.
func WithServiceName(name string) Option {
	return optionFunc(func(c *config) { c.serviceName = name })
}

// WithEnv replaces os.Getenv as the source of OTEL_* variables, so tests can
// configure a Setup without mutating the process environment (which would rule
// out t.Parallel). A nil lookup restores os.Getenv.
//
// Every variable New honours is read through lookup and passed on as an
// explicit option, so it overrides what the SDK and the OTLP exporters read
// from the process environment themselves. For exporter and batch settings
// that lookup leaves empty, the exporter's or SDK's own default applies, and
// that may still come from the process environment; the package
// documentation lists the variables.
func WithEnv(lookup func(name string) string) Option {
	return optionFunc(func(c *config) {
		if lookup == nil {
			lookup = os.Getenv
		}
		c.lookup = lookup
	})
}

// WithResource merges r into the resource New builds, over the SDK defaults
// and OTEL_RESOURCE_ATTRIBUTES; WithServiceName still wins for service.name.
// Use it for detectors the environment cannot express (host, process,
// container). If r's schema URL differs from the SDK's, the merged resource
// keeps every attribute but no schema URL, rather than failing New.
func WithResource(r *resource.Resource) Option {
	return optionFunc(func(c *config) { c.resource = r })
}

// WithBatchOptions tunes the batch span processor in front of the exporter.
// They are applied after the OTEL_BSP_* variables, so they override them. They
// have no effect when OTEL_TRACES_EXPORTER is "none".
func WithBatchOptions(opts ...sdktrace.BatchSpanProcessorOption) Option {
	return optionFunc(func(c *config) {
		c.batchOptions = append(c.batchOptions, opts...)
	})
}

// WithSetGlobal makes New install its tracer provider and propagator as the
// otel globals (otel.SetTracerProvider, otel.SetTextMapPropagator). Without it
// New leaves the globals alone: a library must not own process-wide state
// unless the program asks it to.
func WithSetGlobal() Option {
	return optionFunc(func(c *config) { c.setGlobal = true })
}

// WithPropagator makes name an OTEL_PROPAGATORS value for this Setup only
// (nothing process-wide is registered), standing for p: a propagator the
// specification does not name, such as tracing/opentracing's
// LegacyPropagator ("jaegerspancontext") and UberctxBaggage ("uberctx"),
// which that package's SetupOptions adds. Names are matched in lower case;
// a name the specification defines (b3, jaeger, ...) is replaced by p.
func WithPropagator(name string, p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if c.propagators == nil {
			c.propagators = map[string]propagation.TextMapPropagator{}
		}
		c.propagators[strings.ToLower(name)] = p
	})
}
