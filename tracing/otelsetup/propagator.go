package otelsetup

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/propagation"
)

const envPropagators = "OTEL_PROPAGATORS"

// propagatorFromEnv builds the composite propagator OTEL_PROPAGATORS lists,
// in the listed order; unset means "tracecontext,baggage" (the spec default).
//
// Only the propagators in the core otel module are known here. b3, jaeger,
// xray and ottrace live in go.opentelemetry.io/contrib/propagators; rather
// than pull those into this module, we reject them so a program that needs
// them wires them in code instead of silently losing context.
func propagatorFromEnv(env envSource) (propagation.TextMapPropagator, error) {
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
		switch name {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
		default:
			return nil, &ConfigError{
				Var: envPropagators, Value: raw,
				Reason: "unsupported propagator " + strconv.Quote(name) +
					"; want tracecontext, baggage or none (configure others in code)",
			}
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
