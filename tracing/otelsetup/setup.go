package otelsetup

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Setup is a configured tracer provider, its propagator and the exporter
// behind them. Create it with New; call Shutdown before the program exits so
// buffered spans are sent.
type Setup struct {
	provider   *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
	resource   *resource.Resource
	// release frees exporter resources its Shutdown leaves behind (idle HTTP
	// connections); it runs once, after the provider has shut down.
	release func()

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds a Setup from the OTEL_* environment variables and opts.
//
// Every variable is validated before anything is started; if any is wrong New
// returns nil and the ConfigErrors for all of them, joined. New never logs,
// exits or touches the otel globals unless WithSetGlobal is given. ctx bounds
// exporter start-up; it is not retained.
func New(ctx context.Context, opts ...Option) (*Setup, error) {
	cfg := newConfig(opts)
	env := envSource{lookup: cfg.lookup}

	sampler, samplerErr := samplerFromEnv(env)
	propagator, propagatorErr := propagatorFromEnv(env, cfg.propagators)
	batchOpts, batchErr := batchOptionsFromEnv(env)
	otlp, otlpErr := otlpSettingsFromEnv(env)
	res, resourceErr := buildResource(ctx, env, cfg)
	if err := errors.Join(samplerErr, propagatorErr, batchErr, otlpErr, resourceErr); err != nil {
		return nil, err
	}

	s := &Setup{propagator: propagator, resource: res, release: func() {}}
	providerOpts := []sdktrace.TracerProviderOption{
		// Always explicit: the SDK also reads OTEL_TRACES_SAMPLER, from the
		// process environment, and an option overrides that.
		sdktrace.WithSampler(sampler),
		sdktrace.WithResource(res),
	}
	if otlp != nil {
		exp, release, err := newOTLPExporter(ctx, otlp)
		if err != nil {
			return nil, err
		}
		s.release = release
		batchOpts = append(batchOpts, cfg.batchOptions...)
		providerOpts = append(providerOpts, sdktrace.WithBatcher(exp, batchOpts...))
	}
	s.provider = sdktrace.NewTracerProvider(providerOpts...)

	if cfg.setGlobal {
		otel.SetTracerProvider(s.provider)
		otel.SetTextMapPropagator(s.propagator)
	}
	return s, nil
}

// TracerProvider returns the provider to create tracers from. Its dynamic
// type is *sdktrace.TracerProvider.
func (s *Setup) TracerProvider() trace.TracerProvider { return s.provider }

// Propagator returns the propagator OTEL_PROPAGATORS selected; by default
// W3C trace context and baggage.
func (s *Setup) Propagator() propagation.TextMapPropagator { return s.propagator }

// Resource returns the resource attached to every span, service.name
// included.
func (s *Setup) Resource() *resource.Resource { return s.resource }

// ForceFlush exports all spans that have ended but not yet been sent. It
// blocks until they are exported or ctx is done.
func (s *Setup) ForceFlush(ctx context.Context) error {
	return s.provider.ForceFlush(ctx)
}

// Shutdown flushes buffered spans, shuts the exporter down and closes its
// connections, so that once it returns no goroutine of the Setup is left.
// Spans started afterwards are not exported.
//
// If ctx ends first, Shutdown returns ctx's error and buffered spans may be
// lost. The SDK cannot resume an interrupted shutdown, so later calls do not
// retry; they return the first call's result.
func (s *Setup) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.shutdownErr = s.provider.Shutdown(ctx)
		s.release()
	})
	return s.shutdownErr
}
