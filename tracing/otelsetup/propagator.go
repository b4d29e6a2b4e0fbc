package otelsetup

import (
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/contrib/propagators/jaeger"
	"go.opentelemetry.io/contrib/propagators/ot"
	"go.opentelemetry.io/otel/propagation"
)

const envPropagators = "OTEL_PROPAGATORS"

// knownPropagators are the OTEL_PROPAGATORS values of the specification,
// from the OpenTelemetry Go ecosystem's own packages (contrib/propagators,
// with the mapping contrib's autoprop uses; autoprop itself keeps a
// process-wide registry that panics on a duplicate name, so it is not
// used).
var knownPropagators = map[string]func() propagation.TextMapPropagator{
	"tracecontext": func() propagation.TextMapPropagator { return propagation.TraceContext{} },
	"baggage":      func() propagation.TextMapPropagator { return propagation.Baggage{} },
	// b3 injects the single b3 header; b3multi the x-b3-* headers, the only
	// form jaeger-client's B3 propagator reads. Both extract either form.
	"b3":      func() propagation.TextMapPropagator { return b3.New() },
	"b3multi": func() propagation.TextMapPropagator { return b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)) },
	// jaeger is uber-trace-id only: no baggage (see tracing/opentracing's
	// UberctxBaggage for jaeger-client's uberctx- fields).
	"jaeger": func() propagation.TextMapPropagator { return jaeger.Jaeger{} },
	// ottrace keeps the low 64 bits of a trace id.
	"ottrace": func() propagation.TextMapPropagator { return ot.OT{} },
	"xray":    func() propagation.TextMapPropagator { return xray.Propagator{} },
}

// propagatorFromEnv builds the composite propagator OTEL_PROPAGATORS lists,
// in the listed order; unset means "tracecontext,baggage" (the spec
// default). extra are the names WithPropagator added.
//
// The order matters on extract: each propagator in turn overwrites the
// context with what it finds, so the last one that finds a valid span
// context wins, and a baggage propagator that replaces (baggage, ottrace)
// drops what one before it merged.
func propagatorFromEnv(env envSource, extra map[string]propagation.TextMapPropagator) (propagation.TextMapPropagator, error) {
	raw := env.get(envPropagators)
	if raw == "" {
		raw = "tracecontext,baggage"
	}

	var (
		props []propagation.TextMapPropagator
		seen  = map[string]bool{}
	)
	for _, entry := range strings.Split(raw, ",") {
		name := strings.ToLower(strings.TrimSpace(entry))
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		if name == "none" {
			continue
		}
		if p, ok := extra[name]; ok {
			props = append(props, p)
			continue
		}
		if mk, ok := knownPropagators[name]; ok {
			props = append(props, mk())
			continue
		}
		return nil, &ConfigError{
			Var: envPropagators, Value: raw,
			Reason: "unsupported propagator " + strconv.Quote(name) + "; want " + strings.Join(propagatorNames(extra), ", ") + " or none",
		}
	}
	// "none" next to a real propagator is contradictory; refuse to guess
	// which one was meant.
	if seen["none"] && len(props) > 0 {
		return nil, &ConfigError{
			Var: envPropagators, Value: raw,
			Reason: `"none" cannot be combined with other propagators`,
		}
	}
	return propagation.NewCompositeTextMapPropagator(props...), nil
}

// propagatorNames lists the names OTEL_PROPAGATORS accepts, sorted.
func propagatorNames(extra map[string]propagation.TextMapPropagator) []string {
	names := make([]string, 0, len(knownPropagators)+len(extra))
	for n := range knownPropagators {
		names = append(names, n)
	}
	for n := range extra {
		if _, ok := knownPropagators[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
