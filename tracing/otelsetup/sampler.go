package otelsetup

import (
	"math"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	envSampler    = "OTEL_TRACES_SAMPLER"
	envSamplerArg = "OTEL_TRACES_SAMPLER_ARG"
)

// samplerNames lists the OTEL_TRACES_SAMPLER values New understands, for
// error messages.
const samplerNames = "always_on, always_off, traceidratio, parentbased_always_on, " +
	"parentbased_always_off, parentbased_traceidratio"

// samplerFromEnv builds the sampler OTEL_TRACES_SAMPLER asks for.
//
// The SDK reads the same variables, but on a bad value it reports through
// otel.Handle and falls back to a default. We parse them here so the error
// reaches the caller, and New always passes the result with
// sdktrace.WithSampler, which overrides whatever the SDK read.
func samplerFromEnv(env envSource) (sdktrace.Sampler, error) {
	raw := env.get(envSampler)
	switch strings.ToLower(raw) {
	case "", "parentbased_always_on": // spec default
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		ratio, err := samplerRatio(env)
		if err != nil {
			return nil, err
		}
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_traceidratio":
		ratio, err := samplerRatio(env)
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, &ConfigError{
		Var: envSampler, Value: raw,
		Reason: "unknown sampler; want one of " + samplerNames,
	}
}

// samplerRatio reads OTEL_TRACES_SAMPLER_ARG for the ratio samplers. An unset
// argument means 1.0, as the spec says; a malformed or out-of-range one is an
// error, where the SDK would quietly sample everything.
func samplerRatio(env envSource) (float64, error) {
	raw := env.get(envSamplerArg)
	if raw == "" {
		return 1, nil
	}
	ratio, err := strconv.ParseFloat(raw, 64)
	// ParseFloat accepts "NaN", which passes both range checks; reject it
	// explicitly.
	if err != nil || math.IsNaN(ratio) || ratio < 0 || ratio > 1 {
		return 0, &ConfigError{
			Var: envSamplerArg, Value: raw,
			Reason: "want a sampling ratio between 0 and 1", Err: err,
		}
	}
	return ratio, nil
}
