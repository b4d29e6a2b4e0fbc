package otelsetup_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// Example builds a Setup from an injected environment. With
// OTEL_TRACES_EXPORTER=none nothing is sent anywhere, but spans are still
// sampled and recorded, which keeps the output deterministic.
func Example() {
	env := map[string]string{
		"OTEL_TRACES_EXPORTER": "none",
		"OTEL_TRACES_SAMPLER":  "always_on",
	}
	ctx := context.Background()
	setup, err := otelsetup.New(ctx,
		otelsetup.WithServiceName("checkout"),
		otelsetup.WithEnv(func(name string) string { return env[name] }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	_, span := setup.TracerProvider().Tracer("example").Start(ctx, "GetCart")
	fmt.Println("recording:", span.IsRecording())
	span.End()

	if err := setup.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	// Output: recording: true
}

// ExampleConfigError shows the error New returns for a misconfigured
// variable.
func ExampleConfigError() {
	env := map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}
	_, err := otelsetup.New(context.Background(),
		otelsetup.WithEnv(func(name string) string { return env[name] }),
	)

	var cfgErr *otelsetup.ConfigError
	if errors.As(err, &cfgErr) {
		fmt.Println(cfgErr.Var)
		fmt.Println(err)
	}
	// Output:
	// OTEL_TRACES_SAMPLER
	// otelsetup: OTEL_TRACES_SAMPLER="sometimes": unknown sampler; want one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio
}
