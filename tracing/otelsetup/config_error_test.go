package otelsetup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// TestNewRejectsBadConfig checks that each malformed variable makes New fail
// with a *ConfigError naming it, instead of logging and falling back.
func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"traces protocol wins and is checked", map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc-web",
		}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"unknown sampler", map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{"unsupported sampler", map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote"}, "OTEL_TRACES_SAMPLER"},
		{"ratio not a number", map[string]string{
			"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half",
		}, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio above one", map[string]string{
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5",
		}, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio negative", map[string]string{
			"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-0.1",
		}, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio NaN", map[string]string{
			"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "NaN",
		}, "OTEL_TRACES_SAMPLER_ARG"},
		{"unsupported propagator", map[string]string{"OTEL_PROPAGATORS": "tracecontext,zipkin"}, "OTEL_PROPAGATORS"},
		{"none with other propagators", map[string]string{"OTEL_PROPAGATORS": "none,tracecontext"}, "OTEL_PROPAGATORS"},
		{"unsupported exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{"none with otlp", map[string]string{"OTEL_TRACES_EXPORTER": "otlp,none"}, "OTEL_TRACES_EXPORTER"},
		{"http endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"grpc URL without host", map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://",
		}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"insecure not a bool", map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "yes"}, "OTEL_EXPORTER_OTLP_INSECURE"},
		{"timeout with unit", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{"unknown compression", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "br"}, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"},
		{"header without value", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"resource attribute without value", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=payments,canary"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"resource attribute bad escape", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=%zz"}, "OTEL_RESOURCE_ATTRIBUTES"},
		{"queue size negative", map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "-1"}, "OTEL_BSP_MAX_QUEUE_SIZE"},
		{"batch larger than queue", map[string]string{
			"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "200",
		}, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"},
		{"schedule delay not a number", map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "5s"}, "OTEL_BSP_SCHEDULE_DELAY"},
		{"CA file missing", map[string]string{
			"OTEL_EXPORTER_OTLP_CERTIFICATE": filepath.Join(t.TempDir(), "missing.pem"),
		}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{"CA file not PEM", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": notPEM}, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"},
		{"client certificate without key", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": notPEM}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{"certificate for plain-text endpoint", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": notPEM,
		}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			setup, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(tt.env)))
			if setup != nil {
				_ = setup.Shutdown(context.Background())
				t.Errorf("New() returned a Setup along with error %v", err)
			}
			var cfgErr *otelsetup.ConfigError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("New() error = %v (%T), want a *ConfigError", err, err)
			}
			if cfgErr.Var != tt.wantVar {
				t.Errorf("ConfigError.Var = %q, want %q (error: %v)", cfgErr.Var, tt.wantVar, err)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("error %q does not name %s", err, tt.wantVar)
			}
		})
	}
}

// TestNewReportsEveryBadVariable checks that New reports all mistakes at
// once, so a deployment is not fixed one variable per restart.
func TestNewReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
		"OTEL_TRACES_SAMPLER":         "sometimes",
		"OTEL_PROPAGATORS":            "zipkin",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift",
		"OTEL_RESOURCE_ATTRIBUTES":    "canary",
	})))
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("New() error = %v (%T), want joined errors", err, err)
	}
	var vars []string
	for _, e := range joined.Unwrap() {
		var cfgErr *otelsetup.ConfigError
		if errors.As(e, &cfgErr) {
			vars = append(vars, cfgErr.Var)
		}
	}
	slices.Sort(vars)
	want := []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_PROPAGATORS", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER"}
	if !slices.Equal(vars, want) {
		t.Errorf("ConfigError vars = %v, want %v", vars, want)
	}
}

// TestConfigErrorRedactsHeaders checks that a bad header variable does not
// leak its value (usually an API key) into logs.
func TestConfigErrorRedactsHeaders(t *testing.T) {
	t.Parallel()
	for _, headers := range []string{
		"authorization=Bearer%zzs3cr3t", // bad escape
		"Bearer s3cr3t",                 // no '='
		"x-tenant=kitex,Bearer s3cr3t",  // second entry broken
	} {
		_, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_HEADERS": headers,
		})))
		if err == nil {
			t.Fatalf("headers %q: New() succeeded, want error", headers)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("headers %q: error %q leaks the header value", headers, err)
		}
	}
}

// TestConfigErrorUnwrap checks that the parse error stays reachable.
func TestConfigErrorUnwrap(t *testing.T) {
	t.Parallel()
	_, err := otelsetup.New(context.Background(), otelsetup.WithEnv(envOf(map[string]string{
		"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half",
	})))
	if !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf("New() error = %v, want it to wrap strconv.ErrSyntax", err)
	}
}
