//go:build tools

// Package tools pins the Jaeger v2 trace backend the e2e harness runs. It
// is not in go.work: Jaeger's pinned dependencies (the OpenTelemetry
// Collector's) would otherwise raise every workspace module's versions.
// scripts/build-jaeger.sh builds it.
package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
